"""analysis.stats on synthetic data with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from bench.errors import UsageError


def normal(mean, sd, size, seed):
    return np.random.default_rng(seed).normal(mean, sd, size)


# -- variant against baseline ------------------------------------------------------

def test_half_the_mean_is_better_with_ratio_in_interval():
    base = normal(100, 5, 60, 1)
    x = normal(50, 3, 60, 2)
    r = stats.compare_samples(x, base)
    assert r["ratio"] == pytest.approx(np.mean(x) / np.mean(base))
    assert r["ci_lo"] <= 0.5 <= r["ci_hi"]
    assert r["ci_lo"] <= r["ratio"] <= r["ci_hi"]
    assert r["ci_hi"] - r["ci_lo"] < 0.05  # 60 values of 5% noise: a tight interval
    assert r["pvalue"] < 1e-10
    assert r["verdict"] == stats.VERDICT_BETTER
    assert not r["exact"]


def test_double_the_mean_is_worse():
    r = stats.compare_samples(normal(200, 5, 40, 3), normal(100, 5, 40, 4))
    assert r["ci_lo"] <= 2.0 <= r["ci_hi"]
    assert r["verdict"] == stats.VERDICT_WORSE


def test_identical_distributions_no_significant_difference():
    r = stats.compare_samples(normal(100, 5, 60, 5), normal(100, 5, 60, 6))
    assert r["ci_lo"] <= 1.0 <= r["ci_hi"]
    assert r["verdict"] == stats.VERDICT_NSD
    same = stats.compare_samples(normal(100, 5, 60, 11), normal(100, 5, 60, 12))
    assert same["pvalue"] > 0.05 and same["verdict"] == stats.VERDICT_NSD


def test_verdict_needs_both_test_and_interval():
    # these draws give p = 0.03 but an interval that contains 1: not significant
    r = stats.compare_samples(normal(100, 5, 60, 5), normal(100, 5, 60, 6))
    assert r["pvalue"] < 0.05 and r["ci_lo"] <= 1.0 <= r["ci_hi"]
    assert r["verdict"] == stats.VERDICT_NSD
    assert stats.sampled_verdict(0.9, 0.85, 0.95, 0.01) == stats.VERDICT_BETTER
    assert stats.sampled_verdict(0.9, 0.85, 0.95, 0.2) == stats.VERDICT_NSD
    assert stats.sampled_verdict(1.1, 0.95, 1.2, 0.01) == stats.VERDICT_NSD
    assert stats.sampled_verdict(1.1, 1.05, 1.2, 0.01) == stats.VERDICT_WORSE


def test_false_positive_rate_is_near_alpha():
    verdicts = [stats.compare_samples(normal(100, 5, 30, 100 + i), normal(100, 5, 30, 200 + i),
                                      n_resamples=1000)["verdict"] for i in range(40)]
    assert verdicts.count(stats.VERDICT_NSD) >= 34, verdicts


def test_bootstrap_is_deterministic_and_seeded():
    x, b = normal(50, 10, 25, 7), normal(60, 10, 25, 8)
    r1, r2 = stats.compare_samples(x, b), stats.compare_samples(x, b)
    assert (r1["ci_lo"], r1["ci_hi"]) == (r2["ci_lo"], r2["ci_hi"])
    r3 = stats.compare_samples(x, b, seed=1)
    assert (r3["ci_lo"], r3["ci_hi"]) != (r1["ci_lo"], r1["ci_hi"])


def test_exact_counts_have_no_interval_and_threshold_verdicts():
    r = stats.compare_samples([41.2], [50.0], exact=True)
    assert r["exact"] and r["ratio"] == pytest.approx(41.2 / 50)
    assert math.isnan(r["ci_lo"]) and math.isnan(r["ci_hi"]) and math.isnan(r["pvalue"])
    assert r["verdict"] == stats.VERDICT_BETTER
    assert stats.compare_samples([100.5], [100.0], exact=True)["verdict"] == stats.VERDICT_EQUAL
    assert stats.compare_samples([102.0], [100.0], exact=True)["verdict"] == stats.VERDICT_WORSE
    assert stats.compare_samples([102.0], [100.0], exact=True,
                                 threshold=0.05)["verdict"] == stats.VERDICT_EQUAL
    assert stats.compare_samples([0.0], [0.0], exact=True)["verdict"] == stats.VERDICT_EQUAL
    assert stats.compare_samples([0.1], [0.0], exact=True)["verdict"] == stats.VERDICT_WORSE


def test_degenerate_samples():
    few = stats.compare_samples([1.0], [2.0, 2.1])
    assert few["verdict"] == stats.VERDICT_FEW
    zeros = stats.compare_samples([0.0] * 10, [0.0] * 10)
    assert zeros["verdict"] == stats.VERDICT_NSD
    const = stats.compare_samples([1.0] * 10, [2.0] * 10)
    assert const["ci_lo"] == const["ci_hi"] == 0.5
    assert const["verdict"] == stats.VERDICT_BETTER


def _frame(rows):
    return pd.DataFrame(rows)


def _rows(label, variant, ext, backend, values, n=64, metric="time", phase="add"):
    return [dict(host="h", backend=backend, simulated=backend == "sim", workload="fork",
                 phase=phase, n=n, heads=10, size=0, size_label="heads=10", order="fifo",
                 alloc="bump", metric=metric,
                 unit="ns/op" if metric == "time" else "events/op", label=label,
                 variant=variant, ext=ext, value=float(v), seed=1, footprint=1000.0,
                 enabled_ratio=1.0) for v in values]


def test_compare_variants_per_series_with_q_values():
    rows = (_rows("old", "old", 3, "perf", normal(100, 5, 30, 1))
            + _rows("new", "new", 3, "perf", normal(50, 5, 30, 2))
            + _rows("kvm-2023", "kvm-2023", 14, "perf", normal(100, 5, 30, 3))
            + _rows("old", "old", 3, "sim", [10.0]) + _rows("new", "new", 3, "sim", [20.0]))
    out = stats.compare_variants(_frame(rows), "old")
    got = {(r.backend, r.label): r for r in out.itertuples()}
    assert set(got) == {("perf", "new"), ("perf", "kvm-2023"), ("sim", "new")}
    assert got[("perf", "new")].verdict == stats.VERDICT_BETTER
    assert got[("perf", "kvm-2023")].verdict == stats.VERDICT_NSD
    sim = got[("sim", "new")]
    assert sim.exact and sim.ratio == 2.0 and math.isnan(sim.ci_lo) and math.isnan(sim.qvalue)
    assert sim.verdict == stats.VERDICT_WORSE
    perf = out[out["backend"] == "perf"]
    assert (perf["qvalue"] >= perf["pvalue"]).all()
    assert (out["baseline"] == "old").all()


def test_unknown_baseline_names_value_and_allowed():
    df = _frame(_rows("old", "old", 3, "perf", [1, 2, 3]))
    with pytest.raises(UsageError, match=r"'nosuch'.*old"):
        stats.compare_variants(df, "nosuch")
    assert stats.check_baseline(df, "old@3") == "old"  # its default EXT
    with pytest.raises(UsageError, match=r"'old@14'.*allowed are .*old"):
        stats.check_baseline(df, "old@14")


def test_compare_runs_b_against_a():
    a = _frame(_rows("old", "old", 3, "perf", normal(100, 5, 30, 1)))
    b = _frame(_rows("old", "old", 3, "perf", normal(80, 5, 30, 2)))
    b["host"] = "other"
    out = stats.compare_runs(a, b)
    assert len(out) == 1
    assert out["ratio"].iloc[0] == pytest.approx(b["value"].mean() / a["value"].mean())
    assert out["verdict"].iloc[0] == stats.VERDICT_BETTER
    assert out["host_a"].iloc[0] == "h" and out["host_b"].iloc[0] == "other"


def test_summarize_intervals_and_exact_points():
    rows = _rows("old", "old", 3, "perf", normal(100, 5, 50, 9)) + _rows("old", "old", 3, "sim", [7.0])
    pts = stats.summarize(_frame(rows)).set_index("backend")
    p = pts.loc["perf"]
    assert p["count"] == 50 and p["mean_lo"] < p["mean"] < p["mean_hi"]
    assert p["mean_lo"] < 100 < p["mean_hi"]
    s = pts.loc["sim"]
    assert s["count"] == 1 and s["mean_lo"] == s["mean_hi"] == s["mean"] == 7.0


# -- scaling ---------------------------------------------------------------------

NS = [2 ** k for k in range(4, 17)]


def test_linear_gives_slope_and_exponent_one():
    n = np.array(NS, float)
    f = stats.fit_scaling(n, 5.0 + 0.5 * n)
    assert f["slope"] == pytest.approx(0.5)
    assert f["intercept"] == pytest.approx(5.0)
    assert f["r2"] == pytest.approx(1.0)
    assert 0.95 < f["exponent_large"] <= 1.0
    assert f["exponent"] < f["exponent_large"]  # the constant pulls small n down
    assert f["growth"] == "O(n) per op"


def test_constant_gives_exponent_zero():
    n = np.array(NS, float)
    f = stats.fit_scaling(n, np.full(len(n), 7.0))
    assert f["slope"] == pytest.approx(0.0, abs=1e-12)
    assert f["exponent"] == pytest.approx(0.0, abs=1e-9)
    assert f["growth"] == "O(1) per op"
    noisy = 7.0 + np.random.default_rng(0).normal(0, 0.05, len(n))
    g = stats.fit_scaling(n, noisy)
    assert abs(g["exponent"]) < 0.05 and g["growth"] == "O(1) per op"


def test_quadratic_and_too_few_points():
    n = np.array(NS, float)
    assert stats.fit_scaling(n, 3 * n ** 2)["exponent"] == pytest.approx(2.0)
    assert stats.fit_scaling(n, 3 * n ** 2)["growth"] == "superlinear in n"
    few = stats.fit_scaling([4, 8], [1.0, 2.0])
    assert few["growth"] == "too few n" and math.isnan(few["slope"])


def test_scaling_fits_per_series():
    rows = []
    for n in (16, 64, 256, 1024):
        rows += _rows("new", "new", 3, "sim", [10 + 2.0 * n], n=n)
        rows += _rows("kvm-2023", "kvm-2023", 14, "sim", [12.0], n=n)
    fits = stats.scaling_fits(stats.summarize(_frame(rows))).set_index("label")
    assert fits.loc["new", "slope"] == pytest.approx(2.0)
    assert fits.loc["new", "growth"] == "O(n) per op"
    assert fits.loc["kvm-2023", "growth"] == "O(1) per op"
    assert fits.loc["new", "n_min"] == 16 and fits.loc["new", "n_max"] == 1024


# -- cache placement ---------------------------------------------------------------

def test_footprint_levels_host_and_sim():
    meta = {"host": {"caches": {"L1d": 32768, "L1i": 32768, "L2": 1048576, "L3": 8388608,
                                "LLC": 8388608}},
            "sim": {"geometry": {"D1": [16384, 8, 64], "LL": [262144, 16, 64, 12]}}}
    lv = stats.cache_levels(meta, simulated=False)
    assert [name for name, _ in lv] == ["L1d", "L2", "LLC"]
    assert stats.footprint_level(32768, lv) == "inside L1d"
    assert stats.footprint_level(32769, lv) == "inside L2"
    assert stats.footprint_level(2 << 20, lv) == "inside LLC"
    assert stats.footprint_level(9 << 20, lv) == "beyond LLC"
    sv = stats.cache_levels(meta, simulated=True)
    assert sv == [("D1", 16384.0), ("LL", 262144.0)]
    assert stats.footprint_level(100000, sv) == "inside LL"
    assert stats.footprint_level(float("nan"), lv) == "not recorded"
    assert stats.footprint_level(10, []) == "cache sizes not recorded"
    assert stats.footprint_level(0, lv) == "no memory touched"
    assert stats.parse_size("48 KiB") == 48 * 1024 and stats.parse_size("2M") == 2 << 20


def test_size_rank_lines_up_series_sized_by_footprint_target():
    """A sweep with heads = "l2" and "llc" gives every variant and n its own head
    count; the size rank must pair old@l2 with kvm-2023@l2, not with @llc."""
    from analysis.load import add_size_keys

    rows = []
    heads = {("old", "l2"): 300, ("old", "llc"): 9000,
             ("kvm-2023", "l2"): 500, ("kvm-2023", "llc"): 15000}
    for (variant, target), h in heads.items():
        slow = 100.0 if target == "l2" else 400.0  # the llc target is much slower
        mean = slow if variant == "old" else slow / 2
        for v in normal(mean, 2, 20, h):
            rows.append(dict(run_id="r", host="h", backend="perf", simulated=False,
                             workload="fork", phase="add", n=64, heads=h, order="fifo",
                             alloc="bump", seed=1, metric="time", unit="ns/op",
                             label=variant, variant=variant, ext=3 if variant == "old" else 14,
                             value=v, footprint=h * 1000.0, enabled_ratio=1.0))
    df = add_size_keys(pd.DataFrame(rows))
    sizes = df.drop_duplicates(["label", "heads"]).set_index(["label", "heads"])["size"]
    assert sizes[("old", 300)] == sizes[("kvm-2023", 500)] == 0
    assert sizes[("old", 9000)] == sizes[("kvm-2023", 15000)] == 1
    labels = df.drop_duplicates("size").set_index("size")["size_label"]
    assert labels[0] == "footprint ~390.6 KiB" and labels[1] == "footprint ~11.4 MiB"
    out = stats.compare_variants(df, "old")
    assert len(out) == 2
    assert out["ratio"].between(0.45, 0.55).all()  # each size against its own old
