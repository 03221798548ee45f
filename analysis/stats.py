"""Statistics on the tidy results: per-point summaries, variant-vs-baseline
ratios with confidence intervals and tests, scaling fits, cache placement.

Method (written into every report):
- Sampled metrics (backends perf and time: one value per pyperf value) are
  compared by the ratio of means, variant / baseline, with a 95% bootstrap
  confidence interval (scipy.stats.bootstrap, BCa, resampling both samples
  independently, fixed seed so the numbers are reproducible), and a two-sided
  Mann-Whitney U test (scipy.stats.mannwhitneyu).  p-values of one table are
  adjusted for the number of comparisons (Benjamini-Hochberg,
  scipy.stats.false_discovery_control) into q-values.  Verdict: "better"
  (ratio < 1) or "worse" when q < alpha and the interval excludes 1, else
  "no significant difference"; fewer than 2 values on either side gives
  "insufficient samples".  Lower is better for every metric of the suite
  (all are costs per operation).
- Simulated counts (backend sim, simulated=True) are deterministic: the ratio
  is exact, has no interval and no test; verdict "equal" when the ratio is
  within +-threshold (default 1%) of 1, else "better"/"worse".
- Several seeds or CPUs of the same case are pooled.
- Scaling: per variant, least squares of the per-op mean against n (slope =
  cost per extra spte per op) and of log(mean) against log(n) (exponent: ~0
  is O(1) per op, ~1 is O(n) per op), scipy.stats.linregress.  The exponent
  over the larger half of the n values is reported too, since a constant term
  pulls the whole-range exponent below its asymptote.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
from scipy import stats

# The parameters that make a measured point, apart from the series (label).
# heads is not a key: it may differ between series of one case (footprint targets);
# size (see analysis.load) lines the cases up instead.
POINT_KEYS = ["host", "backend", "simulated", "workload", "phase", "n", "size", "size_label",
              "order", "alloc", "metric", "unit"]
SERIES_KEYS = ["label", "variant", "ext"]
# A curve over n: POINT_KEYS minus n, plus the series.
CURVE_KEYS = [k for k in POINT_KEYS if k != "n"] + SERIES_KEYS

ALPHA = 0.05
EXACT_THRESHOLD = 0.01
N_RESAMPLES = 4000
SEED = 20130828  # the date of the seed review; any fixed value would do

VERDICT_BETTER = "better"
VERDICT_WORSE = "worse"
VERDICT_NSD = "no significant difference"
VERDICT_EQUAL = "equal"
VERDICT_FEW = "insufficient samples"


# -- summaries -----------------------------------------------------------------

def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per point (POINT_KEYS + series): mean, spread, 95% interval of
    the mean (Student t; exact values for simulated rows), footprint, and the
    smallest perf enabled_ratio (< 1 means the counter was multiplexed)."""
    keys = POINT_KEYS + SERIES_KEYS
    rows = []
    for key, g in df.groupby(keys, sort=True, dropna=False):
        v = g["value"].to_numpy(dtype=float)
        mean = float(np.mean(v))
        count = len(v)
        sim = bool(key[keys.index("simulated")])
        if sim or count < 2:
            lo = hi = mean if sim else float("nan")
            sd = 0.0 if sim else float("nan")
        else:
            sd = float(np.std(v, ddof=1))
            sem = stats.sem(v)
            if sem == 0:
                lo = hi = mean
            else:
                lo, hi = stats.t.interval(0.95, count - 1, loc=mean, scale=sem)
        fp = g["footprint"].dropna()
        rows.append({**dict(zip(keys, key)), "heads": int(g["heads"].max()),
                     "mean": mean, "median": float(np.median(v)),
                     "std": sd, "count": count, "mean_lo": float(lo), "mean_hi": float(hi),
                     "footprint": float(fp.max()) if len(fp) else float("nan"),
                     "enabled_ratio_min": float(g["enabled_ratio"].min()),
                     "seeds": int(g["seed"].nunique())})
    return pd.DataFrame(rows)


# -- one comparison ------------------------------------------------------------

def _ratio(a: float, b: float) -> float:
    if b == 0:
        return float("nan") if a == 0 else math.inf
    return a / b


