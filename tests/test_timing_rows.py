"""Counter values of a timed case: multiplexing scaled out by hand.

perf_event reports (raw, time_enabled, time_running) per counter; a counter
scheduled only part of the time it was enabled is scaled up to the whole
window: estimate = raw * enabled / running.  A counter never scheduled
(running 0) has no estimate at all: no row, and the event is marked
unsupported with the reason."""

import pytest

from bench.runner import Plan, _timing_rows

CASE = {"workload": "walk", "variant": "old", "ext": 3, "n": 64, "heads": 10,
        "order": "fifo", "alloc": "bump", "seed": 1}


def _value(ns, counts, round_=0):
    return {"kind": "value", "warmup": False, "arm": 0, "phase": "walk", "retries": 0,
            "disturbed": False, "reasons": [], "ops": 10, "loops": 4, "round": round_,
            "epoch": 0, "footprint": 1000, "ns": ns, "counts": counts,
            "evidence": {"wall_ns": ns, "cpu_ns": ns, "nivcsw": 0, "faults": 0,
                         "migrations": 0}}


def _plan():
    return Plan(requested="perf", backend="perf", reason="test", timed=True, cpu=0,
                events=["instructions", "cache-misses", "branches", "task-clock"],
                event_support={})


def test_counters_scaled_by_enabled_over_running():
    plan = _plan()
    counts = {
        # scheduled a quarter of the time: 600 counted -> 600 * 1000/250 = 2400
        # over loops * ops = 40 operations: 60 per op; enabled ratio 0.25
        "instructions": (600, 1000, 250),
        # scheduled all the time: 80 / 40 = 2 per op, ratio 1
        "cache-misses": (80, 1000, 1000),
        # never scheduled: no estimate
        "branches": (0, 1000, 0),
        # a time event: 2000 ns counted during 500 of 800 -> 3200 ns / 40 = 80 ns/op
        "task-clock": (2000, 800, 500),
    }
    timed = {"prec": {}, "procs": [[_value(4000, counts)]], "stopped": "fixed count"}
    rows = _timing_rows(CASE, 0, plan, {"run_id": "r", "host": "h"}, timed, "old")
    by = {r["metric"]: r for r in rows}
    assert set(by) == {"time", "time-net", "instructions", "cache-misses", "task-clock"}
    assert by["time"]["value"] == pytest.approx(4000 / 40)
    assert by["instructions"]["value"] == pytest.approx(60.0)
    assert by["instructions"]["enabled_ratio"] == pytest.approx(0.25)
    assert by["instructions"]["unit"] == "events/op"
    assert by["cache-misses"]["value"] == pytest.approx(2.0)
    assert by["cache-misses"]["enabled_ratio"] == pytest.approx(1.0)
    assert by["task-clock"]["value"] == pytest.approx(80.0)
    assert by["task-clock"]["enabled_ratio"] == pytest.approx(0.625)
    assert by["task-clock"]["unit"] == "ns/op"
    assert all(r["backend"] == "perf" and r["simulated"] is False for r in rows)
    assert plan.event_support["branches"]["supported"] is False
    assert "time_running 0" in plan.event_support["branches"]["reason"]
    assert "instructions" not in plan.event_support


def test_every_value_scaled_by_its_own_window():
    """Two values of one case, multiplexed differently: each is scaled by
    its own enabled/running, not by a shared factor."""
    plan = _plan()
    recs = [_value(4000, {"instructions": (500, 1000, 500)}, 0),     # 1000 -> 25/op
            _value(4000, {"instructions": (100, 1000, 100)}, 1)]     # 1000 -> 25/op
    timed = {"prec": {}, "procs": [recs], "stopped": "fixed count"}
    rows = [r for r in _timing_rows(CASE, 0, plan, {}, timed, "old")
            if r["metric"] == "instructions"]
    assert [r["value"] for r in rows] == pytest.approx([25.0, 25.0])
    assert [r["enabled_ratio"] for r in rows] == pytest.approx([0.5, 0.1])


def test_rows_carry_the_groups_timing_seconds_and_run_says_what_budget_would_do():
    import pandas as pd

    from bench.run import budget_line
    from bench.runner import Timing

    timed = {"prec": {(1, "walk"): {"halfwidth": 0.03}},
             "procs": [[_value(4000, {}), {**_value(4400, {}), "arm": 1}]],
             "stopped": "budget", "seconds": 12.0}
    rows = _timing_rows(CASE, 1, _plan(), {"run_id": "r", "host": "h", "variant": "new",
                                           "ext": 3}, timed, "old@3")
    assert rows and {r["timing_s"] for r in rows} == {12.0}
    assert {r["halfwidth"] for r in rows} == {0.03}
    df = pd.DataFrame(rows)
    t = Timing(precision=0.01, budget=12.0)
    line = budget_line(df, t)
    # 3% after 12 s against 1%: nine times the time
    assert line and "±3.00%" in line and "--budget 108 " in line
    # beyond what --budget allows: the half-width --budget 3600 would reach instead
    far = budget_line(df.assign(halfwidth=0.3), t)
    assert "--budget 3600 would reach about ±1.7%" in far
    # reached, or stopped by precision, or a run without the seconds: nothing to say
    assert budget_line(df.assign(halfwidth=0.005), t) is None
    assert budget_line(df.assign(stopped="precision"), t) is None
    assert budget_line(df.drop(columns="timing_s"), t) is None
