"""The interleaved, paired timing design (docs/measurement.md): the disturbance
rule against a real competing process, the paired hierarchical bootstrap, and
several variant libraries side by side in one process.

No test asserts a time: a disturbance is asserted on its evidence (context
switches seen, values re-measured), never on how long anything took."""

import ctypes
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from bench.measure import D0_MAX, REASONS, RULE, disturbed, hier_ratio, moderate, prior_variance
from bench.native import Workload, load
from bench.runner import make_plan, measure_group, time_group

CLEAN = {"wall_ns": 1_000_000, "cpu_ns": 1_003_000, "nivcsw": 0, "nvcsw": 0, "faults": 0,
         "migrations": 0, "cpu": 1}


@pytest.mark.parametrize("change,reason", [
    ({}, None),
    ({"nivcsw": 1}, "preempted"),
    ({"nvcsw": 2}, "blocked"),
    ({"migrations": 1}, "migrated"),
    ({"faults": 3}, "page-faults"),
    # 1 ms wall, CPU time 0.9 ms: 100 us off the CPU > 1% + 2 us
    ({"cpu_ns": 900_000}, "off-cpu"),
    # 5 us off the CPU over 4 repetitions is within 1% + 4 x 2 us
    ({"cpu_ns": 995_000}, None),
    # 15 us off the CPU: within 10 us + 4 x 2 us = 18 us (the slack is per repetition)
    ({"cpu_ns": 985_000}, None),
    # 19 us off the CPU: beyond 18 us
    ({"cpu_ns": 981_000}, "off-cpu"),
])
def test_disturbance_rule(change, reason):
    assert disturbed({**CLEAN, **change}, 4, RULE) == reason


def test_hier_ratio_recovers_a_known_paired_ratio_and_pairing_narrows_it():
    rng = np.random.default_rng(5)
    nums, dens = [], []
    for p in range(6):                       # six layouts, each with its own level
        level = rng.normal(100, 10)
        drift = level * (1 + rng.normal(0, 0.05, 40))    # shared by both arms
        dens.append(drift * (1 + rng.normal(0, 0.005, 40)))
        nums.append(1.07 * drift * (1 + rng.normal(0, 0.005, 40)))
    h = hier_ratio(nums, dens)
    assert h["lo"] < 1.07 < h["hi"]
    assert h["pvalue"] < 0.01 and h["halfwidth"] < 0.01
    # the same values unpaired (rounds of num shuffled against den) are far less precise
    shuffled = [rng.permutation(x) for x in nums]
    assert hier_ratio(shuffled, dens)["halfwidth"] > 2 * h["halfwidth"]
    # A/A: no difference, p-value not small
    aa = hier_ratio([d * (1 + rng.normal(0, 0.005, 40)) for d in dens], dens)
    assert aa["lo"] < 1 < aa["hi"] and aa["pvalue"] > 0.05


def test_hier_ratio_winsorizes_a_rare_outlier():
    rng = np.random.default_rng(3)
    base = [10 * (1 + rng.normal(0, 0.01, 50))]
    num = [base[0] * 1.02 * (1 + rng.normal(0, 0.01, 50))]
    num[0][7] *= 5                            # one value five times too slow
    h = hier_ratio(num, base)
    assert h["clipped"] == 1
    assert abs(h["ratio"] - 1.02) < 0.01


def test_weighted_trim_mean_equals_the_trimmed_mean_of_the_expanded_sample():
    from scipy import stats as sst

    from bench.measure import weighted_trim_mean

    rng = np.random.default_rng(8)
    for trim in (0.0, 0.1, 0.2, 0.25):
        v = np.sort(rng.normal(0, 1, 23))
        w = rng.integers(0, 4, size=(40, 23))
        w[:, 0] += 1                            # no empty multiset
        got = weighted_trim_mean(v, w, trim)
        want = [sst.trim_mean(np.repeat(v, row), trim) for row in w]
        assert np.allclose(got, want, rtol=0, atol=1e-12), trim


