"""Measure one case with the chosen backend and turn it into tidy rows.

A Plan fixes how a whole run measures: the backend (`perf`, `sim`, `time`;
`auto` resolved once, with the reason), the pinned CPU, the perf events, the
pyperf options and, for `sim`, the cache geometry.  measure_case() then runs
one case:

- timing (backends `perf` and `time`, and `sim` too unless timing is off):
  a pyperf master (`python -m bench.worker`) in a subprocess, whose pinned
  workers call C once per value; the perf_event_open group of that same call
  gives the counter rows (hardware events with `perf`; the software events
  always);
- `sim`: the same kernels under valgrind's cache simulator (bench.sim), one
  deterministic row per metric.

Every value is divided by the ops of its phase.  An event that did not open,
or opened but never ran (time_running 0), gives no row: the plan's
event_support says why, and reports print "unsupported", never 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import host as hostmod
from .errors import UsageError
from .measure import MAX_RETRIES as MAX_RETRIES_DEFAULT, RULE

from .backends import NAMES as BACKENDS, get as get_backend  # noqa: E402
TIME_UNIT_EVENTS = {"task-clock", "cpu-clock"}


class MeasureError(UsageError):
    """A measurement that could not be made: one line, exit status 2."""


@dataclass
class Plan:
    requested: str
    backend: str                      # perf | sim | time: what counts events
    reason: str
    timed: bool                       # timings as well
    cpu: int
    events: list[str]                 # opened in every worker (hardware + software)
    event_support: dict               # name -> {"supported": bool, "reason": str|None}
    pyperf_args: list[str] = field(default_factory=list)
    cflags: str | None = None
    sim_profile: str | None = None
    sim_profile_reason: str | None = None
    sim_geometry: dict | None = None
    caches: dict = field(default_factory=dict)   # what footprint targets are sized against
    timing: "Timing | None" = None    # how values are taken (set by make_plan)
    rule: dict = field(default_factory=dict)     # bench.measure's disturbance rule

    @property
    def timing_backend(self) -> str:
        return get_backend(self.backend).timing_backend


def _check_cpu(cpu) -> int:
    from .values import parse_int

    allowed = hostmod.online_cpus()
    cpu = parse_int("--cpu", cpu, 0, max(allowed) if allowed else 0)
    if cpu not in allowed:
        raise UsageError(f"--cpu {cpu} is not available: allowed are {allowed}")
    return cpu


def probe_events(names: list[str]) -> dict:
    """Open each event alone in this process: {name: {supported, reason}}."""
    from .events import resolve_list
    from .native import CounterGroup

    support = {}
    for spec in resolve_list(names):
        g = CounterGroup([spec])
        try:
            if g.opened:
                support[spec[0]] = {"supported": True, "reason": None}
            else:
                support[spec[0]] = {"supported": False, "reason": g.failed.get(spec[0])}
        finally:
            g.close()
        # what the name was opened as (a vendor name's encoding depends on the model)
        support[spec[0]]["encoding"] = {
            "type": spec[1], "config": hex(spec[2]), "config1": hex(getattr(spec, "config1", 0)),
            "config2": hex(getattr(spec, "config2", 0)), "source": getattr(spec, "source", ""),
            "why": getattr(spec, "why", "")}
    return support


def make_plan(backend: str = "auto", events=None, cpu=None, pyperf_args=(),
              sim_profile: str | None = None, cflags: str | None = None,
              timing: bool = True, precision: float | None = None,
              budget: float | None = None, sim_beside: bool | None = None,
              pages: str | None = None) -> Plan:
    from .events import DEFAULT_EVENTS, SOFTWARE_EVENTS, resolve_list

    from .build import check_library_flags, resolve_cflags

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: allowed are {', '.join(BACKENDS)}")
    if cflags is not None:
        # unparsable flags, or flags whose library cannot be built or loaded:
        # one line, before anything is compiled or runs
        check_library_flags(resolve_cflags(cflags))
    cpu = hostmod.default_cpu() if cpu is None else _check_cpu(cpu)
    if isinstance(events, str):
        from .events import split_events
        events = split_events(events)
    hw_names = list(DEFAULT_EVENTS) if events is None else list(events)
    resolve_list(hw_names)          # bad names: one line, before anything runs
    hw_names = [e for e in hw_names if e not in SOFTWARE_EVENTS]
    sw_names = list(SOFTWARE_EVENTS)
    support = probe_events(hw_names + sw_names)
    hw_ok = [e for e in hw_names if support[e]["supported"]]
    hw_bad = [e for e in hw_names if not support[e]["supported"]]

    chosen, reason = backend, ""
    if backend == "auto":
        if hw_ok:
            chosen = "perf"
            reason = f"hardware events open on this host ({', '.join(hw_ok)})"
        else:
            why = support[hw_bad[0]]["reason"] if hw_bad else "none asked"
            if _sim_usable():
                chosen = "sim"
                reason = (f"no hardware counters ({hw_bad[0] if hw_bad else 'events'}: {why}); "
                          "cache misses come from valgrind's cache simulator, "
                          "timings from pyperf")
            else:
                chosen = "time"
                reason = (f"no hardware counters ({why}) and no valgrind: timings only; "
                          "install valgrind for simulated cache misses")
    elif backend == "perf" and not hw_names:
        raise UsageError(f"--backend perf: the events asked for ({', '.join(events)}) are all "
                         "software events: at least one hardware event is needed (e.g. cycles)")
    elif backend == "perf" and not hw_ok:
        first = hw_bad[0] if hw_bad else "cycles"
        raise UsageError(f"--backend perf: no hardware event opens on this host "
                         f"({first}: {support.get(first, {}).get('reason')}); "
                         "use --backend sim or time")
    elif backend == "perf":
        reason = "asked for"
    elif backend == "sim":
        _sim_usable(required=True)
        reason = "asked for: cache misses from valgrind's cache simulator"
    else:
        reason = "asked for: timings only"

    worker_events = (hw_ok if chosen == "perf" else []) + \
        [e for e in sw_names if support[e]["supported"]]
    caches = dict(hostmod.cache_sizes(cpu))
    geometry = None
    profile_reason = None
    if chosen == "sim":
        from . import sim

        sim_profile, profile_reason = choose_sim_profile(sim_profile, caches)
        geo = sim.geometry(sim_profile)
        geometry = sim.geometry_meta(geo)
        caches["L1d"] = geo["D1"].size
        caches["LLC"] = geo["LL"].size
    return Plan(requested=backend, backend=chosen, reason=reason,
                timed=timing or get_backend(chosen).always_timed, cpu=cpu, events=worker_events,
                event_support=support, pyperf_args=list(pyperf_args), cflags=cflags,
                sim_profile=sim_profile if chosen == "sim" else None,
                sim_profile_reason=profile_reason, sim_geometry=geometry, caches=caches,
                timing=timing_from_args(pyperf_args, precision, budget, sim_beside, pages),
                rule=dict(RULE))


def prepare_kernels(plan: Plan, cases: list[dict]) -> None:
    """Compile (or find in the cache) every kernel the cases need, before anything
    is measured or written, so a missing compiler or flags it rejects are one
    line up front rather than a failure in the middle of a run."""
    from .build import build_library

    for variant, ext in dict.fromkeys((c["variant"], c["ext"]) for c in cases):
        build_library(variant, ext, plan.cflags)
        get_backend(plan.backend).prepare(plan, variant, ext)


# Under valgrind a case runs tens of times slower, so "beyond the LLC" must
# stay affordable: the `auto` sim profile simulates the host's own LLC only
# when it is at most this large, and otherwise the host's L2 as valgrind's
# last level (its D1 is the host's L1d either way).
SIM_AUTO_MAX_LLC = 32 << 20


def choose_sim_profile(profile: str | None, caches: dict) -> tuple[str, str]:
    """(profile, why) for the sim backend; `auto` (or None) decides from the host."""
    if profile not in (None, "auto"):
        return profile, "asked for"
    llc = caches.get("LLC")
    if llc is None or llc <= SIM_AUTO_MAX_LLC:
        return "host", "the host's own L1d and last-level cache"
    mib = llc / (1 << 20)
    return "host-l2", (f"the host's LLC ({mib:g} MiB) is too large to exceed affordably under "
                       f"valgrind (auto simulates the LLC only up to {SIM_AUTO_MAX_LLC >> 20} MiB), "
                       "so the host's L2 stands as the simulated last level")


def _sim_usable(required: bool = False) -> bool:
    from . import sim

    try:
        sim.check_tools()
        return True
    except UsageError:
        if required:
            raise
        return False


def plan_meta(plan: Plan) -> dict:
    d = asdict(plan)
    d["timing_backend"] = plan.timing_backend if plan.timed else None
    return d


# -- timing: the interleaved, paired design (docs/measurement.md) ----------

@dataclass
class Timing:
    """How a case group is timed.  Defaults: adaptive; explicit pyperf-style
    options fix the corresponding part (timing_from_args)."""
    precision: float = 0.01          # target 95% CI half-width of each ratio to the baseline
    budget: float = 12.0             # seconds of timing per case group, at most (about)
    min_processes: int = 5
    max_processes: int | None = None # None: as many as the budget allows
    rounds: int = 100000             # per worker process, at most
    slice_s: float | None = None     # seconds of rounds per process (None: from budget)
    warmup_rounds: int = 1
    loops: int = 0                   # 0: calibrate on the whole repetition cost
    value_s: float = 0.002           # target region time of one value
    epoch_rounds: int = 2            # rounds per memory layout (0: one layout per process)
    fresh_layouts: bool = True       # each layout in memory the worker has not used for it (worker.py)
    pages: str = "2M"                # page size of the kernel memory (native.KMEM_PAGES)
    max_value_s: float = 0.05        # no value costs more wall time (one repetition at least)
    max_retries: int = MAX_RETRIES_DEFAULT
    adaptive: bool = True
    fixed_warmups: bool = False      # --warmups given: keep them even when rounds are dear
    sim_beside: bool = False         # sim backend: valgrind on the other CPUs during the timing

    def meta(self) -> dict:
        return asdict(self)


def _opt(args: list[str], name: str):
    """The value of --name in a pyperf-style argument list (--name V or --name=V)."""
    val = None
    for i, a in enumerate(args):
        if a == f"--{name}" and i + 1 < len(args):
            val = args[i + 1]
        elif a.startswith(f"--{name}="):
            val = a.split("=", 1)[1]
    return val


def timing_from_args(pyperf_args=(), precision: float | None = None,
                     budget: float | None = None, sim_beside: bool | None = None,
                     pages: str | None = None) -> Timing:
    """pyperf's options mean here what they mean to pyperf, in this design:
    --processes N: exactly N worker processes; --values V: exactly V rounds
    per process (both fix the amount: no adaptive stopping); --warmups W:
    warm-up rounds; --loops L: repetitions per value (0: calibrate);
    --min-time S: region time per value; --fast: half the budget and 2%
    precision; --rigorous: three times the budget, 5 processes at least."""
    t = Timing()
    args = list(pyperf_args)
    if "--fast" in args:
        t.budget, t.precision, t.min_processes = t.budget / 2, 0.02, 2
    if "--rigorous" in args:
        t.budget, t.min_processes = t.budget * 3, 5
    if (v := _opt(args, "processes")) is not None:
        t.min_processes = t.max_processes = int(v)
        t.adaptive = False
    if (v := _opt(args, "values")) is not None:
        t.rounds = int(v)
        t.adaptive = False
    if (v := _opt(args, "warmups")) is not None:
        t.warmup_rounds = int(v)
        t.fixed_warmups = True
    if (v := _opt(args, "loops")) is not None:
        t.loops = int(v)
    if (v := _opt(args, "min-time")) is not None or (v := _opt(args, "min_time")) is not None:
        t.value_s = float(v)
    if precision is not None:
        t.precision = precision
    if budget is not None:
        t.budget = budget
    if sim_beside is not None:
        t.sim_beside = sim_beside
    if pages is not None:
        from .native import check_pages

        t.pages = check_pages(pages)
    return t


def _row_base(case: dict, plan: Plan, run_id: str, host: str) -> dict:
    return {"run_id": run_id, "host": host, **{k: case[k] for k in (
        "workload", "variant", "ext", "n", "heads", "order", "alloc", "seed")},
        "cpu": plan.cpu}


def _label(case: dict) -> str:
    return (f"{case['workload']} {case['variant']}@{case['ext']} n={case['n']} "
            f"heads={case['heads']} {case['order']} {case['alloc']}")


def _phases(case: dict) -> list[str]:
    from .workloads import PHASES

    return PHASES[case["workload"]]


def bench_name(case: dict, phase: str) -> str:
    return (f"{case['workload']}/{phase}/{case['variant']}/ext{case['ext']}/n{case['n']}"
            f"/h{case['heads']}/{case['order']}/{case['alloc']}/s{case['seed']}")


def group_key(case: dict) -> tuple:
    """Cases measured together (interleaved): all but variant and EXT equal."""
    return tuple(case[k] for k in ("workload", "n", "heads", "order", "alloc", "seed"))


def group_cases(cases: list[dict]) -> list[list[dict]]:
    """Cases in groups of one workload point, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for c in cases:
        groups.setdefault(group_key(c), []).append(c)
    return list(groups.values())


