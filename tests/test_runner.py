"""The runner end to end on real kernels: backend choice, pinned pyperf workers,
counters paired with timing values, run directories, run and doctor commands.

No test asserts a time: only that values exist, are positive, are paired and
are labelled with the backend that produced them."""

import json
from pathlib import Path
import subprocess
import sys

import pandas as pd
import pytest

from bench.errors import UsageError
from bench.results import COLUMNS
from bench.runner import make_plan, measure_case, probe_events
from tests.conftest import assert_usage_error, run_cli

SMALL = {"workload": "fork", "variant": "kvm-2023", "ext": 14, "n": 8, "heads": 64,
         "order": "fifo", "alloc": "bump", "seed": 1}
FAST = ["--processes", "2", "--values", "2", "--warmups", "1", "--min-time", "0.002"]


def _hw_works() -> bool:
    return probe_events(["cycles"])["cycles"]["supported"]


needs_pmu = pytest.mark.skipif(not _hw_works(),
                               reason="no hardware PMU on this host: cycles cannot be opened "
                                      "(perf_event_open fails), hardware-event tests need one")


def test_plan_auto_says_what_it_picked_and_why():
    plan = make_plan("auto", pyperf_args=FAST)
    assert plan.backend in ("perf", "sim", "time")
    assert plan.reason
    if not _hw_works():
        assert plan.backend in ("sim", "time")
        assert "cycles" in plan.reason          # names the event that failed
        assert "cycles" not in plan.events      # never opened in workers
        assert plan.event_support["cycles"]["supported"] is False
    # software events are always asked for, and they work through perf_event_open here
    assert plan.event_support["task-clock"]["supported"] is True
    assert "task-clock" in plan.events


@pytest.mark.skipif(_hw_works(), reason="this host has hardware counters")
def test_backend_perf_without_pmu_is_one_clear_line():
    proc = run_cli("run", "--variant", "old", "--backend", "perf", "--n", "2", "--heads", "4")
    assert_usage_error(proc, "--backend perf", "cycles")


@needs_pmu
def test_perf_backend_counts_hardware_events():
    plan = make_plan("perf", pyperf_args=FAST)
    rows, _ = measure_case(SMALL, plan, "t", "h")
    df = pd.DataFrame(rows)
    cyc = df[(df.metric == "cycles") & (df.phase == "add")]
    assert len(cyc) > 0 and (cyc.value > 0).all()
    assert ((cyc.enabled_ratio > 0) & (cyc.enabled_ratio <= 1)).all()


def test_time_backend_rows_pair_values_with_counters():
    plan = make_plan("time", pyperf_args=FAST)
    rows, pyperf_text = measure_case(SMALL, plan, "run1", "hostA")
    df = pd.DataFrame(rows)
    assert set(COLUMNS) <= set(df.columns)
    t = df[df.metric == "time"]
    # two phases, 2 worker processes x 2 values each
    assert sorted(t.phase.unique()) == ["add", "remove"]
    assert len(t) == 2 * 2 * 2
    assert (t.value > 0).all() and (t.unit == "ns/op").all()
    assert (t.backend == "time").all() and not t.simulated.any()
    assert (t.ops == 8 * 64).all() and (t.cpu == plan.cpu).all()
    # every timing value has its task-clock read from the same C call
    tc = df[df.metric == "task-clock"]
    key = ["phase", "process", "sample"]
    merged = t.merge(tc, on=key, suffixes=("", "_tc"))
    assert len(merged) == len(t)
    # task-clock counts the same region as the clock: positive, and never more CPU
    # time than the region's wall time plus the enable/disable ioctls around each
    # repetition (generously 50 us each); prepare/undo, far longer, are not counted
    total_tc = merged.value_tc * merged.ops * merged.loops
    total_ns = merged.value * merged.ops * merged.loops
    assert (total_tc > 0).all()
    assert (total_tc <= 1.5 * total_ns + 50_000 * merged.loops).all(), \
        list(zip(total_tc, total_ns, merged.loops))
    # the pyperf JSON has the same values
    import pyperf

    suite = pyperf.BenchmarkSuite.loads(pyperf_text)
    assert len(suite.get_benchmarks()) == 2


