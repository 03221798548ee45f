"""analysis.stats on synthetic data with known answers."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp_stats

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


def _exact_mwu_two_sided(x, y):
    """Two-sided exact Mann-Whitney p-value by enumerating every split of
    the pooled (tie-free) values into groups of len(x) and len(y)."""
    pooled = list(x) + list(y)
    def u(group):
        return sum(1 for a in group for b in pooled if b not in group and a > b)
    u_obs = u(list(x))
    centre = len(x) * len(y) / 2
    us = [u([pooled[i] for i in idx]) for idx in itertools.combinations(range(len(pooled)),
                                                                        len(x))]
    extreme = sum(1 for v in us if abs(v - centre) >= abs(u_obs - centre))
    return extreme / len(us)


def test_verdict_needs_both_test_and_interval():
    # x is below every base value but for one outlier above them all: the rank
    # test is significant, the ratio of means is not.  U(x) = 8 of 64 pairs;
    # enumerating the C(16, 8) = 12870 splits gives 134 at least as extreme:
    # p = 134/12870 = 0.0104.  The interval contains 1: a resample of x
    # leaves out the 1000 with probability (7/8)^8 = 0.34 > 0.025, and then
    # its ratio is at most mean(7 x 7)/mean(8 x 8) = 0.875; it takes the 1000
    # at least once with probability 0.66 > 0.025, and then the ratio is at
    # least (1000 + 7 x 1)/8 / 15 = 8.4.
    x, base = [1, 2, 3, 4, 5, 6, 7, 1000], [8, 9, 10, 11, 12, 13, 14, 15]
    p = _exact_mwu_two_sided(x, base)
    assert p == pytest.approx(134 / 12870)
    r = stats.compare_samples(x, base)
    assert r["pvalue"] == pytest.approx(p)
    assert r["ci_lo"] <= 0.875 and r["ci_hi"] >= 8.4
    assert r["ratio"] == pytest.approx(128.5 / 11.5)
    assert r["verdict"] == stats.VERDICT_NSD
    assert stats.sampled_verdict(0.9, 0.85, 0.95, 0.01) == stats.VERDICT_BETTER
    assert stats.sampled_verdict(0.9, 0.85, 0.95, 0.2) == stats.VERDICT_NSD
    assert stats.sampled_verdict(1.1, 0.95, 1.2, 0.01) == stats.VERDICT_NSD
    assert stats.sampled_verdict(1.1, 1.05, 1.2, 0.01) == stats.VERDICT_WORSE


def test_false_positive_rate_is_near_alpha():
    # 400 comparisons of two samples of one distribution: at a 5% level the
    # number called different is at most Binomial(400, 0.05); its 99th
    # percentile is 31 (7.75%).  A 10% level would give about 40.
    trials = 400
    bar = int(sp_stats.binom.ppf(0.99, trials, stats.ALPHA))
    assert bar == 31
    verdicts = [stats.compare_samples(normal(100, 5, 30, 100 + i), normal(100, 5, 30, 5000 + i),
                                      n_resamples=500)["verdict"] for i in range(trials)]
    assert trials - verdicts.count(stats.VERDICT_NSD) <= bar


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
    # two sampled comparisons (sim is exact, untested): q_(1) = min(2 p_(1), p_(2)),
    # q_(2) = p_(2)
    perf = out[out["backend"] == "perf"].sort_values("pvalue")
    p = perf["pvalue"].to_numpy()
    assert len(p) == 2
    by_hand = [min(2 * p[0], p[1]), p[1]]
    assert perf["qvalue"].to_numpy() == pytest.approx(by_hand)
    assert (out["baseline"] == "old").all()


def test_benjamini_hochberg_q_values_by_hand_decide_the_verdicts():
    # p = 0.01, 0.04, 0.03, 0.20 (m = 4); sorted 0.01 < 0.03 < 0.04 < 0.20,
    # q_(k) = min over j >= k of p_(j) * m / j:
    #   q(0.20) = 0.20 * 4/4 = 0.20
    #   q(0.04) = min(0.04 * 4/3 = 0.0533, 0.20) = 0.0533
    #   q(0.03) = min(0.03 * 4/2 = 0.06, 0.0533) = 0.0533
    #   q(0.01) = min(0.01 * 4/1 = 0.04, 0.0533) = 0.04
    # At alpha 0.05 only the first stays significant, though three p < 0.05.
    t = pd.DataFrame({"pvalue": [0.01, 0.04, 0.03, 0.20], "ratio": [0.5, 0.5, 2.0, 0.5],
                      "ci_lo": [0.4, 0.4, 1.5, 0.4], "ci_hi": [0.6, 0.6, 2.5, 0.6],
                      "verdict": ["?"] * 4, "qvalue": [float("nan")] * 4})
    stats._readjust(t, 0.05)
    assert t["qvalue"].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert t["verdict"].tolist() == [stats.VERDICT_BETTER, stats.VERDICT_NSD,
                                     stats.VERDICT_NSD, stats.VERDICT_NSD]


SEPARATED = [50.0, 51.0, 52.0, 53.0]      # below every base value
INTERLEAVED = [99.0, 102.0, 103.0, 106.0]  # ranks 1 4 5 8 against 2 3 6 7
BASE4 = [100.0, 101.0, 104.0, 105.0]


@pytest.mark.parametrize("separated", [2, 3])
def test_compare_variants_decides_on_q_not_p(separated):
    """Four series against old, 4 values each.  A series below every base
    value has U = 0: the exact two-sided p is 2 / C(8, 4) = 2/70 = 0.0286.
    The interleaved one has U = 0+1+2+2... = 8 = 4*4/2: p = 1.
    Two separated of four: q = 0.0286 * 4/2 = 0.0571 > 0.05, so no series
    is significant although both have p < 0.05.  Three of four: q = 0.0286
    * 4/3 = 0.0381 < 0.05, and all three are better."""
    rows = _rows("old", "old", 3, "perf", BASE4)
    names = ["new", "new-fixed", "kvm-2021", "kvm-2023"]
    for i, name in enumerate(names):
        rows += _rows(name, name, 3, "perf", SEPARATED if i < separated else INTERLEAVED)
    out = stats.compare_variants(_frame(rows), "old").set_index("label")
    assert len(out) == 4
    for i, name in enumerate(names):
        r = out.loc[name]
        if i < separated:
            assert r.pvalue == pytest.approx(2 / 70)
            assert r.ci_hi < 1  # the interval alone would call it better
            assert r.qvalue == pytest.approx(2 / 70 * 4 / separated)
            assert r.verdict == (stats.VERDICT_BETTER if separated == 3 else stats.VERDICT_NSD)
        else:
            assert r.pvalue == pytest.approx(1.0)
            assert r.qvalue == pytest.approx(1.0)
            assert r.verdict == stats.VERDICT_NSD


def _bca_by_hand(x, base, boot, level=0.95):
    """Efron and Tibshirani (1993) 14.3 and 15.4 (eq. 15.36, two samples)
    on a given bootstrap distribution of mean(x)/mean(base)."""
    nd = sp_stats.norm
    x, base, boot = map(np.asarray, (x, base, boot))
    theta = x.mean() / base.mean()
    z0 = nd.ppf((np.sum(boot < theta) + np.sum(boot <= theta)) / (2 * len(boot)))
    num = den = 0.0
    for k, s in enumerate((x, base)):
        n = len(s)
        loo = np.array([np.delete(s, i).mean() for i in range(n)])
        th = loo / base.mean() if k == 0 else x.mean() / loo
        u = (n - 1) * (th.mean() - th)
        num += np.sum(u ** 3) / n ** 3
        den += np.sum(u ** 2) / n ** 2
    a = num / (6 * den ** 1.5)
    za = nd.ppf((1 - level) / 2)
    a1 = nd.cdf(z0 + (z0 + za) / (1 - a * (z0 + za)))
    a2 = nd.cdf(z0 + (z0 - za) / (1 - a * (z0 - za)))
    return np.percentile(boot, [100 * a1, 100 * a2]), z0, a


def test_bootstrap_interval_is_bca_computed_independently(monkeypatch):
    """The interval is the BCa interval of the bootstrap distribution the
    code drew, recomputed here from Efron's formulas, and differs clearly
    from the plain percentile interval (skewed data: large bias and
    acceleration)."""
    x = [76.98, 0.78, 15.19, 5.67, 6.36, 8.06, 1.33, 7.93, 4.21, 277.43]
    base = [14.77, 11.72, 12.06, 10.33, 8.85, 11.55, 16.37, 12.27, 19.8, 12.46]
    drawn = []
    real = sp_stats.bootstrap

    def spy(*a, **k):
        res = real(*a, **k)
        drawn.append(np.asarray(res.bootstrap_distribution))
        return res

    monkeypatch.setattr(sp_stats, "bootstrap", spy)
    lo, hi = stats.bootstrap_ratio_ci(np.array(x), np.array(base))
    assert drawn and len(drawn[0]) == stats.N_RESAMPLES
    (blo, bhi), z0, a = _bca_by_hand(x, base, drawn[0])
    assert a > 0.1 and z0 > 0.1       # a case where BCa matters
    plo, phi = np.percentile(drawn[0], [2.5, 97.5])
    assert (lo, hi) == pytest.approx((blo, bhi), rel=1e-6)
    assert abs(lo - plo) > 0.1 and abs(hi - phi) > 1.0


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


def test_summarize_interval_and_spread_by_hand():
    # values 1..5: mean 3, sample sd sqrt(10/4) = 1.5811, sem 1.5811/sqrt(5) = 0.70711,
    # t(0.975, df 4) = 2.7764: 3 +- 1.9632
    pts = stats.summarize(_frame(_rows("old", "old", 3, "perf", [1, 2, 3, 4, 5]))).iloc[0]
    assert pts["std"] == pytest.approx(1.58114, abs=1e-5)
    assert pts["mean_lo"] == pytest.approx(3 - 1.96324, abs=1e-4)
    assert pts["mean_hi"] == pytest.approx(3 + 1.96324, abs=1e-4)


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