def worker_label(spec: dict) -> str:
    """The case group a worker process times, as the progress lines name it:
    'fork n=16 heads=1000 fifo bump, variants old@3, new@3'."""
    c = spec.get("case", {})
    arms = ", ".join(f"{a.get('variant')}@{a.get('ext')}" for a in spec.get("arms", []))
    return (f"{c.get('workload')} n={c.get('n')} heads={c.get('heads')} {c.get('order')} "
            f"{c.get('alloc')}, variant(s) {arms}")


def worker_failure(spec: dict, p: int, status: int, output: str) -> str:
    """One line for a worker process that failed: the group, the signal that
    killed it or its exit status, and its last line of output (an error
    raised in the worker: its message, without the exception's module path)."""
    import re
    import signal

    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    m = re.fullmatch(r"(?:[A-Za-z_]\w*\.)*(UsageError|MeasureError): (.*)", last)
    if m:
        last = m.group(2)
    head = f"timing worker {p} for {worker_label(spec)}"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        crash = name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT")
        # the variants share the process: any of them (or the harness) may be at fault
        return (f"{head} was killed by {name}" + (f" ({last[:200]})" if last else "")
                + (": a variant of the group crashed (try each alone with "
                   "`rmapbench check --variant V`)" if crash else ""))
    return f"{head} failed (exit status {status})" + (f": {last[:300]}" if last else "")