def _worker(tmp_path, **spec):
    """`python -m bench.worker` on a SMALL case, one arm of old@3, pinned to the
    last allowed CPU, under a rule whose off-CPU limit no value reaches (a
    switch, a migration or a fault still count), unless spec says otherwise;
    its output lines are in tmp_path / "out.jsonl"."""
    import os

    spec = {"case": {k: SMALL[k] for k in ("workload", "n", "heads", "order", "alloc", "seed")},
            "arms": [{"variant": "old", "ext": 3}], "null": None, "events": [],
            "cpu": sorted(os.sched_getaffinity(0))[-1],
            "rule": {"off_cpu_frac": 1.0, "off_cpu_slack_ns": 1e9},
            "max_retries": 0, "rounds": 1, "warmup_rounds": 0, "loops": 1, "value_s": 0.001,
            "max_value_s": 0.01, "epoch_rounds": 0, "seed": 1, "slice_s": 1.0, **spec}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    argv = [sys.executable, "-m", "bench.worker", str(tmp_path / "spec.json"),
            str(tmp_path / "out.jsonl")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_worker_refuses_when_not_pinned(tmp_path):
    import os

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU only: cannot be unpinned")
    # a worker told not to pin itself, run with every CPU allowed
    proc = _worker(tmp_path, cpu=0, pin=False)
    assert proc.returncode == 3
    assert "not pinned to CPU 0" in proc.stderr


def test_run_command_writes_a_run_directory_readable_by_pyperf(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("run", "--variant", "old,kvm-2023", "--n", "4", "--heads", "32",
                   "--backend", "time", "--out", out, "--processes", "2", "--values", "2",
                   "--min-time", "0.002")
    assert proc.returncode == 0, proc.stderr
    assert "fork / add" in proc.stdout and "ratio" in proc.stdout
    assert "harness overhead: null kernel" in proc.stdout
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete"
    assert meta["backend"]["chosen"] == "time"
    df = pd.read_parquet(out / "results.parquet")
    assert set(df.variant) == {"old", "kvm-2023"}
    # the null kernel and the fixed cost were measured in the same worker processes:
    # every value carries them, and the net time is the raw time minus both
    assert set(df.workload) == {"fork"}
    t = df[df.metric == "time"]
    net = df[df.metric == "time-net"]
    assert len(t) == len(net) == 2 * 2 * 2 * 2     # variants x phases x processes x values
    assert (t.null_ns_per_op > 0).all() and (t.fixed_ns > 0).all()
    m = t.merge(net, on=["variant", "phase", "process", "sample"], suffixes=("", "_net"))
    expect = (m.value * m.ops - m.fixed_ns) / m.ops - m.null_ns_per_op
    assert ((m.value_net - expect).abs() < 1e-9 * m.value.abs().max()).all()
    # the ratio rows carry the precision reached and the re-measure counts
    assert t[t.variant == "kvm-2023"].halfwidth_of.str.startswith("ratio to old").all()
    assert (t.remeasured >= 0).all()
    stats = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(out / "pyperf.json")],
                           capture_output=True, text=True, timeout=120)
    assert stats.returncode == 0, stats.stderr
    assert "fork/add/old" in stats.stdout


