"""The phase sequence (rb_run_sequence, native/harness.c): fork's and
guest's add and remove timed back to back in one repetition.  It is only
worth its name if each region starts from the state its own prepare would
build (the invariant stated at struct rb_workload_ops), so that the values
mean what rb_run_phase's mean.  Checked for every variant by the rmap's
fingerprint (every head's sptes in walk order, live descriptors), and by
what the two paths report; the worker's use of it, retries included, below."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from bench.build import ROOT
from bench.errors import UsageError
from bench.measure import REASONS
from bench.native import Workload, load
from bench.variants import VARIANTS, default_ext

ALL = list(VARIANTS)


def kernel(variant):
    return load(variant, default_ext(variant))


def _states_agree(w):
    """add's end state (prepare(add), then add's region) against the state
    prepare(remove) builds, by fingerprint."""
    w.prepare("remove")
    want = w.fingerprint()
    assert w.phase_once("remove") == 0  # back to empty: nothing live, prepare may rewind
    w.prepare("add")
    assert w.phase_once("add") >= 0
    got = w.fingerprint()
    w.phase_once("remove")
    w.run("add")                        # undo drains what is left, checks empty
    return want, got


@pytest.mark.parametrize("variant", ALL)
def test_remove_starts_where_add_ends_for_every_variant(variant):
    k = kernel(variant)
    for wl, n, heads in (("fork", 1, 300), ("fork", 5, 300), ("fork", 40, 70), ("guest", 0, 900)):
        for order in ("fifo", "lifo", "random"):
            for alloc in ("bump", "scatter", "slab"):
                with Workload(k, wl, n=n, heads=heads, order=order, alloc=alloc, seed=5) as w:
                    assert w.sequence == ["add", "remove"]
                    want, got = _states_agree(w)
                    assert want == got, (wl, n, order, alloc)


def test_the_fingerprint_sees_a_different_state():
    """The check above could not fail if the fingerprint ignored the rmap."""
    k = kernel("kvm-2023")
    with Workload(k, "fork", n=5, heads=300, order="fifo", alloc="bump", seed=5) as w:
        empty = w.fingerprint()
        w.prepare("remove")
        full = w.fingerprint()
        w.phase_once("remove")
        assert w.fingerprint() == empty != full
        w.run("add")
    with Workload(k, "fork", n=6, heads=300, order="fifo", alloc="bump", seed=5) as w6:
        w6.prepare("remove")
        assert w6.fingerprint() != full
        w6.phase_once("remove")
        w6.run("remove")


@pytest.mark.parametrize("variant", ALL)
def test_sequence_reports_what_separate_phases_report(variant):
    k = kernel(variant)
    for wl, n, heads in (("fork", 7, 500), ("guest", 0, 2000)):
        with Workload(k, wl, n=n, heads=heads, order="random", alloc="scatter", seed=2) as w:
            add, rem = w.run_sequence(loops=3)
            a1, r1 = w.run("add", 3), w.run("remove", 3)
            assert (add.phase, rem.phase) == ("add", "remove")
            for s, p in ((add, a1), (rem, r1)):
                assert (s.ops, s.loops, s.bad, s.live_after) == (p.ops, 3, 0, 0)
                assert s.footprint == p.footprint and s.peak_descs == p.peak_descs
                assert s.checksum == p.checksum
                assert s.ns > 0 and s.evidence["wall_ns"] == s.ns
            assert w.live_descs == 0 and not w.arena_grew


@settings(max_examples=25, deadline=None)
@given(variant=st.sampled_from(ALL), n=st.integers(1, 70), heads=st.integers(1, 700),
       order=st.sampled_from(["fifo", "lifo", "random"]),
       alloc=st.sampled_from(["bump", "scatter", "slab"]), seed=st.integers(0, 2**32))
def test_sequence_invariant_any_fork_case(variant, n, heads, order, alloc, seed):
    with Workload(kernel(variant), "fork", n=n, heads=heads, order=order, alloc=alloc,
                  seed=seed) as w:
        want, got = _states_agree(w)
        assert want == got
        add, rem = w.run_sequence(2)
        assert add.bad == rem.bad == 0 and add.ops == rem.ops == n * heads


def test_workloads_without_a_sequence_refuse_it():
    k = kernel("old")
    for wl in ("walk", "churn", "null"):
        with Workload(k, wl, n=4, heads=20) as w:
            assert w.sequence == []
            with pytest.raises(UsageError, match="no phase sequence"):
                w.run_sequence()


def _worker(tmp_path, spec_extra, workload="fork"):
    spec = {"case": {"workload": workload, "n": 8, "heads": 300, "order": "fifo",
                     "alloc": "bump", "seed": 1},
            "arms": [{"variant": "old", "ext": 3}, {"variant": "kvm-2023", "ext": 14}],
            "null": {"n": 8, "heads": 300}, "cpu": sorted(os.sched_getaffinity(0))[-1],
            "events": [], "rule": {"off_cpu_frac": 0.01, "off_cpu_slack_ns": 2000},
            "max_retries": 2, "rounds": 4, "warmup_rounds": 0, "loops": 3,
            "value_s": 0.002, "max_value_s": 0.05, "epoch_rounds": 0, "seed": 9,
            "slice_s": 100.0, **spec_extra}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out.jsonl"
    p = subprocess.run([sys.executable, "-m", "bench.worker", str(tmp_path / "spec.json"),
                        str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return [json.loads(ln) for ln in out.read_text().splitlines()]


def test_worker_times_fork_as_one_sequence_unit_per_arm(tmp_path):
    recs = _worker(tmp_path, {})
    vals = [r for r in recs if r["kind"] == "value"]
    # a value of add and of remove per arm per round, plus the null kernel's
    for rnd in range(4):
        got = sorted((v["arm"], v["phase"]) for v in vals if v["round"] == rnd)
        assert got == [(-1, "null"), (0, "add"), (0, "remove"), (1, "add"), (1, "remove")]
    # a sequence unit's add and remove are measured by the same call, adjacent
    for i, v in enumerate(vals):
        if v["phase"] == "add":
            assert vals[i + 1]["phase"] == "remove" and vals[i + 1]["arm"] == v["arm"]
    cal = {r["phase"]: r["loops"] for r in recs if r["kind"] == "calibration"}
    assert cal["add"] == cal["remove"] == 3


def test_a_dear_disturbed_value_is_not_measured_again_past_the_slice(tmp_path):
    """Every attempt disturbed (as above), but every value dearer than
    max_value_s and the slice spent: each is kept at its first attempt,
    flagged disturbed with its reason, instead of three more repetitions."""
    recs = _worker(tmp_path, {"rule": {"off_cpu_frac": -1.0, "off_cpu_slack_ns": 0},
                              "rounds": 1, "max_value_s": 1e-6, "slice_s": 1e-6})
    vals = [r for r in recs if r["kind"] == "value"]
    assert len(vals) == 5                                   # 2 arms x 2 phases + null
    for v in vals:
        assert v["disturbed"] is True and v["retries"] == 0
        # off-cpu by the rule; preempted first when the test host is busy
        assert len(v["reasons"]) == 1 and v["reasons"][0] in ("off-cpu", "preempted")
    # a dear value is measured again while the slice has room for it
    (tmp_path / "room").mkdir()
    recs = _worker(tmp_path / "room", {"rule": {"off_cpu_frac": -1.0, "off_cpu_slack_ns": 0},
                                       "rounds": 1, "max_value_s": 1e-6})
    vals = [r for r in recs if r["kind"] == "value"]
    assert vals and all(v["retries"] == 2 and len(v["reasons"]) == 3 for v in vals)
    # a cheap value is still measured again at the end of the slice
    (tmp_path / "cheap").mkdir()
    recs = _worker(tmp_path / "cheap", {"rule": {"off_cpu_frac": -1.0, "off_cpu_slack_ns": 0},
                              "rounds": 1, "slice_s": 1e-6})
    vals = [r for r in recs if r["kind"] == "value"]
    assert vals and all(v["retries"] == 2 and len(v["reasons"]) == 3 for v in vals)


def test_worker_can_still_time_the_phases_apart(tmp_path):
    vals = [r for r in _worker(tmp_path, {"sequence": False}) if r["kind"] == "value"]
    adds = [i for i, v in enumerate(vals) if v["phase"] == "add"]
    # shuffled as separate units: some add is not followed by its own remove
    assert any(vals[i + 1 if i + 1 < len(vals) else i]["phase"] != "remove"
               or vals[i + 1]["arm"] != vals[i]["arm"] for i in adds)


def test_a_disturbed_sequence_is_retried_and_each_phase_says_so(tmp_path):
    """A rule no region can pass (off-CPU allowance below zero): every
    attempt is disturbed, so each phase ends re-measured max_retries times,
    kept as disturbed, with its own reasons."""
    recs = _worker(tmp_path, {"rule": {"off_cpu_frac": -1.0, "off_cpu_slack_ns": 0},
                              "rounds": 1})
    vals = [r for r in recs if r["kind"] == "value" and r["phase"] in ("add", "remove")]
    assert len(vals) == 4
    for v in vals:
        assert v["disturbed"] is True and v["retries"] == 2
        assert len(v["reasons"]) == 3 and set(v["reasons"]) <= set(REASONS)
        assert "off-cpu" in v["reasons"]