def _run_worker(spec: dict, tmp: Path, p: int, timeout: float) -> list[dict]:
    spec_path = tmp / f"spec{p}.json"
    out = tmp / f"values{p}.jsonl"
    out.unlink(missing_ok=True)         # the worker appends: a scratch dir may be reused
    spec_path.write_text(json.dumps(spec))
    argv = [sys.executable, "-m", "bench.worker", str(spec_path), str(out)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        raise MeasureError(f"timing worker {p} for {worker_label(spec)} did not finish "
                           f"within {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise MeasureError(worker_failure(spec, p, proc.returncode, proc.stderr + proc.stdout))
    recs = [json.loads(ln) for ln in out.read_text().splitlines() if ln.strip()]
    out.unlink()
    spec_path.unlink()
    if not recs or recs[-1].get("kind") != "done":
        raise MeasureError("timing worker ended without its final record")
    return recs


def _null_for(case: dict) -> dict:
    return {"n": max(1, case["n"]), "heads": case["heads"]}


def _per_op(v: dict) -> float:
    return v["ns"] / (v["loops"] * v["ops"])


def _fixed_ns(recs: list[dict]) -> float:
    """Median fixed cost per repetition (ns inside the wall window) of one process."""
    import statistics

    f = [r["ns"] / r["loops"] for r in recs if r["kind"] == "fixed"]
    return statistics.median(f) if f else 0.0


def _net_values(recs: list[dict]) -> tuple[float, float]:
    """(fixed ns per repetition, null kernel net ns/op) of one process."""
    import statistics

    fixed = _fixed_ns(recs)
    null = [(v["ns"] / v["loops"] - fixed) / v["ops"] for v in recs
            if v["kind"] == "value" and not v["warmup"] and v["arm"] == -1]
    return fixed, (statistics.median(null) if null else 0.0)


def _paired(procs: list[list[dict]], arm: int, phase: str, base_arm: int | None):
    """Per process, per epoch, the per-op values of arm (and of base_arm) by
    round, paired (hier_ratio's shape)."""
    nums, dens = [], []
    for recs in procs:
        va: dict = {}
        vb: dict = {}
        for v in recs:
            if v["kind"] != "value" or v["warmup"] or v["phase"] != phase:
                continue
            if v["arm"] == arm:
                va[(v.get("epoch", 0), v["round"])] = _per_op(v)
            elif base_arm is not None and v["arm"] == base_arm:
                vb[(v.get("epoch", 0), v["round"])] = _per_op(v)
        keys = sorted(set(va) & set(vb)) if base_arm is not None else sorted(va)
        epochs = sorted({e for e, _ in keys})
        nums.append([[va[k] for k in keys if k[0] == e] for e in epochs])
        if base_arm is not None:
            dens.append([[vb[k] for k in keys if k[0] == e] for e in epochs])
    return nums, (dens if base_arm is not None else None)


def layout_units(num, den):
    """Every epoch of every process as one unit: the bootstrap's top level is
    the layout (process x epoch), rounds within it the second level
    (docs/measurement.md says why)."""
    flat = [e for p in num for e in p]
    return flat, (None if den is None else [e for p in den for e in p])


def precision_of(procs: list[list[dict]], n_arms: int, phases: list[str],
                 n_resamples: int = 1000) -> dict:
    """{(arm, phase): hier_ratio result}: each arm's ratio to arm 0 (the
    baseline), its variance moderated with the other arms' of the phase
    (bench.measure.moderate), arm 0 (or a group of one) the interval of its
    mean."""
    from .measure import hier_ratio, moderate

    out = {}
    for phase in phases:
        for arm in range(n_arms):
            base = 0 if arm > 0 else None
            num, den = _paired(procs, arm, phase, base)
            out[(arm, phase)] = hier_ratio(num, den, n_resamples=n_resamples)
        ratios = [(arm, phase) for arm in range(1, n_arms)]
        for k, r in zip(ratios, moderate([out[k] for k in ratios])):
            out[k] = r
    return out


def _worst(prec: dict) -> float:
    """The widest half-width of every interval the group reports: each
    ratio to the baseline and the baseline's own (its mean).  With the
    ratios alone deciding, an A/A pair had more groups stop by precision
    (9 and 7 against 3-6), their ratios 7.1% beyond z = 1.96 and one of 405 called
    changed: a group stopped as soon as its spread happened to look small
    (docs/measurement.md, "Adaptive stopping")."""
    import math

    hws = [r["halfwidth"] for r in prec.values()]
    if not hws or any(not math.isfinite(h) for h in hws):
        return math.inf
    return max(hws)


def _slice(t: Timing, p: int, left: float, overhead: float) -> float:
    """Seconds of rounds for worker process p: exactly --values rounds when
    given; else the first min_processes share the budget leaving one share
    for an extra process when the precision is not reached yet."""
    if t.slice_s is not None:
        return t.slice_s
    if t.rounds < Timing.rounds:
        return 1e9
    if t.max_processes is not None:
        return max(0.2, t.budget / t.max_processes - overhead)
    if p < t.min_processes:
        return max(0.2, min(t.budget / (t.min_processes + 1) - overhead, left - overhead))
    return max(0.2, left - overhead)


def _num(v, lo: float | None = 0.0) -> bool:
    """A finite JSON number (not a boolean), at least lo."""
    import math

    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and (lo is None or v >= lo))


def _whole(v, lo: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


EVIDENCE_KEYS = ("wall_ns", "cpu_ns", "nivcsw", "faults", "migrations")


def _stored_record(r, n_arms: int, phases: list[str], null: bool, events) -> bool:
    """One record of a worker process (bench/worker.py) as the rows are built
    from it (_timing_rows, _pyperf_json, precision_of)."""
    if not isinstance(r, dict):
        return False
    kind = r.get("kind")
    if kind == "calibration":
        return True
    if kind == "fixed":
        return _whole(r.get("loops"), 1) and _num(r.get("ns"))
    if kind != "value":
        return False
    arm, phase = r.get("arm"), r.get("phase")
    if not (_whole(arm, -1) and arm < n_arms and isinstance(phase, str)):
        return False
    if (arm == -1 and (not null or phase != "null")) or (arm >= 0 and phase not in phases):
        return False
    if not (isinstance(r.get("warmup"), bool) and isinstance(r.get("round"), int)
            and not isinstance(r.get("round"), bool) and _whole(r.get("epoch", 0))
            and _num(r.get("ns")) and _whole(r.get("ops"), 1) and _whole(r.get("loops"), 1)
            and _num(r.get("footprint")) and _whole(r.get("retries"))
            and isinstance(r.get("disturbed"), bool)):
        return False
    reasons, ev, counts = r.get("reasons"), r.get("evidence"), r.get("counts")
    if not (isinstance(reasons, list) and all(isinstance(x, str) for x in reasons)):
        return False
    if not (isinstance(ev, dict) and all(_num(ev.get(k)) for k in EVIDENCE_KEYS)):
        return False
    if not isinstance(counts, dict):
        return False
    for name, c in counts.items():
        if name not in events or not (isinstance(c, list) and len(c) == 3
                                      and all(_num(x) for x in c)):
            return False
    return True


def stored_process(d, n_arms: int, phases: list[str], null: bool, events,
                   max_wall: float) -> tuple[list[dict], float] | None:
    """(records, wall seconds) of a worker process kept under a sweep's
    pending/ (GroupTimer's p<N>.json), or None when the file is not a whole
    process of a group of n_arms arms and these phases, as a worker writes it:
    every record readable as the rows are built from it, a value of every
    arm and phase, the final "done" record last, the wall time finite and
    within the worker's timeout.  None means: run that process again."""
    if not isinstance(d, dict):
        return None
    recs, wall = d.get("recs"), d.get("wall")
    if not (isinstance(recs, list) and recs and _num(wall) and wall <= max_wall):
        return None
    done = recs[-1]
    if not (isinstance(done, dict) and done.get("kind") == "done"
            and _num(done.get("seconds")) and done.get("pages") in (None, "2M", "4K")):
        return None
    huge = done.get("kmem_huge")
    if huge is not None and not (isinstance(huge, list) and all(
            isinstance(x, list) and len(x) == 2 and all(_num(y, None) for y in x)
            for x in huge)):
        return None
    events = set(events or ())
    seen = set()
    for r in recs[:-1]:
        if not _stored_record(r, n_arms, phases, null, events):
            return None
        if r["kind"] == "value" and not r["warmup"]:
            seen.add((r["arm"], r["phase"]))
    if not all((a, ph) in seen for a in range(n_arms) for ph in phases):
        return None
    return recs, float(wall)


class GroupTimer:
    """The timing of one case group (one workload point, one arm per case),
    one worker process at a time: step() runs the next process, and the group
    is done when every ratio to cases[0], and cases[0]'s own interval,
    reaches the target precision (after
    min_processes), or its budget (seconds of its own processes, wall) is
    spent, or max_processes ran.

    A sweep steps all its groups in passes (one process of every unfinished
    group per pass), so that the processes of a group are spread over the
    whole sweep and what drifts on the host in minutes shows up between the
    group's processes, where the bootstrap sees it (docs/measurement.md).

    store: a directory where each finished process's records are kept
    (p<N>.json, written whole and renamed into place), so that an interrupted
    sweep resumes with the processes already run; None keeps them in memory.
    every_process: the intervals after every process (`run` shows them as
    it goes), not only once they can end the group (min_processes) or it
    ends."""

    MAX_STORED = 256 << 20          # a stored process file larger than this is not read

    def __init__(self, cases: list[dict], plan: Plan, store: Path | None = None,
                 every_process: bool = False):
        t = plan.timing
        self.every_process = every_process
        case0 = cases[0]
        self.t, self.cases, self.store = t, cases, store
        self.phases = _phases(case0)
        self.spec = {
            "case": {k: case0[k] for k in ("workload", "n", "heads", "order", "alloc", "seed")},
            "arms": [{"variant": c["variant"], "ext": c["ext"],
                      "cflags": c.get("cflags", plan.cflags)} for c in cases],
            "null": None if case0["workload"] == "null" else _null_for(case0),
            "cpu": plan.cpu, "events": plan.events, "rule": plan.rule,
            "max_retries": t.max_retries, "rounds": t.rounds, "warmup_rounds": t.warmup_rounds,
            "loops": t.loops, "value_s": t.value_s, "max_value_s": t.max_value_s,
            "epoch_rounds": t.epoch_rounds, "fresh_layouts": t.fresh_layouts,
            "pages": t.pages,
            "fixed_warmups": t.fixed_warmups}
        self.procs: list[list[dict]] = []
        self.spent = 0.0                # wall seconds of this group's processes so far
        self.overhead = 0.4             # worker start-up, re-estimated after each process
        self.prec: dict = {}
        self.worst = float("inf")
        self.stopped: str | None = None
        if store is not None:
            self._reload()

    def _reload(self) -> None:
        """The processes an earlier session of the sweep finished, in order.  A
        file that is not a whole process of this group as a worker writes it
        (stored_process) is ignored, and so are the files after it: that
        process runs again and its file is replaced."""
        while True:
            f = self.store / f"p{len(self.procs)}.json"
            try:
                if not f.is_file() or f.stat().st_size > self.MAX_STORED:
                    break
                d = json.loads(f.read_text())
            except (OSError, ValueError, RecursionError):
                break
            got = stored_process(d, len(self.cases), self.phases,
                                 self.spec["null"] is not None, self.spec["events"],
                                 max_wall=self.timeout + 60)
            if got is None:
                break
            recs, wall = got
            self.procs.append(recs)
            self.spent += wall
        if self.procs:
            self._decide()

    @property
    def timeout(self) -> float:
        """Seconds one worker process may take (then it is killed)."""
        return max(600.0, 20 * self.t.budget)

    def _decide(self) -> None:
        t, p = self.t, len(self.procs)
        left = t.budget - self.spent
        full = t.max_processes is not None and p >= t.max_processes
        # the budget is a bound: no new process once it is spent, even before
        # min_processes (a case whose one round outlasts the budget gets one)
        spent = t.max_processes is None and (
            left < 0.3 or (p >= t.min_processes and left < self.overhead + 0.3))
        # the intervals (a bootstrap per arm and phase, a tenth of a second
        # or more per process of a ten-arm group) only where they decide
        # something or are the result, unless every process is to be shown
        if self.every_process or full or spent or p >= t.min_processes:
            self.prec = precision_of(self.procs, len(self.cases), self.phases)
            self.worst = _worst(self.prec)
        if full:
            self.stopped = "processes"
        elif t.adaptive and p >= t.min_processes and self.worst <= t.precision:
            self.stopped = "precision"
        elif spent:
            self.stopped = "budget"

    @property
    def done(self) -> bool:
        return self.stopped is not None

    def step(self, tmp: Path) -> None:
        """Run the group's next worker process (its scratch files in tmp)."""
        import time

        t, p = self.t, len(self.procs)
        slice_s = _slice(t, p, t.budget - self.spent, self.overhead)
        w0 = time.monotonic()
        recs = _run_worker({**self.spec, "seed": self.cases[0]["seed"] * 1000003 + p,
                            "slice_s": slice_s}, Path(tmp), p,
                           timeout=self.timeout)
        wall = time.monotonic() - w0
        self.overhead = max(0.3, wall - min(slice_s, recs[-1]["seconds"]))
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
            part = self.store / f".p{p}.json.tmp"
            part.write_text(json.dumps({"wall": wall, "recs": recs}))
            os.replace(part, self.store / f"p{p}.json")
        self.procs.append(recs)
        self.spent += wall
        self._decide()

    def result(self) -> dict:
        return {"procs": self.procs, "prec": self.prec, "seconds": self.spent,
                "stopped": self.stopped}


def time_group(cases: list[dict], plan: Plan, progress=None) -> dict:
    """Time a group of cases (one workload point, one arm per case) with
    worker processes, interleaved, one after another, until every ratio to
    cases[0] (and cases[0]'s own interval) reaches the target precision or
    the budget is spent.  Returns
    {"procs": [records of each process], "prec": precision_of(...),
    "seconds", "stopped"}."""
    g = GroupTimer(cases, plan, every_process=progress is not None)
    with tempfile.TemporaryDirectory(prefix="rmapbench-") as tmp:
        while not g.done:
            g.step(Path(tmp))
            if progress:
                progress(len(g.procs), g.worst, g.spent)
    return g.result()


def _pyperf_json(case: dict, procs: list[list[dict]], arm: int, plan: Plan) -> str:
    """The case's values as a pyperf suite: one benchmark per phase, one run
    per worker process, values in seconds per repetition (raw)."""
    import pyperf

    benches = []
    for phase in _phases(case):
        runs = []
        for recs in procs:
            vals = [v for v in recs if v["kind"] == "value" and v["arm"] == arm
                    and v["phase"] == phase]
            main = [v["ns"] / 1e9 / v["loops"] for v in vals if not v["warmup"]]
            if not main or any(x <= 0 for x in main):
                continue
            warm = [(v["loops"], v["ns"] / 1e9 / v["loops"]) for v in vals if v["warmup"]]
            md = {"name": bench_name(case, phase), "loops": vals[-1]["loops"],
                  "unit": "second", "rmapbench_phase": phase, "rmapbench_cpu": plan.cpu}
            runs.append(pyperf.Run(main, warmups=warm or None, metadata=md,
                                   collect_metadata=False))
        if runs:
            benches.append(pyperf.Benchmark(runs))
    if not benches:
        return None
    suite = pyperf.BenchmarkSuite(benches)
    with tempfile.TemporaryDirectory(prefix="rmapbench-") as tmp:
        path = Path(tmp) / "s.json"
        suite.dump(str(path))
        return path.read_text()


def _reason_text(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _kmem_huge(recs: list[dict]) -> dict:
    """Per layout (epoch) of a worker process, the share of its kernel memory
    placed for 2 MiB pages that the process had on them (1.0: all; absent,
    so NaN: none was placed, as with pages 4K or regions under 2 MiB, or
    what it had could not be read)."""
    done = recs[-1] if recs and recs[-1].get("kind") == "done" else {}
    out = {}
    for epoch, pair in enumerate(done.get("kmem_huge") or []):
        placed, got = pair
        if placed > 0 and got >= 0:
            out[epoch] = min(1.0, got / placed)
    return out


def _timing_rows(case, arm, plan, base, timed, baseline_label) -> list[dict]:
    """Tidy rows of one arm (case) of a timed group: per value, the raw time,
    the net time (fixed cost per repetition and null kernel per op
    subtracted), the counters, the evidence; per case and phase, the
    achieved precision and how many values were re-measured and why."""
    rows = []
    backend = plan.timing_backend
    for phase in _phases(case):
        pr = timed["prec"].get((arm, phase), {})
        remeasured, reasons, kept = 0, {}, 0
        for recs in timed["procs"]:
            for v in recs:
                if v["kind"] == "value" and not v["warmup"] and v["arm"] == arm \
                        and v["phase"] == phase:
                    remeasured += v["retries"] > 0
                    kept += v["disturbed"]
                    for r in v["reasons"]:
                        reasons[r] = reasons.get(r, 0) + 1
        summary = {"halfwidth": pr.get("halfwidth", float("nan")),
                   "halfwidth_of": ("mean" if arm == 0 else f"ratio to {baseline_label}"),
                   "remeasured": remeasured, "remeasure_reasons": _reason_text(reasons),
                   "disturbed_kept": kept, "processes": len(timed["procs"]),
                   "stopped": timed["stopped"],
                   "timing_s": timed.get("seconds", float("nan"))}
        for p, recs in enumerate(timed["procs"]):
            fixed, null_op = _net_values(recs)
            huge = _kmem_huge(recs)
            pages = (recs[-1].get("pages") if recs else None) or "4K"  # before pages: 4K
            for v in recs:
                if v["kind"] != "value" or v["warmup"] or v["arm"] != arm or \
                        v["phase"] != phase:
                    continue
                ops, loops = v["ops"], v["loops"]
                ev = v["evidence"]
                common = {**base, "backend": backend, "phase": phase, "ops": ops,
                          "loops": loops, "process": p, "sample": v["round"],
                          "epoch": v.get("epoch", 0),
                          "simulated": False, "footprint": v["footprint"],
                          "retries": v["retries"], "disturbed": v["disturbed"],
                          "reasons": ";".join(v["reasons"]),
                          "wall_ns": ev["wall_ns"], "cpu_ns": ev["cpu_ns"],
                          "nivcsw": ev["nivcsw"], "faults": ev["faults"],
                          "migrations": ev["migrations"], "fixed_ns": fixed,
                          "kmem_pages": pages,
                          "kmem_huge": huge.get(v.get("epoch", 0), float("nan")),
                          "null_ns_per_op": null_op, **summary}
                raw = v["ns"] / (loops * ops)
                rows.append({**common, "metric": "time", "value": raw, "unit": "ns/op",
                             "enabled_ratio": 1.0})
                net = (v["ns"] / loops - fixed) / ops - \
                    (null_op if case["workload"] != "null" else 0.0)
                rows.append({**common, "metric": "time-net", "value": net, "unit": "ns/op",
                             "enabled_ratio": 1.0})
                for name, (rawc, enabled, running) in v["counts"].items():
                    if not running:
                        plan.event_support.setdefault(name, {}).update(
                            supported=False, reason="opened but never scheduled "
                            "(time_running 0)")
                        continue
                    scaled = rawc * enabled / running
                    rows.append({**common, "metric": name,
                                 "value": scaled / (loops * ops),
                                 "unit": "ns/op" if name in TIME_UNIT_EVENTS else "events/op",
                                 "enabled_ratio": running / enabled})
    return rows


def _sim_rows(case, plan, base) -> list[dict]:
    from . import sim

    items = [(case, phase) for phase in _phases(case)]
    try:
        results = sim.run(case["variant"], case["ext"], items, profile=plan.sim_profile,
                          cflags=plan.cflags)
    except RuntimeError as e:
        raise MeasureError(f"sim {_label(case)}: {e}") from None
    rows = []
    for (c, phase), res in zip(items, results):
        ops = res["ops"]
        for m in sim.SIM_METRICS:
            rows.append({**base, "backend": "sim", "phase": phase, "metric": m,
                         "value": res[m] / ops, "unit": "events/op", "ops": ops,
                         "loops": 1, "process": 0, "sample": 0, "enabled_ratio": 1.0,
                         "simulated": True, "footprint": res["footprint"]})
    return rows


HEARTBEAT_S = 15.0


@contextlib.contextmanager
def heartbeat(note, what: str, every: float = HEARTBEAT_S):
    """Long work that reports nothing of its own (valgrind: a case of
    seconds per repetition simulates for minutes) says every `every`
    seconds that it is still at it, and for how long."""
    import time

    done = threading.Event()
    t0 = time.monotonic()

    def beat():
        while not done.wait(every):
            try:
                note(f"  still {what} ({time.monotonic() - t0:.0f}s)")
            except Exception:       # stderr gone (a closed pipe): the work goes on
                return

    th = threading.Thread(target=beat, daemon=True)
    th.start()
    try:
        yield
    finally:
        done.set()
        th.join()


def measure_group(cases: list[dict], plan: Plan, run_id: str, host: str,
                  progress=None, note=None, timed: dict | None = None
                  ) -> list[tuple[dict, list[dict], str | None]]:
    """Rows (every phase) and pyperf JSON of every case of one group, the
    variants interleaved in the same worker processes; cases[0] is the
    baseline of the group's ratios.  timed: the group's timing when it was
    already done (a sweep's GroupTimer.result()); else it is done here."""
    cases = [{**c, "cpu": plan.cpu} for c in cases]
    bases = [_row_base(c, plan, run_id, host) for c in cases]
    backend = get_backend(plan.backend)
    others = sorted(set(hostmod.online_cpus()) - {plan.cpu})
    beside = plan.timing.sim_beside and backend.simulated and plan.timed and bool(others) \
        and timed is None
    own: list = [None] * len(cases)
    errors: list = []

    def simulate_one(i):
        c, b = cases[i], bases[i]
        if not (note and backend.simulated):
            own[i] = backend.rows(c, plan, b)
            return
        what = f"simulating {c['variant']}@{c['ext']} under valgrind"
        note(f"  {what} ...")
        with heartbeat(note, what):
            own[i] = backend.rows(c, plan, b)

    def simulate():
        if beside:      # this thread (and the valgrind it starts) off the timed CPU
            os.sched_setaffinity(threading.get_native_id(), others)
        try:
            for i in range(len(cases)):
                simulate_one(i)
        except BaseException as e:          # raised again in the caller
            errors.append(e)

    def simulate_parallel():
        """After the timing, nothing is timed: one valgrind per online CPU at
        a time (simulated counts do not depend on what else runs)."""
        from concurrent.futures import ThreadPoolExecutor

        jobs = min(len(cases), len(hostmod.online_cpus()))
        if jobs < 2 or not backend.simulated:
            return simulate()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futs = [pool.submit(simulate_one, i) for i in range(len(cases))]
            for f in futs:
                try:
                    f.result()
                except BaseException as e:
                    if not errors:
                        for g in futs:
                            g.cancel()
                    errors.append(e)

    # By default the timing first, then valgrind; with sim_beside, valgrind runs on the
    # other CPUs during the timing (it then shares the last-level cache and the memory
    # bus with the timed CPU: docs/measurement.md).
    th = threading.Thread(target=simulate, daemon=True) if beside else None
    if th:
        th.start()
    try:
        if timed is None and plan.timed:
            timed = time_group(cases, plan, progress)
    finally:
        if th:
            th.join()
    if not th:
        simulate_parallel()
    if errors:
        raise errors[0]
    out = []
    base_label = f"{cases[0]['variant']}@{cases[0]['ext']}"
    for i, (c, b) in enumerate(zip(cases, bases)):
        rows = list(own[i])
        text = None
        if timed is not None:
            rows += _timing_rows(c, i, plan, b, timed, base_label)
            text = _pyperf_json(c, timed["procs"], i, plan)
        out.append((c, rows, text))
    return out


def measure_case(case: dict, plan: Plan, run_id: str, host: str) -> tuple[list[dict], str | None]:
    """Rows for one case alone (every phase), and its pyperf JSON text if timed."""
    (_, rows, text), = measure_group([case], plan, run_id, host)
    return rows, text


def new_run_id() -> str:
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()