def test_hier_ratio_is_not_moved_by_a_right_tail_of_slow_values():
    """One value in six of the variant is 8% slow (the right-skewed noise of
    this host): the trimmed estimate stays at the true ratio, the geometric
    mean of all values would move by 8%/6."""
    rng = np.random.default_rng(21)
    nums, dens = [], []
    for p in range(4):
        d = 100 * (1 + rng.normal(0, 0.003, 120))
        x = 1.03 * 100 * (1 + rng.normal(0, 0.003, 120))
        x[rng.random(120) < 1 / 6] *= 1.08
        nums.append([x[i:i + 4] for i in range(0, 120, 4)])
        dens.append([d[i:i + 4] for i in range(0, 120, 4)])
    h = hier_ratio(nums, dens)
    gm = np.exp(np.mean(np.log(np.concatenate([np.concatenate(p) for p in nums]) /
                               np.concatenate([np.concatenate(p) for p in dens]))))
    assert gm > 1.03 * 1.009                       # the mean follows the tail
    assert abs(h["ratio"] / 1.03 - 1) < 0.004      # the trimmed estimate does not
    assert h["lo"] < 1.03 < h["hi"] * 1.004


def test_hier_ratio_pvalue_is_two_sided():
    """Paired log ratios -1, 0, +1: the resampled mean is symmetric about 0
    and is exactly 0 in 7 of the 27 equally likely resamples of three
    values, so each tail (ratio <= 1 and ratio >= 1) holds about
    (1 + 7/27) / 2 = 0.63 of them; doubled, the p-value is capped at 1."""
    e = float(np.e)
    h = hier_ratio([[1 / e, 1.0, e]], [[1.0, 1.0, 1.0]], n_resamples=4000)
    assert h["ratio"] == pytest.approx(1.0)
    assert h["pvalue"] == 1.0
    # logs -0.5, 0.5, 1.5: ratio <= 1 needs a resampled sum <= 0: (-0.5 x 3) and
    # (-0.5, -0.5, 0.5) in 3 orders, 4 of 27 resamples; doubled: 8/27 = 0.296
    h = hier_ratio([[np.exp(-0.5), np.exp(0.5), np.exp(1.5)]], [[1.0, 1.0, 1.0]],
                   n_resamples=20000)
    assert h["pvalue"] == pytest.approx(8 / 27, abs=0.02)


def test_hier_ratio_epochs_carry_their_rounds_and_still_cover_the_truth():
    """Log ratios from a known model (process, epoch and round effects, the
    round effect largest): drawing epochs whole covers the true ratio in at
    least 90% of 200 data sets, with intervals narrower than when the rounds
    are drawn again inside each drawn epoch (their noise counted twice)."""
    rng = np.random.default_rng(4)
    truth = np.exp(0.03)
    covered, hw_epochs, hw_rounds = 0, [], []
    for rep in range(200):
        nums, dens = [], []
        for p in range(4):
            pe = rng.normal(0, 0.002)
            num_p, den_p = [], []
            for e in range(10):
                base = np.exp(rng.normal(0, 0.05, 4))        # shared by the pair
                num_p.append(base * np.exp(0.03 + pe + rng.normal(0, 0.006)
                                           + rng.normal(0, 0.02, 4)))
                den_p.append(base)
            nums.append(num_p)
            dens.append(den_p)
        h = hier_ratio(nums, dens, n_resamples=400, seed=rep)
        covered += h["lo"] < truth < h["hi"]
        hw_epochs.append(h["halfwidth"])
        hw_rounds.append(hier_ratio(nums, dens, n_resamples=400, seed=rep,
                                    resample_rounds=True)["halfwidth"])
    assert covered >= 180
    assert np.mean(hw_epochs) < 0.85 * np.mean(hw_rounds)


def test_hier_ratio_with_few_epochs_draws_rounds_too():
    """One process of one epoch: drawing epochs alone would give an interval of
    width 0; below MIN_EPOCHS epochs the rounds are drawn as well."""
    rng = np.random.default_rng(2)
    d = 100 * (1 + rng.normal(0, 0.01, 12))
    x = 1.05 * d * (1 + rng.normal(0, 0.01, 12))
    h = hier_ratio([x], [d])
    assert h["epochs"] == 1 and h["halfwidth"] > 0.001
    assert h["lo"] < 1.05 < h["hi"]
    flat = hier_ratio([x], [d], resample_rounds=False)
    assert flat["lo"] == flat["hi"]