@pytest.mark.parametrize("args,needle", [
    (["--variant", "nope"], "nope"),
    (["--variant", "old", "--workload", "bake"], "bake"),
    (["--variant", "old", "--n", "-1"], "-1"),
    (["--variant", "old", "--heads", "x"], "'x'"),
    (["--variant", "old", "--order", "sideways"], "sideways"),
    (["--variant", "old", "--alloc", "heap"], "heap"),
    (["--variant", "old", "--backend", "gpu"], "gpu"),
    (["--variant", "old", "--precision", "1.5"], "1.5"),
    (["--variant", "old", "--budget", "-3"], "-3"),
    (["--variant", "old", "--budget", "soon"], "soon"),
    (["--variant", "old", "--cpu", "999"], "999"),
    (["--variant", "old", "--events", "cycles,bogus-event"], "bogus-event"),
    (["--variant", "old", "--processes", "0"], "--processes"),
    (["--variant", "old", "--min-time", "soon"], "soon"),
    (["--variant", "old", "--fast", "--rigorous"], "--rigorous"),
])
def test_run_bad_input_is_one_line(args, needle):
    assert_usage_error(run_cli("run", *args), needle)


def test_doctor_reports_events_and_auto_choice():
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "perf_event_paranoid" in out and "task-clock" in out
    assert "auto        ->" in out
    if not _hw_works():
        line = next(ln for ln in out.splitlines() if ln.strip().startswith("cycles"))
        assert "unsupported" in line


def test_make_plan_rejects_bad_backend():
    with pytest.raises(UsageError, match="gpu"):
        make_plan("gpu")


_LAYOUTS = r"""
import struct, sys
from bench.native import Workload, load
from bench.worker import fresh_layouts
if sys.argv[1] == "fresh":
    assert fresh_layouts()
k = load("kvm-2023", 14)

def backing():
    # (virtual page, physical frame) of every present page of the heap and of
    # the anonymous mappings; frames read as 0 without CAP_SYS_ADMIN
    got = set()
    with open("/proc/self/maps") as maps, open("/proc/self/pagemap", "rb") as pm:
        for line in maps.read().splitlines():
            f = line.split()
            if "w" not in f[1] or (len(f) > 5 and f[5] != "[heap]"):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            pm.seek(lo // 4096 * 8)
            for i, (e,) in enumerate(struct.iter_unpack("<Q", pm.read((hi - lo) // 4096 * 8))):
                if e >> 63 and e & ((1 << 55) - 1):
                    got.add((lo // 4096 + i, e & ((1 << 55) - 1)))
    return got

w, prev, new = None, None, []
for epoch in range(5):
    # a worker's epoch: the last layout freed, the Workload built afresh and
    # run once (prepare faults its memory in)
    if w is not None:
        w.close()
    w = Workload(k, workload="fork", n=16, heads=8192, order="fifo", alloc="bump", seed=1)
    w.run_sequence(1)
    now = backing()
    if prev is not None:
        new.append(len(now - prev))
    prev = now
print(w.footprint // 4096, len(prev), *new)
"""


def test_each_layout_is_new_memory():
    """A worker's new layout (an epoch) is backed by pages of its own: every
    one of its pages is a (virtual page, physical frame) pair the last layout
    did not have.  glibc's default hands a freed layout's blocks out again,
    same addresses on the same frames: then a layout was in part the last
    one (the control below)."""
    new = {}
    for mode in ("fresh", "default"):
        out = subprocess.run([sys.executable, "-c", _LAYOUTS, mode], capture_output=True,
                             text=True, timeout=120, check=True).stdout.split()
        pages, present, new[mode] = int(out[0]), int(out[1]), [int(x) for x in out[2:]]
        if present == 0:
            pytest.skip("/proc/self/pagemap shows no physical frames without CAP_SYS_ADMIN")
    assert pages > 500
    # fresh: the whole footprint is new pairs in every layout (782-897 of 784 here)
    assert min(new["fresh"]) >= 0.9 * pages, (new, pages)
    # the control: glibc's default reuses part of a layout (536-601 new of 784 here)
    assert min(new["default"]) < 0.8 * pages, (new, pages)


