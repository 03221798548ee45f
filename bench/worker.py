"""One worker process of the interleaved design: `python -m bench.worker SPEC OUT`.

The runner (bench.runner) starts worker processes one after another, each
pinned to the measured CPU.  A worker measures ONE case group: the same
workload, n, heads, order, alloc and seed under every arm (an arm is one
variant library: variant, EXT, compiler flags), plus the null kernel and the
harness's fixed cost, all in this one process:

- every arm's library is loaded side by side (ctypes.CDLL, RTLD_LOCAL: each
  handle resolves its own pte_list_* symbols, so the libraries do not see
  each other's), and each arm gets its own Workload built by its own library;
- loops are calibrated per phase on the WHOLE repetition cost (prepare +
  region + undo, timed from Python), so that no value costs more than
  spec["max_value_s"] wall time (one repetition at least), and the region of
  a value lasts about spec["value_s"];
- then rounds: in each round every unit (arm x phase, and the null kernel)
  is measured once, in a fresh random order, on the same CPU.  A workload
  with a phase sequence (fork, guest: add then remove, workloads.c) is one
  unit per arm: each repetition runs add and remove back to back, each its
  own measured region (rb_run_sequence), and gives a value per phase, at
  about half the untimed work of timing the phases apart;
- a value whose region was disturbed (bench.disturb.disturbed: off-CPU
  time, a context switch, a migration, a page fault) is measured again, at
  most spec["max_retries"] times (a value dearer than spec["max_value_s"]
  only while the process's slice has room for it); every value records its
  evidence, how often it was re-measured and why;
- the fixed cost per repetition (an empty region: the clock reads inside
  the wall window, the counter ioctls in the counts) is measured at the
  start and the end of the process.

Rounds continue until spec["rounds"] are done or spec["slice_s"] seconds
have passed.  Output: JSON lines appended to OUT, one per value (kind
"value"), one per fixed-cost measurement (kind "fixed"), one "calibration"
line per phase and a final "done" line.

The worker checks with sched_getaffinity that it is pinned to exactly the
CPU it was given before every round, and refuses to measure otherwise.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

# numpy, were anything to import it here, would start BLAS threads, pinned to
# the measured CPU with the worker: one thread is all a worker may have
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")


# A new layout must be new memory.  glibc's malloc serves a block of 128 KiB
# or more from a mapping of its own only until the first such block is freed;
# then it raises that threshold to the freed size and keeps later blocks in
# its heap, where a freed block is handed out again at the same address on
# the same physical pages: a worker's later layouts were in part its earlier
# ones (fork n = 16 at 8192 heads: 536-601 of a layout's 784 pages new, as
# (virtual page, frame) pairs).  On this host the epochs of a process then
# timed alike (walk: within 1%) while processes differed by up to 25%, and
# six processes could not average that.  A fixed threshold (mallopt, which
# also turns the raising off) gives every block of a page or more a fresh
# mapping, unmapped when freed: each layout's pages are all new pairs
# (tests/test_runner.py), and walk's 95% half-widths fell from 4-14% to 1-2%
# at five 1.5 s processes.
M_MMAP_THRESHOLD = -3           # glibc's mallopt parameter number
FRESH_BYTES = 4096


def fresh_layouts() -> bool:
    """Serve every allocation of FRESH_BYTES or more from a fresh mapping (see
    above); False where the C library has no mallopt (then a process keeps
    one layout of its larger blocks, and the done record says so)."""
    import ctypes

    try:
        return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, FRESH_BYTES))
    except (OSError, AttributeError):
        return False


def anon_huge_kib() -> int:
    """KiB of the process's memory advised MADV_HUGEPAGE (VmFlags "hg": the
    kernel memory of Workloads on pages "2M", and nothing else of a worker's)
    that is on 2 MiB pages: AnonHugePages summed over those mappings of
    /proc/self/smaps; -1 where it cannot be read."""
    total = huge = 0
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    huge = int(line.split()[1])
                elif line.startswith("VmFlags:"):       # a mapping's last line
                    if "hg" in line.split()[1:]:
                        total += huge
                    huge = 0
    except (OSError, ValueError, IndexError):
        return -1
    return total


def check_pinned(cpu: int) -> None:
    got = os.sched_getaffinity(0)
    if got != {cpu}:
        sys.stderr.write(f"rmapbench worker: not pinned to CPU {cpu} (affinity {sorted(got)})\n")
        sys.stderr.flush()
        os._exit(3)


def run_unit(u, loops, counters=None) -> list:
    """One call of a unit: its phases' results (one, or the sequence's)."""
    if u["seq"]:
        return u["work"].run_sequence(loops, counters)
    return [u["work"].run(u["phases"][0], loops, counters)]


def _calibrate(units, spec) -> tuple[int, float]:
    """Loops per value of units of one kind (the same phase or sequence),
    from the whole cost of one repetition of the slowest arm (the first try
    is the layout's untimed repetition, new_layout; a second try when that
    was cheap; one that costs more than a value may is not tried twice: a
    value is one repetition of it anyway), and the wall time one value of
    them will cost at most.  A sequence unit's regions together aim at
    value_s per phase."""
    region = whole = 0.0
    for u in units:
        for attempt in range(2):
            if attempt == 0 and "first" in u:
                rs, w = u.pop("first")      # the layout's untimed repetition
            else:
                t0 = time.perf_counter()
                rs = run_unit(u, 1)
                w = time.perf_counter() - t0
            if w > spec["max_value_s"]:     # one repetition per value either way
                break
        region = max(region, sum(r.ns for r in rs) / 1e9 / len(rs))
        whole = max(whole, w)
    if spec.get("loops"):
        loops = int(spec["loops"])
    else:
        want = max(1, round(spec["value_s"] / max(region, 1e-9)))
        bound = max(1, int(spec["max_value_s"] / max(whole, 1e-9)))
        loops = max(1, min(want, bound))
    return loops, loops * whole


def fake_reads(text: str, names: list[str]) -> list:
    """RMAPBENCH_FAKE_READS (tests only): a JSON list of reads, each
    {"enabled": ns, "running": ns, EVENT: value, ...} (events left out read
    0), in the order counters.c returns them: a phase reads at its start and
    at its end."""
    return [([int(r.get(n, 0)) for n in names], int(r["enabled"]), int(r["running"]))
            for r in json.loads(text)]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(open(argv[0]).read())
    out_path = argv[1]
    cpu = spec["cpu"]
    if spec.get("pin", True):
        os.sched_setaffinity(0, {cpu})
    check_pinned(cpu)
    fresh = fresh_layouts() if spec.get("fresh_layouts", True) else False

    from bench.events import resolve_list
    from bench.disturb import disturbed
    from bench.native import CounterGroup, Workload, kmem_huge_bytes, load, run_empty

    case = spec["case"]
    rng = random.Random(spec["seed"])
    kernels = [load(a["variant"], a["ext"], a.get("cflags")) for a in spec["arms"]]
    null = spec.get("null")
    pages = spec.get("pages", "2M")
    pad = [None]

    def build() -> float:
        """Every arm's Workload (and the null kernel's), allocated afresh: a new
        layout (addresses, physical pages: fresh_layouts) for the next epoch.
        A spacer of a random number of pages, mapped first and never touched,
        moves the virtual addresses too.  Each Workload's heads and arena are
        populated at once (Workload.populate).  Returns the build's seconds
        without the populating."""
        t0 = time.monotonic()
        populating = 0.0

        def populated(w):
            nonlocal populating
            t1 = time.monotonic()
            w.populate()
            populating += time.monotonic() - t1
            return w

        for u in units:
            u["work"].close()
        units.clear()
        pad[0] = None
        pad[0] = bytearray(4096 * (64 + rng.randrange(512)))
        # in a random order: built first, an arm got the same place among the
        # new mappings in every layout, and the first arm ran 0.1-0.3% faster
        # than copies of itself (16 of 16 A/A ratios above 1; shuffled, 8 of 16)
        arms = list(enumerate(kernels))
        rng.shuffle(arms)
        build_orders.append([i for i, _ in arms])
        for i, k in arms:
            w = populated(Workload(k, workload=case["workload"], n=case["n"],
                                   heads=case["heads"], order=case["order"],
                                   alloc=case["alloc"], seed=case["seed"], pages=pages))
            seq = w.sequence if spec.get("sequence", True) else []
            if seq and sorted(seq) == sorted(w.phases):
                units.append({"arm": i, "phases": seq, "seq": True, "work": w})
            else:
                for phase in w.phases:
                    units.append({"arm": i, "phases": [phase], "seq": False, "work": w})
        if null:
            nw = populated(Workload(kernels[0], workload="null", n=null["n"],
                                    heads=null["heads"], order="fifo", alloc=case["alloc"],
                                    seed=case["seed"], pages=pages))
            units.append({"arm": -1, "phases": ["null"], "seq": False, "work": nw})
        # what the layout's kernel memory got: KiB placed for 2 MiB pages,
        # and KiB of that on them (read only where some was placed: smaps
        # takes a few ms)
        placed = kmem_huge_bytes(kernels) >> 10
        huge.append([placed, anon_huge_kib() if placed else 0])
        return time.monotonic() - t0 - populating

    units: list[dict] = []
    build_orders: list[list[int]] = []
    huge: list[list[int]] = []

    def new_layout(calibrating: bool = False) -> float:
        """A new layout (build), then every unit once, untimed, so that no
        value is the first repetition on new memory.  calibrating (the first
        layout): each unit keeps that repetition's results and wall time as
        _calibrate's first try (which then needs no repetition of its own for
        a unit dearer than a value: a round's worth of time per process at the
        dear cold cases).  Returns build()'s seconds."""
        seconds = build()
        for u in units:
            t1 = time.perf_counter()
            rs = run_unit(u, 1)
            if calibrating:
                u["first"] = (rs, time.perf_counter() - t1)
        return seconds

    build_s = new_layout(calibrating=True)
    events = resolve_list(spec["events"]) if spec.get("events") else []
    counters = CounterGroup(events, kernel=kernels[0]) if events else None
    if counters is not None and os.environ.get("RMAPBENCH_FAKE_READS"):
        # tests: known (value, enabled, running) reads from counters.c's fake source
        counters.set_fake_reads(fake_reads(os.environ["RMAPBENCH_FAKE_READS"],
                                           [e[0] for e in events]))
    rule = spec["rule"]
    out = open(out_path, "a")

    def emit(rec):
        out.write(json.dumps(rec) + "\n")

    def fixed(when):
        for _ in range(3):
            r = run_empty(kernels[0], 200, counters)
            emit({"kind": "fixed", "when": when, "loops": r.loops, "ns": r.ns,
                  "counts": {k: list(v) for k, v in r.counts.items()},
                  "evidence": r.evidence})

    t_start = time.monotonic()
    fixed("start")
    loops = {}
    dear = set()        # kinds whose value costs more than max_value_s (one repetition)
    round_s = 0.0
    for kind in dict.fromkeys(tuple(u["phases"]) for u in units):
        same = [u for u in units if tuple(u["phases"]) == kind]
        loops[kind], value_cost = _calibrate(same, spec)
        round_s += value_cost * len(same)
        if value_cost > spec["max_value_s"]:
            dear.add(kind)
        for phase in kind:
            emit({"kind": "calibration", "phase": phase, "loops": loops[kind]})
    t_meas = time.monotonic()

    def measure(u, rnd, warmup, epoch):
        """One value of each of the unit's phases.  A disturbed one is
        measured again (with the unit's other phases: a sequence runs
        whole); each phase keeps its first undisturbed value, its retries
        and the reasons of its own disturbed attempts.  A value of a dear
        unit (one repetition, calibrated to cost more than max_value_s) is
        measured again only while the process's slice has room for another
        attempt (else it is kept, flagged disturbed: a repetition of seconds
        is preempted on this host nearly every time, and three more of them
        made one worker of a 12 s budget take 118 s)."""
        kept: dict = {}
        last: dict = {}
        reasons: dict = {ph: [] for ph in u["phases"]}
        for attempt in range(spec["max_retries"] + 1):
            t_try = time.monotonic()
            for r in run_unit(u, loops[tuple(u["phases"])], counters):
                if r.phase in kept:
                    continue
                why = disturbed(r.evidence, r.loops, rule)
                if why:
                    reasons[r.phase].append(why)
                last[r.phase] = (r, why)
                if not why or attempt == spec["max_retries"]:
                    kept[r.phase] = (r, why)
            if len(kept) == len(u["phases"]):
                break
            now = time.monotonic()
            if tuple(u["phases"]) in dear and now - t_meas + (now - t_try) > spec["slice_s"]:
                kept = {**last, **kept}
                break
        for phase in u["phases"]:
            r, why = kept[phase]
            emit({"kind": "value", "round": rnd, "epoch": epoch, "warmup": warmup,
                  "arm": u["arm"], "phase": phase, "ns": r.ns, "ops": r.ops, "loops": r.loops,
                  "footprint": r.footprint, "peak_descs": r.peak_descs, "bad": r.bad,
                  "counts": {k: list(v) for k, v in r.counts.items()},
                  "evidence": r.evidence,
                  "retries": len(reasons[phase]) - (1 if why else 0),
                  "reasons": reasons[phase], "disturbed": bool(why)})

    rnd = 0
    warm = spec.get("warmup_rounds", 1)
    if round_s > spec["slice_s"] / 4 and not spec.get("fixed_warmups"):
        warm = 0          # a round is dear: the calibration runs were the warm-up
    total = warm + spec["rounds"]
    epoch, in_epoch = 0, 0
    epoch_rounds = spec.get("epoch_rounds", 0)
    t_epoch = time.monotonic()
    try:
        while rnd < total:
            if rnd >= warm + spec.get("min_rounds", 1) and \
                    time.monotonic() - t_meas > spec["slice_s"]:
                break
            # a new layout every epoch_rounds rounds, at least 4 builds' time
            # apart (build_s: making the Workloads, not populating their memory
            # nor their untimed repetition; counting all three halved the
            # layouts of fork n = 16 at 8192 heads, scattered, and widened
            # its intervals: docs/measurement.md)
            if epoch_rounds and in_epoch >= epoch_rounds and rnd >= warm and \
                    time.monotonic() - t_epoch >= 4 * build_s:
                build_s = new_layout()
                epoch, in_epoch = epoch + 1, 0
                t_epoch = time.monotonic()
            check_pinned(cpu)
            order = list(units)
            rng.shuffle(order)
            for u in order:
                measure(u, rnd - warm, rnd < warm, epoch)
            out.flush()
            rnd += 1
            in_epoch += rnd > warm
        fixed("end")
        emit({"kind": "done", "rounds": max(0, rnd - warm), "pid": os.getpid(),
              "seconds": time.monotonic() - t_start, "fresh_layouts": fresh,
              "build_orders": build_orders, "pages": pages, "kmem_huge": huge})
    finally:
        out.close()
        if counters is not None:
            counters.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