def test_hier_ratio_dear_case_draws_its_processes_whole_and_covers_the_truth():
    """A dear case: six processes of one or two layouts each (fewer than
    MIN_EPOCHS in all), a layout effect and round noise larger than it.
    The processes are enough units: the interval is process-t (whole
    processes drawn), covers the true ratio in at least 90% of 200 data
    sets, and is narrower than when the rounds are drawn again inside them."""
    rng = np.random.default_rng(11)
    truth = np.exp(-0.05)
    covered, hw, hw_rounds, kinds = 0, [], [], set()
    for rep in range(200):
        nums, dens = [], []
        for p in range(6):
            num_p, den_p = [], []
            for e in range(1 + p % 2):
                base = np.exp(rng.normal(0, 0.1, 8))         # shared by the pair
                num_p.append(base * np.exp(-0.05 + rng.normal(0, 0.03)
                                           + rng.normal(0, 0.08, 8)))
                den_p.append(base)
            nums.append(num_p)
            dens.append(den_p)
        h = hier_ratio(nums, dens, n_resamples=400, seed=rep)
        kinds.add(h["interval"])
        covered += h["lo"] < truth < h["hi"]
        hw.append(h["halfwidth"])
        hw_rounds.append(hier_ratio(nums, dens, n_resamples=400, seed=rep,
                                    resample_rounds=True)["halfwidth"])
    assert kinds == {"process-t"}
    assert covered >= 180
    assert np.mean(hw) < 0.9 * np.mean(hw_rounds)


def test_variant_libraries_side_by_side_keep_their_own_symbols():
    old, k23 = load("old", 3), load("kvm-2023", 14)
    fa = ctypes.cast(old.lib.pte_list_add, ctypes.c_void_p).value
    fb = ctypes.cast(k23.lib.pte_list_add, ctypes.c_void_p).value
    assert fa != fb
    # each library's workload calls its own pte_list_add: kvm-2023 returns the exact
    # count before each add, old undercounts after a tail append (DESIGN.md section 3)
    n, heads = 16, 10
    with Workload(k23, "fork", n=n, heads=heads) as a, Workload(old, "fork", n=n, heads=heads) as b:
        ra, rb = a.run("add"), b.run("add")
        assert ra.checksum == heads * n * (n - 1) // 2
        assert rb.checksum < ra.checksum


def test_a_competing_process_on_the_same_cpu_is_caught_and_remeasured():
    plan = make_plan("time", budget=6)
    t = plan.timing
    t.min_processes = t.max_processes = 1
    t.slice_s = 3.0
    cases = [{"workload": "fork", "variant": v, "ext": e, "n": 16, "heads": 512,
              "order": "fifo", "alloc": "bump", "seed": 1} for v, e in (("old", 3),
                                                                       ("kvm-2023", 14))]
    cpu = plan.cpu
    hog = {}

    def start_hog():
        time.sleep(1.0)                          # part of the run only
        hog["p"] = subprocess.Popen(
            [sys.executable, "-c", "import os,time\nos.sched_setaffinity(0, {%d})\n"
             "end = time.monotonic() + 1.0\nwhile time.monotonic() < end: pass" % cpu])

    th = threading.Thread(target=start_hog)
    th.start()
    try:
        timed = time_group(cases, plan)
    finally:
        th.join()
        if "p" in hog:
            hog["p"].kill()
            hog["p"].wait()
    values = [v for v in timed["procs"][0] if v["kind"] == "value" and not v["warmup"]]
    remeasured = [v for v in values if v["retries"] > 0 or v["disturbed"]]
    reasons = {r for v in values for r in v["reasons"]}
    # the competing process preempted the worker: those values were caught (the
    # evidence names it) and measured again
    assert remeasured, "no value was re-measured while a busy process shared the CPU"
    assert "preempted" in reasons or "off-cpu" in reasons
    assert reasons <= set(REASONS)
    # a kept value is clean, or flagged as disturbed after max_retries attempts
    for v in values:
        assert v["disturbed"] or v["evidence"]["nivcsw"] == 0
        assert len(v["reasons"]) <= t.max_retries + 1


def test_group_rows_count_remeasured_values_per_case():
    plan = make_plan("time", pyperf_args=["--processes", "1", "--values", "3",
                                          "--warmups", "0"])
    cases = [{"workload": "walk", "variant": "old", "ext": 3, "n": 4, "heads": 64,
              "order": "fifo", "alloc": "bump", "seed": 1}]
    (case, rows, text), = measure_group(cases, plan, "r", "h")
    t = [r for r in rows if r["metric"] == "time"]
    assert len(t) == 3
    assert {r["remeasured"] for r in t} == {sum(r["retries"] > 0 for r in t)}
    assert all(r["halfwidth_of"] == "mean" for r in t)


