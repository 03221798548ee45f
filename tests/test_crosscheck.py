"""perf stat counts the suite's own regions too (perf stat --delay=-1
--control fifo:CTL,ACK -t TID, switched by counters.c's enable/disable), and
the two agree within the tolerances stated in bench/perfstat.py, for the
software events this host has: task-clock and page-faults (a region that
faults a known number of pages)."""

import json
from pathlib import Path

import pytest

from bench.events import resolve_list
from bench.native import CounterGroup, load
from bench.perfstat import (TC_PER_REGION_NS, TC_REL, TC_RES_NS, compare, crosscheck,
                            crosscheck_counts, perf_path)

pytestmark = pytest.mark.skipif(perf_path() is None,
                                reason="perf not installed (Debian linux-perf; make setup "
                                       "installs it)")
EVS = resolve_list(["task-clock", "page-faults"])
K = 1000
CASE = {"variant": "kvm-2023", "ext": 14, "workload": "fork", "n": 16, "heads": 3000,
        "order": "fifo", "alloc": "bump", "seed": 1}


def _touch(cg, npages):
    def regions():
        c = cg.touch_pages(npages)
        return {n: v * en / rn for n, (v, en, rn) in c.items()}
    return regions


def test_a_region_faulting_k_pages_counts_k_faults_on_both_sides():
    load("old", 3)
    with CounterGroup(EVS) as cg:
        ours, theirs = crosscheck_counts(cg, ["task-clock", "page-faults"], _touch(cg, K))
    assert K <= ours["page-faults"] <= K + 8
    assert theirs["page-faults"] == ours["page-faults"]
    # task-clock: perf's window encloses the group's by the ioctls and the FIFO round trip
    diff = theirs["task-clock"] - ours["task-clock"]
    assert -TC_RES_NS <= diff <= TC_REL * ours["task-clock"] + TC_RES_NS + TC_PER_REGION_NS
    assert all(r["ok"] for r in compare(EVS, ours, theirs, 1)), (ours, theirs)


def test_every_phase_of_a_workload_agrees_for_task_clock_and_page_faults():
    rows = crosscheck([CASE], ["task-clock", "page-faults"], cpu=sorted(
        __import__("os").sched_getaffinity(0))[-1], loops=10)
    assert {(r["phase"], r["event"]) for r in rows} == {
        (p, e) for p in ("add", "remove") for e in ("task-clock", "page-faults")}
    for r in rows:
        assert r["ok"] is True, r
        assert r["suite"] is not None and r["perf"] is not None
    tc = [r for r in rows if r["event"] == "task-clock"]
    assert all(r["suite"] > 0 and r["perf"] > 0 for r in tc)


def test_the_crosscheck_sees_a_region_perf_did_not_count():
    """Perf switched around a 2K-page region, the group around a K-page one:
    the comparison must call that a disagreement."""
    load("old", 3)
    with CounterGroup(EVS) as a, CounterGroup(EVS) as b:
        _, theirs = crosscheck_counts(a, ["task-clock", "page-faults"], _touch(a, 2 * K))
        ours = _touch(b, K)()
    rows = {r["event"]: r for r in compare(EVS, ours, theirs, 1)}
    assert rows["page-faults"]["ok"] is False
    assert rows["page-faults"]["diff"] >= K - 8


def test_run_crosscheck_perf_stat(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--variant", "old",
                        "--n", "8", "--heads", "500", "--backend", "time", "--budget", "1",
                        "--processes", "1", "--crosscheck", "perf-stat", "--out", str(out)],
                       capture_output=True, text=True, cwd=root, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(root)})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "crosscheck perf-stat" in p.stdout
    got = json.loads((out / "crosscheck.json").read_text())
    assert got["measured"] is True
    tc = [r for r in got["rows"] if r["event"] == "task-clock"]
    assert len(tc) == 2 and all(r["ok"] for r in tc)


def test_perf_is_asked_for_what_the_suite_opens():
    from bench.events import EventSpec, resolve
    from bench.perfstat import perf_name
    assert perf_name(resolve("cycles")) == "cycles:u"
    assert perf_name(resolve("LLC-load-misses")) == "LLC-load-misses:u"
    assert perf_name(resolve("r01d1")) == "r01d1:u"
    assert perf_name(resolve("page-faults")) == "page-faults"
    assert perf_name(resolve("msr/tsc/")) == "msr/tsc/u"
    assert perf_name(EventSpec("X.Y", 4, 0x8d1, source="libpfm4")) == "r8d1:u"
    assert perf_name(EventSpec("OFF", 4, 0x1b7, 0x3f84000001, source="libpfm4")) == \
        "cpu/config=0x1b7,config1=0x3f84000001,config2=0x0/u"


def test_an_event_neither_side_can_count_is_not_compared_and_says_why():
    from bench.native import CounterGroup as CG
    with CG(["cycles"]) as g:
        if not g.failed:
            pytest.skip("this host counts cycles")
    rows = crosscheck([CASE], ["cycles", "page-faults"], cpu=sorted(
        __import__("os").sched_getaffinity(0))[-1], loops=2)
    cyc = [r for r in rows if r["event"] == "cycles"]
    assert cyc and all(r["ok"] is None and r["why"].startswith("ENOENT") for r in cyc)
    assert all(r["ok"] for r in rows if r["event"] == "page-faults")


def test_a_perf_that_cannot_start_is_one_line(monkeypatch, tmp_path):
    from bench import perfstat
    from bench.errors import UsageError
    fake = tmp_path / "perf"
    fake.write_text("#!/bin/sh\necho 'perf: no permission to attach' >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setattr(perfstat, "perf_path", lambda: str(fake))
    import tempfile
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("rmapbench-perfctl-*"))
    with pytest.raises(UsageError) as ei:
        crosscheck([CASE], ["page-faults"], cpu=sorted(
            __import__("os").sched_getaffinity(0))[-1], loops=1)
    msg = str(ei.value)
    assert "\n" not in msg and "no permission to attach" in msg
    assert set(tmp.glob("rmapbench-perfctl-*")) == before        # FIFOs removed