def test_worker_builds_the_arms_of_each_layout_in_a_random_order(tmp_path):
    """Built first in every layout, an arm took the same place among the new
    mappings each time and ran faster than copies of itself: the build order
    is shuffled per layout, and the worker's done record lists it."""
    proc = _worker(tmp_path, arms=[{"variant": "old", "ext": 3}] * 3, rounds=100000,
                   value_s=0.0001, epoch_rounds=1, seed=7)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(ln) for ln in (tmp_path / "out.jsonl").read_text().splitlines()]
    done = recs[-1]
    assert done["kind"] == "done" and done["fresh_layouts"] is True
    orders = done["build_orders"]
    epochs = {v["epoch"] for v in recs if v["kind"] == "value"}
    assert len(orders) == len(epochs) >= 6
    assert all(sorted(o) == [0, 1, 2] for o in orders)
    assert len({tuple(o) for o in orders}) > 1
    assert {o[0] for o in orders} != {0}


_FIRST_FAULTS = r"""
import sys
from bench.native import Workload, load
from bench.worker import fresh_layouts
fresh_layouts()
w = Workload(load("kvm-2023", 14), workload="fork", n=4, heads=65536, order="fifo",
             alloc="scatter", seed=1)
if sys.argv[1] == "populate":
    w.populate()
print(sum(r.evidence["faults"] for r in w.run_sequence(1)))
"""


def test_populate_faults_the_heads_in_before_the_first_region():
    """The worker populates a new layout's heads and arena when it builds
    them: the first repetition's regions then take no page fault.  Without
    it (in a worker's fresh mappings) the add region faults each page of the
    heads in as it first writes it: 65536 heads are 128 pages."""
    faults = {}
    for mode in ("populate", "lazy"):
        out = subprocess.run([sys.executable, "-c", _FIRST_FAULTS, mode], capture_output=True,
                             text=True, timeout=120, check=True).stdout
        faults[mode] = int(out)
    assert faults["lazy"] >= 64, faults
    assert faults["populate"] == 0, faults


_PAGES = r"""
import json
from bench.native import Workload, kmem_huge_bytes, load
from bench.worker import anon_huge_kib, fresh_layouts
fresh_layouts()
k = load("old", 3)
out = {}
for pages in ("4K", "2M"):
    # 16 x 16384 sptes: 2 MiB of shadow pages; a scattered arena of 64 MiB
    w = Workload(k, workload="fork", n=16, heads=16384, order="fifo", alloc="scatter",
                 seed=1, pages=pages)
    w.populate()
    placed, got = kmem_huge_bytes([k]), anon_huge_kib()
    rs = w.run_sequence(1)
    out[pages] = {"placed": placed, "got": got, "closed": None, "footprint": w.footprint,
                  "runs": [[r.phase, r.ops, r.peak_descs, r.bad] for r in rs]}
    w.close()
    out[pages]["closed"] = kmem_huge_bytes([k])
print(json.dumps(out))
"""


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "absent"
    return text.split("[", 1)[1].split("]", 1)[0] if "[" in text else "absent"


def test_kernel_memory_goes_on_2m_pages_only_when_asked():
    """pages="2M" (the timing workers) places the regions of 2 MiB or more of
    a Workload's kernel memory (arena, shadow pages) for 2 MiB pages and
    counts them until they are freed; "4K" places none.  The workload does
    the same either way.  Where the host's THP allows it (not "never"), the
    process then has memory on 2 MiB pages."""
    out = json.loads(subprocess.run([sys.executable, "-c", _PAGES], capture_output=True,
                                    text=True, timeout=120, check=True).stdout)
    small, huge = out["4K"], out["2M"]
    assert small["placed"] == 0 and small["closed"] == 0
    # the 64 MiB arena (2^20 slots of 64 bytes) and the 2 MiB of shadow pages
    assert huge["placed"] == 66 * (1 << 20), huge
    assert huge["closed"] == 0
    assert huge["runs"] == small["runs"] and huge["footprint"] == small["footprint"]
    if _thp_mode() in ("always", "madvise"):
        assert huge["got"] > 0, huge