def test_aa_summary_figures_and_goals():
    import pandas as pd

    from analysis.compare import aa_summary

    # two runs: ratio to the baseline per case in A and B with their intervals
    base_tbl = pd.DataFrame({
        "metric": ["time"] * 4, "exact": [False] * 4,
        "ratio_a": [1.00, 0.50, 2.00, 1.10], "ci_lo_a": [0.99, 0.495, 1.98, 1.089],
        "ci_hi_a": [1.01, 0.505, 2.02, 1.111],
        "ratio_b": [1.005, 0.50, 2.10, 1.10], "ci_lo_b": [0.995, 0.495, 2.079, 1.089],
        "ci_hi_b": [1.015, 0.505, 2.121, 1.111]})
    cmp = pd.DataFrame({"metric": ["time"] * 4, "exact": [False] * 4,
                        "ratio": [1.01, 0.98, 1.05, 1.0],
                        "verdict": ["no significant difference"] * 3 + ["worse"]})
    run = pd.DataFrame({"metric": ["time"] * 2, "simulated": [False] * 2, "run_id": ["a", "a"],
                        "workload": ["fork"] * 2, "phase": ["add", "remove"],
                        "variant": ["new"] * 2, "ext": [3, 3], "n": [1, 1], "heads": [9, 9],
                        "order": ["fifo"] * 2, "alloc": ["bump"] * 2, "seed": [1, 1],
                        "halfwidth": [0.004, 0.02], "halfwidth_of": ["ratio to old@3"] * 2})
    fig, lines = aa_summary(cmp, base_tbl, run, run.assign(run_id="b"))
    assert fig["halfwidth_median"] == pytest.approx(0.012)
    assert fig["change_median"] == pytest.approx(0.0025)      # |1.005/1 - 1|, 0, 5%, 0
    # the 5% change of the third case is far outside both 1% intervals: significant
    assert fig["significant"] == 1 and fig["ratio_cases"] == 4
    assert fig["abs_significant"] == 1
    text = "\n".join(lines)
    assert "MISSED" in text and "met" in text


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_aa_summary_calibration_says_whether_intervals_cover_the_run_to_run_change(scale):
    """Ratios of B drawn around A's with the spread their intervals claim
    (scale 1) have z of sd 1; drawn with three times that spread, sd 3."""
    import pandas as pd

    from analysis.compare import aa_summary

    rng = np.random.default_rng(11)
    n, se = 400, 0.01                        # each run's log-ratio standard error
    true = rng.uniform(0.5, 2.0, n)
    la = np.log(true) + rng.normal(0, se, n)
    lb = np.log(true) + rng.normal(0, se * scale, n) if scale == 1 else \
        la + rng.normal(0, se * scale * np.sqrt(2), n)
    w = 1.96 * se
    base_tbl = pd.DataFrame({"metric": "time", "exact": False,
                             "ratio_a": np.exp(la), "ci_lo_a": np.exp(la - w), "ci_hi_a": np.exp(la + w),
                             "ratio_b": np.exp(lb), "ci_lo_b": np.exp(lb - w), "ci_hi_b": np.exp(lb + w)})
    cmp = pd.DataFrame({"metric": ["time"], "exact": [False], "ratio": [1.0],
                        "verdict": ["no significant difference"]})
    empty = pd.DataFrame({"metric": [], "simulated": []})
    fig, lines = aa_summary(cmp, base_tbl, empty, empty)
    assert fig["z_sd"] == pytest.approx(scale, rel=0.15)
    beyond = 2 * (1 - __import__("scipy").stats.norm.cdf(1.96 / scale))   # 5% at scale 1
    assert fig["z_beyond"] == pytest.approx(beyond, abs=0.035)
    assert any("interval calibration" in ln and f"{fig['z_sd']:.2f}" in ln for ln in lines)


@pytest.mark.parametrize("args,needle", [
    (["--sensitivity", "--chains", "4,x"], "4,x"),
    (["--sensitivity", "--chains", "0"], "'0'"),
    (["--sensitivity", "--repeats", "0"], "0"),
    (["--sensitivity", "--variant", "nope"], "nope"),
])
def test_sensitivity_bad_input_is_one_line(args, needle):
    from tests.conftest import assert_usage_error, run_cli

    assert_usage_error(run_cli("doctor", *args), needle)


