"""Multiplexing, proven with reads of known values.

Software events are never multiplexed, and this host has no hardware
counters, so counters.c's fake read source (rb_counters_set_fake_reads)
feeds the harness known (value, time_enabled, time_running) reads exactly
where it would read the group: the harness's start/end subtraction, the
scaling by enabled/running, the ratio recorded per row, the report's table
and its warning below MUX_WARN_RATIO, and running == 0, are all checked on
the real code paths.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.sections.hosts import MUX_WARN_RATIO
from bench.native import CounterGroup, Workload, load

ROOT = Path(__file__).resolve().parent.parent
EVS = ["task-clock", "page-faults"]


def _run(reads, events=EVS, loops=3):
    k = load("old", 3)
    with CounterGroup(events) as cg, \
            Workload(k, "fork", n=4, heads=200, order="fifo", alloc="bump", seed=1) as w:
        cg.set_fake_reads(reads)
        return w.run("add", loops=loops, counters=cg)


def test_scaling_and_ratio_from_known_reads():
    # the harness reads at the start of the phase and at its end and subtracts
    r = _run([([100, 5], 1_000, 500), ([100 + 3_000_000, 5 + 40], 1_000 + 4_000_000,
                                       500 + 1_000_000)])
    assert r.counts == {"task-clock": (3_000_000, 4_000_000, 1_000_000),
                        "page-faults": (40, 4_000_000, 1_000_000)}
    assert r.enabled_ratio() == 0.25
    n = r.ops * r.loops
    assert r.per_op("task-clock") == pytest.approx(3_000_000 * 4 / n)
    assert r.per_op("page-faults") == pytest.approx(160 / n)


def test_never_running_is_not_a_zero():
    r = _run([([0, 0], 0, 0), ([0, 0], 5_000, 0)])
    assert r.counts["task-clock"] == (0, 5_000, 0)
    assert r.enabled_ratio() == 0.0
    with pytest.raises(ValueError, match="never ran"):
        r.per_op("task-clock")


def test_fake_reads_go_round_and_switch_off():
    k = load("old", 3)
    with CounterGroup(EVS) as cg, \
            Workload(k, "fork", n=4, heads=200, order="fifo", alloc="bump", seed=1) as w:
        cg.set_fake_reads([([0, 0], 0, 0), ([7, 1], 10, 9)])
        a = w.run("add", counters=cg)
        b = w.run("add", counters=cg)
        assert a.counts == b.counts == {"task-clock": (7, 10, 9), "page-faults": (1, 10, 9)}
        cg.set_fake_reads([])
        c = w.run("add", counters=cg)
        # real counts again: software events, never multiplexed
        assert c.counts["task-clock"][0] > 0
        assert c.counts["task-clock"][1] == c.counts["task-clock"][2]
        with pytest.raises(ValueError):
            cg.set_fake_reads([([1], 1, 1)])       # one value for two events


def test_an_event_that_failed_reads_zero_and_stays_out():
    bogus = ("bogus-hw", 0, 0xfff)
    r = _run([([0, 0, 0], 0, 0), ([99, 11, 3], 8, 8)], events=[bogus, "page-faults",
                                                               "task-clock"])
    assert set(r.counts) == {"page-faults", "task-clock"}
    assert r.counts["page-faults"] == (11, 8, 8)


def _fake_run(tmp_path, reads) -> tuple[pd.DataFrame, dict, str]:
    out = tmp_path / "run"
    env = {**os.environ, "RMAPBENCH_FAKE_READS": json.dumps(reads), "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--variant", "old",
                        "--n", "4", "--heads", "200", "--backend", "time", "--budget", "1",
                        "--processes", "1", "--out", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    p = subprocess.run([sys.executable, "-m", "bench.cli", "report", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return (pd.read_parquet(out / "results.parquet"), json.loads((out / "meta.json").read_text()),
            (out / "report.md").read_text())


def test_a_run_records_the_ratio_and_the_report_flags_it(tmp_path):
    enabled, running = 4_000_000, 1_000_000            # ratio 0.25 < MUX_WARN_RATIO
    assert running / enabled < MUX_WARN_RATIO
    df, meta, report = _fake_run(tmp_path, [
        {"enabled": 0, "running": 0},
        {"enabled": enabled, "running": running, "task-clock": 3_000_000, "page-faults": 7}])
    sw = df[df.metric.isin(["task-clock", "page-faults"])]
    assert len(sw) >= 4
    assert (sw.enabled_ratio == 0.25).all()
    # every value is scaled by enabled/running, then divided by its ops.  The
    # fake source hands out (start, end) per read pair: rb_run_phase reads one
    # pair per value, rb_run_sequence (fork's add and remove) one per region
    assert set(sw.phase) == {"add", "remove"}
    pairs = sw.loops
    total = sw.value * sw.loops * sw.ops
    assert list(total[sw.metric == "task-clock"]) == \
        pytest.approx(list(12_000_000 * pairs[sw.metric == "task-clock"]))
    assert list(total[sw.metric == "page-faults"]) == \
        pytest.approx(list(28 * pairs[sw.metric == "page-faults"]))
    assert "multiplexed counters" in report
    assert "Multiplexing warnings:" in report
    assert "task-clock: counted only 25.0% of the measured time" in report


def test_a_ratio_above_the_threshold_is_tabled_not_flagged(tmp_path):
    df, meta, report = _fake_run(tmp_path, [
        {"enabled": 0, "running": 0},
        {"enabled": 1_000_000, "running": 800_000, "task-clock": 700_000}])
    assert (df[df.metric == "task-clock"].enabled_ratio == 0.8).all()
    assert "multiplexed counters" in report and "| task-clock |" in report
    assert "Multiplexing warnings:" not in report


def test_a_group_that_never_ran_gives_no_rows_and_says_why(tmp_path):
    df, meta, report = _fake_run(tmp_path, [
        {"enabled": 0, "running": 0}, {"enabled": 1_000_000, "running": 0, "task-clock": 5}])
    assert not df.metric.isin(["task-clock", "page-faults"]).any()
    ev = meta["events"]["task-clock"]
    assert ev["supported"] is False and "never scheduled" in ev["reason"]