def _ratio_of_means(x, y, axis=-1):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(x, axis=axis) / np.mean(y, axis=axis)


def compare_samples(x, base, *, exact: bool = False, alpha: float = ALPHA,
                    threshold: float = EXACT_THRESHOLD, n_resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> dict:
    """Compare sample x against sample base (lower is better).

    Returns {mean, base_mean, ratio, ci_lo, ci_hi, pvalue, exact, verdict}.
    exact=True (simulated counts): ratio of means, no interval, no test,
    verdict equal/better/worse by threshold.  Otherwise: bootstrap interval
    of the ratio of means and Mann-Whitney U p-value; the verdict here uses
    the raw p-value (compare_frames re-decides it on adjusted q-values).
    """
    x = np.asarray(x, dtype=float)
    base = np.asarray(base, dtype=float)
    m, mb = float(np.mean(x)), float(np.mean(base))
    ratio = _ratio(m, mb)
    out = {"mean": m, "base_mean": mb, "ratio": ratio, "ci_lo": float("nan"),
           "ci_hi": float("nan"), "pvalue": float("nan"), "exact": exact}
    if exact:
        out["verdict"] = exact_verdict(ratio, m, mb, threshold)
        return out
    if len(x) < 2 or len(base) < 2:
        out["verdict"] = VERDICT_FEW
        return out
    if np.ptp(x) == 0 and np.ptp(base) == 0:
        out["ci_lo"] = out["ci_hi"] = ratio
    elif mb > 0 and np.all(np.isfinite(x)) and np.all(np.isfinite(base)):
        out["ci_lo"], out["ci_hi"] = bootstrap_ratio_ci(x, base, n_resamples=n_resamples,
                                                        seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["pvalue"] = float(stats.mannwhitneyu(x, base, alternative="two-sided").pvalue)
    out["verdict"] = sampled_verdict(ratio, out["ci_lo"], out["ci_hi"], out["pvalue"], alpha)
    return out


def bootstrap_ratio_ci(x, base, *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                       level: float = 0.95) -> tuple[float, float]:
    """95% bootstrap interval of mean(x)/mean(base) (BCa; percentile if BCa
    degenerates).  Deterministic for a given seed."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((x, base), _ratio_of_means, n_resamples=n_resamples,
                                  confidence_level=level, method=method, vectorized=True,
                                  rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        if np.isfinite(lo) and np.isfinite(hi):
            return float(lo), float(hi)
    return float("nan"), float("nan")


def sampled_verdict(ratio, ci_lo, ci_hi, p, alpha=ALPHA) -> str:
    if not np.isfinite(p):
        return VERDICT_FEW
    if math.isnan(ratio):  # both means zero
        return VERDICT_NSD
    if p >= alpha:
        return VERDICT_NSD
    if np.isfinite(ci_lo) and np.isfinite(ci_hi) and ci_lo <= 1.0 <= ci_hi:
        return VERDICT_NSD
    return VERDICT_BETTER if ratio < 1 else VERDICT_WORSE


def exact_verdict(ratio, mean, base_mean, threshold=EXACT_THRESHOLD) -> str:
    if math.isnan(ratio) or mean == base_mean:
        return VERDICT_EQUAL
    if abs(ratio - 1.0) <= threshold:
        return VERDICT_EQUAL
    return VERDICT_BETTER if ratio < 1 else VERDICT_WORSE


# -- tables of comparisons -----------------------------------------------------

# Values of one worker process, one memory layout (epoch) and one round were
# measured interleaved: the pairing of the paired design (docs/measurement.md).
PAIR_KEYS = ["run_id", "process", "epoch", "sample"]


def can_pair(test: pd.DataFrame, ref: pd.DataFrame) -> bool:
    return all(k in test.columns and k in ref.columns for k in PAIR_KEYS) and \
        test["epoch"].notna().any() and ref["epoch"].notna().any()


def compare_paired(g: pd.DataFrame, base: pd.DataFrame, *, alpha: float = ALPHA,
                   n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict | None:
    """Compare sample g against base measured in the same rounds: the paired
    ratio (geometric mean of per-round ratios, winsorized) with its
    hierarchical bootstrap interval and p-value (bench.measure.hier_ratio:
    worker processes, then memory layouts within them, then rounds).  None when fewer than
    3 values pair up."""
    from bench.measure import hier_ratio

    m = g[PAIR_KEYS + ["value"]].merge(base[PAIR_KEYS + ["value"]], on=PAIR_KEYS,
                                       suffixes=("", "_b")).dropna(subset=["epoch"])
    if len(m) < 3:
        return None
    nums, dens = [], []
    for _, p in m.groupby(["run_id", "process"], sort=True):
        en, ed = [], []
        for _, u in p.groupby("epoch", sort=True):
            u = u.sort_values("sample")
            en.append(u["value"].to_numpy(dtype=float))
            ed.append(u["value_b"].to_numpy(dtype=float))
        nums.append(en)
        dens.append(ed)
    h = hier_ratio(nums, dens, n_resamples=n_resamples, seed=seed)
    x, b = g["value"].to_numpy(dtype=float), base["value"].to_numpy(dtype=float)
    out = {"mean": float(np.mean(x)), "base_mean": float(np.mean(b)), "ratio": h["ratio"],
           "ci_lo": h["lo"], "ci_hi": h["hi"], "pvalue": h["pvalue"], "exact": False,
           "paired": True, "pairs": len(m), "interval": h.get("interval"),
           "se": h.get("se", float("nan")), "df": h.get("df", float("nan"))}
    out["verdict"] = sampled_verdict(out["ratio"], out["ci_lo"], out["ci_hi"], out["pvalue"],
                                     alpha)
    return out


def compare_frames(test: pd.DataFrame, ref: pd.DataFrame, keys: list[str], *,
                   alpha: float = ALPHA, threshold: float = EXACT_THRESHOLD,
                   n_resamples: int = N_RESAMPLES, seed: int = SEED,
                   paired: bool = False) -> pd.DataFrame:
    """For every group of `test` by `keys` that also exists in `ref`, compare
    its values against ref's.  Adds q-values (Benjamini-Hochberg over all
    sampled comparisons of the table) and decides the verdicts on them.
    paired: measured values taken in the same rounds are compared pairwise
    (compare_paired); groups that do not pair fall back to the unpaired test."""
    ref_frames = {k: g for k, g in ref.groupby(keys, sort=False, dropna=False)}
    pair = paired and can_pair(test, ref)
    rows = []
    for key, g in test.groupby(keys, sort=True, dropna=False):
        bf = ref_frames.get(key)
        if bf is None:
            continue
        base = bf["value"].to_numpy(dtype=float)
        exact = bool(g["simulated"].iloc[0])
        r = compare_paired(g, bf, alpha=alpha, n_resamples=n_resamples, seed=seed) \
            if pair and not exact else None
        if r is None:
            r = compare_samples(g["value"].to_numpy(dtype=float), base, exact=exact,
                                alpha=alpha, threshold=threshold, n_resamples=n_resamples,
                                seed=seed)
            r["paired"], r["pairs"] = False, 0
        r.update(dict(zip(keys, key)))
        r["count"], r["base_count"] = len(g), len(base)
        rows.append(r)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["qvalue"] = float("nan")
    _readjust(out, alpha)
    out["threshold"] = threshold
    return out


def labels(df: pd.DataFrame) -> list[str]:
    return sorted(df["label"].unique(), key=_label_order)


def _label_order(label: str):
    from bench.variants import VARIANTS

    names = list(VARIANTS)
    base = label.split("@")[0]
    return (names.index(base) if base in names else len(names), label)


def default_baseline(df: pd.DataFrame) -> str:
    """The baseline when none is named: the registry's baseline where the data
    has it (at its default EXT), else the data's first series in registry
    order (a run without the registry's baseline reads against its oldest series)."""
    from bench.variants import role

    present = labels(df)
    return role("baseline") if role("baseline") in present or not present else present[0]


def check_baseline(df: pd.DataFrame, baseline: str | None) -> str:
    from bench.errors import UsageError

    if baseline is None:
        return default_baseline(df)
    present = labels(df)
    name, _, ext = baseline.partition("@")
    if ext.isdigit():  # V@3 is V at its default EXT 3: the series "V"
        from .load import series_label

        baseline = series_label(name, int(ext))
    if baseline not in present:
        raise UsageError(f"unknown baseline {baseline!r}: allowed are the series in the data: "
                         f"{', '.join(present)}")
    return baseline


def compare_variants(df: pd.DataFrame, baseline: str | None = None, **kw) -> pd.DataFrame:
    """Per point and metric, every series against the baseline series of the
    same host, backend and case parameters (default: default_baseline)."""
    baseline = check_baseline(df, baseline)
    ref = df[df["label"] == baseline]
    test = df[df["label"] != baseline]
    series = df.drop_duplicates("label").set_index("label")[["variant", "ext"]]
    parts = []
    for lbl in labels(test):
        part = compare_frames(test[test["label"] == lbl], ref, POINT_KEYS, paired=True, **kw)
        if part.empty:
            continue
        part["label"] = lbl
        part["variant"], part["ext"] = series.loc[lbl, "variant"], int(series.loc[lbl, "ext"])
        parts.append(part)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    out["baseline"] = baseline
    return _readjust(_moderate(out), kw.get("alpha", ALPHA))


def _moderate(out: pd.DataFrame) -> pd.DataFrame:
    """The paired ratios of the series measured together at one point (and
    metric), their variances moderated across the series as the runner
    moderates a group's arms (bench.measure.moderate)."""
    from bench.measure import moderate

    if "interval" not in out.columns:
        return out
    keys = [k for k in POINT_KEYS if k in out.columns]
    for _, g in out[out["interval"] == "process-t"].groupby(keys, sort=False, dropna=False):
        res = [{"ratio": r.ratio, "lo": r.ci_lo, "hi": r.ci_hi, "pvalue": r.pvalue,
                "interval": r.interval, "se": r.se, "df": r.df} for r in g.itertuples()]
        for i, r in zip(g.index, moderate(res)):
            out.loc[i, ["ci_lo", "ci_hi", "pvalue", "interval", "se", "df"]] = \
                [r["lo"], r["hi"], r["pvalue"], r["interval"], r["se"], r["df"]]
    return out


def compare_runs(df_a: pd.DataFrame, df_b: pd.DataFrame, **kw) -> pd.DataFrame:
    """Per case, series and metric, run B against run A (host and run id
    ignored, so two hosts or two builds compare directly)."""
    # host and the size's words (a footprint differs between hosts) are not keys
    keys = [k for k in POINT_KEYS if k not in ("host", "size_label")] + ["label"]
    out = compare_frames(df_b, df_a, keys, **kw)
    if out.empty:
        return out
    case = [k for k in keys if k not in ("metric", "unit")]
    out = out.merge(df_b[case + ["size_label"]].drop_duplicates(case), on=case, how="left")
    ha = ", ".join(sorted(df_a["host"].unique()))
    hb = ", ".join(sorted(df_b["host"].unique()))
    out["host_a"], out["host_b"] = ha, hb
    return out


def _readjust(out: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Benjamini-Hochberg over the whole table (compare_variants builds it per series)."""
    tested = out["pvalue"].notna()
    if tested.any():
        out.loc[tested, "qvalue"] = stats.false_discovery_control(out.loc[tested, "pvalue"])
        for i in out.index[tested]:
            out.at[i, "verdict"] = sampled_verdict(out.at[i, "ratio"], out.at[i, "ci_lo"],
                                                   out.at[i, "ci_hi"], out.at[i, "qvalue"], alpha)
    return out


# -- scaling -------------------------------------------------------------------

def fit_scaling(n, y, min_points: int = 3) -> dict:
    """Least-squares slope of y against n and the log-log exponent.

    Returns {points, slope, intercept, r2, exponent, exponent_large, growth};
    NaN where there are too few points (fewer than min_points distinct n, or
    for the exponents, fewer than min_points positive y)."""
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    out = {"points": int(len(np.unique(n))), "slope": math.nan, "intercept": math.nan,
           "r2": math.nan, "exponent": math.nan, "exponent_large": math.nan,
           "growth": "too few n"}
    if out["points"] < min_points:
        return out
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        lin = stats.linregress(n, y)
        out["slope"], out["intercept"] = float(lin.slope), float(lin.intercept)
        out["r2"] = float(lin.rvalue ** 2) if np.isfinite(lin.rvalue) else math.nan
        pos = (y > 0) & (n > 0)
        if len(np.unique(n[pos])) >= min_points:
            out["exponent"] = _loglog(n[pos], y[pos])
            ns = np.unique(n[pos])
            k = max(min_points, math.ceil(len(ns) / 2))
            big = np.isin(n[pos], ns[-k:])
            out["exponent_large"] = _loglog(n[pos][big], y[pos][big])
        elif np.all(y == 0):
            out["exponent"] = out["exponent_large"] = 0.0
    out["growth"] = growth_class(out["exponent_large"], out["r2"], out["slope"])
    return out


def _loglog(n, y) -> float:
    ly = np.log(y)
    if np.ptp(ly) == 0:
        return 0.0
    return float(stats.linregress(np.log(n), ly).slope)


def growth_class(exponent: float, r2: float = math.nan, slope: float = math.nan) -> str:
    """Plain words for how a per-op cost grows with n.

    O(1) when the larger-n log-log exponent is below 0.2; O(n) when the
    straight line in n fits (r^2 >= 0.98) with a positive slope -- a constant
    term then keeps the exponent below 1 over small n -- or the exponent is
    near 1; otherwise by the exponent."""
    if not np.isfinite(exponent):
        return "unknown"
    if exponent < 0.2:
        return "O(1) per op"
    if exponent > 1.2:
        return "superlinear in n"
    if exponent >= 0.8 or (np.isfinite(r2) and r2 >= 0.98 and slope > 0):
        return "O(n) per op"
    return "sublinear in n"


def scaling_fits(summary: pd.DataFrame) -> pd.DataFrame:
    """One fit per curve (CURVE_KEYS) from a summarize() table."""
    rows = []
    for key, g in summary.groupby(CURVE_KEYS, sort=True, dropna=False):
        g = g.sort_values("n")
        f = fit_scaling(g["n"], g["mean"])
        f["n_min"], f["n_max"] = int(g["n"].min()), int(g["n"].max())
        rows.append({**dict(zip(CURVE_KEYS, key)), **f})
    return pd.DataFrame(rows)


# -- cache placement -----------------------------------------------------------

_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMG]?)i?B?\s*$", re.I)


def parse_size(v) -> float | None:
    """Bytes from an int, [size, assoc, line], {"size": ...} or "48 KiB"."""
    if v is None:
        return None
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if v > 0 else None
    if isinstance(v, (list, tuple)) and v:
        return parse_size(v[0])
    if isinstance(v, dict):
        for k in ("size", "bytes", "total"):
            if k in v:
                return parse_size(v[k])
        return None
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m:
            mult = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[m.group(2).upper()]
            return float(m.group(1)) * mult
    return None


def cache_levels(meta: dict, simulated: bool) -> list[tuple[str, float]]:
    """[(level name, bytes)] from small to large.  Simulated numbers are
    placed against valgrind's simulated D1/LL geometry, measured ones against
    the host's L1d/L2/LLC."""
    out = []
    if simulated:
        geo = ((meta.get("sim") or {}).get("geometry") or {})
        for name, key in (("D1", "D1"), ("LL", "LL")):
            s = parse_size(geo.get(key))
            if s:
                out.append((name, s))
        return out
    caches = ((meta.get("host") or {}).get("caches") or {})
    l1 = parse_size(caches.get("L1d") or caches.get("L1"))
    l2 = parse_size(caches.get("L2"))
    llc = parse_size(caches.get("LLC") or caches.get("L3"))
    for name, s in (("L1d", l1), ("L2", l2), ("LLC", llc)):
        if s:
            out.append((name, s))
    return out


def footprint_level(footprint: float, levels: list[tuple[str, float]]) -> str:
    """"inside L1d" / "inside L2" / "inside LLC" / "beyond LLC" (sim: D1, LL)."""
    if footprint is None or not np.isfinite(footprint) or footprint < 0:
        return "not recorded"
    if footprint == 0:
        return "no memory touched"
    if not levels:
        return "cache sizes not recorded"
    for name, size in levels:
        if footprint <= size:
            return f"inside {name}"
    return f"beyond {levels[-1][0]}"