def test_injected_chain_is_built_into_its_own_library_only():
    from bench.native import _measure_lib

    plain = load("old", 3)
    inj = load("old", 3, "-O2 -DRB_INJECT_CHAIN=8")
    assert plain.artifact.path != inj.artifact.path
    assert _measure_lib(plain).rb_inject_chain() == 0
    assert _measure_lib(inj).rb_inject_chain() == 8
    # same variant code: same results
    with Workload(plain, "fork", n=8, heads=16) as a, Workload(inj, "fork", n=8, heads=16) as b:
        assert a.run("add").checksum == b.run("add").checksum


def test_sensitivity_summary_counts_false_positives_and_detections():
    from bench.sensitivity import summarize

    res = [{"arm": "A/A", "chain": 0, "ratio": 1.001, "halfwidth": 0.01, "significant": False},
           {"arm": "A/A", "chain": 0, "ratio": 0.97, "halfwidth": 0.01, "significant": True},
           {"arm": "chain 4", "chain": 4, "ratio": 1.03, "halfwidth": 0.01, "significant": True},
           {"arm": "chain 4", "chain": 4, "ratio": 1.04, "halfwidth": 0.03, "significant": False}]
    s = summarize(res)
    assert s["aa_false_positives"] == 1 and s["aa_false_positive_rate"] == 0.5
    assert (s["near3_cases"], s["near3_detected"]) == (2, 1)
    assert s["by_chain"][4]["detected"] == 1
    # MDE at 95% power = (1.96 + 1.645) / 1.96 * half-width
    assert s["mde_median"] == pytest.approx(3.604818 / 1.959964 * 0.01)


def test_hier_ratio_with_enough_processes_uses_t_over_processes_and_covers():
    """A model where the process level carries most of the variance (what
    two A/A sweeps showed): 8 processes x 12 layouts x 3 rounds.  With five or
    more processes the interval is Student's t over the
    processes: it covers the true ratio in 90-99% of 200 data sets (a normal
    quantile over a bootstrap of 8 units covers less), and the A/A p-values
    call about 5% of null data sets significant, not many more."""
    from scipy import stats as sst

    rng = np.random.default_rng(11)
    truth = np.exp(0.02)
    covered, fp, normal_covered, pl_covered = 0, 0, 0, 0
    for rep in range(200):
        for effect in (0.02, 0.0):
            nums, dens = [], []
            for p in range(8):
                pe = rng.normal(0, 0.008)
                num_p, den_p = [], []
                for e in range(12):
                    base = np.exp(rng.normal(0, 0.05, 3))
                    num_p.append(base * np.exp(effect + pe + rng.normal(0, 0.003)
                                               + rng.normal(0, 0.01, 3)))
                    den_p.append(base)
                nums.append(num_p)
                dens.append(den_p)
            h = hier_ratio(nums, dens, n_resamples=400, seed=rep)
            assert h["interval"] == "process-t"
            if effect:
                covered += h["lo"] < truth < h["hi"]
                # the same standard error with a normal quantile: too narrow
                z = sst.norm.ppf(0.975) / sst.t.ppf(0.975, 7)
                lo = h["ratio"] * (h["lo"] / h["ratio"]) ** z
                hi = h["ratio"] * (h["hi"] / h["ratio"]) ** z
                normal_covered += lo < truth < hi
                pl = hier_ratio(nums, dens, n_resamples=400, seed=rep, resample_rounds=False,
                                min_processes_t=99)
                pl_covered += pl["lo"] < truth < pl["hi"]
            else:
                fp += h["pvalue"] < 0.05
    assert 180 <= covered <= 198, covered
    assert normal_covered < covered
    # drawing layouts inside drawn processes, normal quantile: 180 of 200 here
    assert pl_covered < covered
    assert fp <= 18, fp


def test_hier_ratio_with_few_processes_keeps_the_layout_draw():
    rng = np.random.default_rng(3)
    nums = [[1.03 * np.exp(rng.normal(0, 0.01, 3)) for _ in range(6)] for _ in range(4)]
    dens = [[np.ones(3) for _ in range(6)] for _ in range(4)]
    assert hier_ratio(nums, dens)["interval"] == "process-layout"
    assert hier_ratio(nums * 2, dens * 2)["interval"] == "process-t"
    assert hier_ratio(nums[:1], dens[:1])["interval"] == "process-layout-round"