def test_a_worker_records_the_page_size_of_each_layout(tmp_path):
    """The done record says which page size the worker asked for and, per
    layout, how much kernel memory it placed for 2 MiB pages and how much of
    the process was on them; the rows carry the share per value."""
    from bench.runner import _kmem_huge

    case = {"workload": "fork", "n": 16, "heads": 16384, "order": "fifo",
            "alloc": "bump", "seed": 1}
    proc = _worker(tmp_path, case=case, rounds=100000, value_s=0.0001, epoch_rounds=1)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(ln) for ln in (tmp_path / "out.jsonl").read_text().splitlines()]
    done = recs[-1]
    assert done["pages"] == "2M"
    epochs = {v["epoch"] for v in recs if v["kind"] == "value"}
    assert len(done["kmem_huge"]) == len(epochs) >= 2
    assert all(placed >= 2 << 10 for placed, _ in done["kmem_huge"]), done["kmem_huge"]
    share = _kmem_huge(recs)
    if _thp_mode() in ("always", "madvise"):
        assert set(share) == epochs and all(0 < x <= 1 for x in share.values()), share
    (tmp_path / "small").mkdir()
    proc = _worker(tmp_path / "small", case=case, pages="4K")
    assert proc.returncode == 0, proc.stderr
    done = json.loads((tmp_path / "small" / "out.jsonl").read_text().splitlines()[-1])
    assert done["pages"] == "4K" and [p for p, _ in done["kmem_huge"]] == [0]
    assert _kmem_huge([done]) == {}


def test_a_worker_runs_without_numpy(tmp_path):
    """A worker needs the disturbance rule (bench.disturb), not the statistics:
    a whole worker run leaves numpy, scipy and pandas unimported (numpy alone
    was 58 ms of every worker's start-up here)."""
    proc = _worker(tmp_path)
    assert proc.returncode == 0, proc.stderr
    code = ("import atexit, runpy, sys\n"
            "atexit.register(lambda: sys.stderr.write('MODULES %s\\n' % sorted(\n"
            "    m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'pandas'))))\n"
            "sys.argv = ['worker', sys.argv[1], sys.argv[2]]\n"
            "runpy.run_module('bench.worker', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "spec.json"),
                          str(tmp_path / "again.jsonl")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "again.jsonl").read_text().count('"kind": "done"') == 1
    assert "MODULES []" in out.stderr, out.stderr


def test_heartbeat_says_long_work_is_still_going_and_stops_with_it():
    import time

    from bench.runner import heartbeat

    notes = []
    with heartbeat(notes.append, "simulating old@3 under valgrind", every=0.05):
        time.sleep(0.28)
    n = len(notes)
    assert 3 <= n <= 6
    assert all(x.startswith("  still simulating old@3 under valgrind (") and x.endswith("s)")
               for x in notes)
    time.sleep(0.15)
    assert len(notes) == n                  # nothing after the work ended
    # work that fails still stops its heartbeat
    with pytest.raises(RuntimeError):
        with heartbeat(notes.append, "x", every=0.05):
            raise RuntimeError("valgrind failed")
    k = len(notes)
    time.sleep(0.15)
    assert len(notes) == k


def test_the_stopping_rule_waits_for_every_interval_the_group_reports():
    import math

    from bench.runner import _worst

    prec = {(0, "add"): {"halfwidth": 0.012}, (1, "add"): {"halfwidth": 0.008},
            (2, "add"): {"halfwidth": 0.009}, (0, "remove"): {"halfwidth": 0.004},
            (1, "remove"): {"halfwidth": 0.007}, (2, "remove"): {"halfwidth": 0.006}}
    # the ratios are within 1%, the baseline's own add interval is not
    assert _worst(prec) == 0.012
    assert _worst({**prec, (0, "add"): {"halfwidth": 0.005}}) == 0.009
    assert _worst({(0, "walk"): {"halfwidth": 0.02}}) == 0.02
    # an interval not there yet: not done
    assert _worst({**prec, (2, "add"): {"halfwidth": float("nan")}}) == math.inf