def test_prior_variance_recovers_a_known_prior():
    """Variances with 5 degrees of freedom each, their true values drawn from
    a scaled inverse chi-square with d0 = 8 and s0 = 0.01: the method of
    moments gets both back; equal true variances give the cap."""
    rng = np.random.default_rng(5)
    d, d0, s02, m = 5, 8, 1e-4, 4000
    sigma2 = d0 * s02 / rng.chisquare(d0, m)
    s2 = sigma2 * rng.chisquare(d, m) / d
    est_d0, est_s02 = prior_variance(s2, np.full(m, float(d)))
    assert 6.5 < est_d0 < 10.5, est_d0
    # within 5% (the geometric mean of the s2, 0.92 s0^2 here, is not)
    assert 0.95 * s02 < est_s02 < 1.05 * s02, est_s02
    same = s02 * rng.chisquare(d, m) / d
    assert prior_variance(same, np.full(m, float(d)))[0] == D0_MAX


def _group(rng, effect, sds, P=6, E=12, R=2):
    """One group's data: every arm against the same baseline rounds, each
    arm with its own process-level sd (sds), in P processes of E layouts."""
    base = [[np.exp(rng.normal(0, 0.05, R)) for _ in range(E)] for _ in range(P)]
    arms = []
    for sd in sds:
        nums = []
        for p in range(P):
            pe = rng.normal(0, sd)
            nums.append([b * np.exp(effect + pe + rng.normal(0, 0.02, R)) for b in base[p]])
        arms.append((nums, base))
    return arms


def test_moderated_intervals_cover_and_are_narrower():
    """Nine arms of a group whose process-level sds differ moderately
    (0.006-0.012): moderating their variances together keeps coverage in
    90-99% and the A/A false-positive rate near 5%, and the intervals are
    narrower on average than each arm's own process-t (t with 5 degrees of
    freedom)."""
    rng = np.random.default_rng(17)
    covered = total = fp = nulls = 0
    hw_own, hw_mod = [], []
    for rep in range(60):
        sds = rng.uniform(0.006, 0.012, 9)
        for effect in (0.02, 0.0):
            own = [hier_ratio(n, d, n_resamples=300, seed=rep) for n, d in _group(rng, effect, sds)]
            mod = moderate(own)
            assert all(r["interval"] == "process-t-moderated" for r in mod)
            assert all(r["df"] > 5 for r in mod)
            if effect:
                covered += sum(r["lo"] < np.exp(effect) < r["hi"] for r in mod)
                total += len(mod)
                hw_own += [r["halfwidth"] for r in own]
                hw_mod += [r["halfwidth"] for r in mod]
            else:
                fp += sum(r["pvalue"] < 0.05 for r in mod)
                nulls += len(mod)
    assert 0.90 <= covered / total <= 0.99, covered / total
    assert fp / nulls <= 0.09, fp / nulls
    assert np.mean(hw_mod) < 0.95 * np.mean(hw_own), (np.mean(hw_mod), np.mean(hw_own))


def test_moderate_leaves_few_arms_and_other_intervals_alone():
    rng = np.random.default_rng(8)
    own = [hier_ratio(n, d, n_resamples=200) for n, d in _group(rng, 0.01, [0.01] * 3)]
    assert moderate(own) == own                                   # three arms: too few
    few = [hier_ratio([p[:1] for p in n[:4]], [p[:1] for p in d[:4]], n_resamples=200)
           for n, d in _group(rng, 0.01, [0.01] * 6)]
    assert {r["interval"] for r in few} == {"process-layout-round"}
    assert moderate(few) == few                                   # not process-t
    mean = hier_ratio(*_group(rng, 0.01, [0.01])[0][:1], n_resamples=200)   # den None
    assert moderate([mean] * 5) == [mean] * 5                     # no ratio, no test


def test_seconds_for_a_target_scale_as_the_square_of_the_half_width():
    from bench.measure import seconds_for

    assert seconds_for(0.02, 15.0, 0.01) == pytest.approx(60.0)      # twice as wide: 4x
    assert seconds_for(0.03, 10.0, 0.01) == pytest.approx(90.0)
    assert seconds_for(0.008, 15.0, 0.01) == 15.0                    # reached already
    for bad in ((float("nan"), 15.0, 0.01), (0.02, 0.0, 0.01), (0.02, 15.0, 0.0),
                (None, 15.0, 0.01), (0.02, float("inf"), 0.01)):
        assert seconds_for(*bad) != seconds_for(*bad)                # nan
