"""The statistics of the interleaved design (docs/measurement.md): the
hierarchical paired bootstrap that gives ratio confidence intervals (used for
adaptive stopping here and by the analysis), and the moderation of their
variances.  When a value was disturbed is bench.disturb's.
"""

from __future__ import annotations

import numpy as np

# The disturbance rule lives in bench.disturb (workers import it without numpy).
from .disturb import (MAX_RETRIES, OFF_CPU_FRAC, OFF_CPU_SLACK_NS, REASONS, RULE,  # noqa: F401
                      disturbed)


def _levels(x) -> list[list[np.ndarray]]:
    """processes -> epochs -> values; a list of arrays is one epoch per process."""
    out = []
    for proc in x:
        if len(proc) and isinstance(proc[0], (list, tuple, np.ndarray)) and \
                np.ndim(proc[0]) == 1:
            epochs = [np.asarray(e, dtype=float) for e in proc]
        else:
            epochs = [np.asarray(proc, dtype=float)]
        out.append(epochs)
    return out


CLIP_MADS = 5.0


def _clip_logs(levels: list[list[np.ndarray]]) -> tuple[list[list[np.ndarray]], int]:
    """Winsorize log values at median +- CLIP_MADS * MAD (scaled to a normal
    sd): a rare slow value with no evidence on it (a neighbour on another CPU
    hogging the shared cache, the hypervisor) then weighs no more than a value
    at the edge of the bulk.  Returns the clipped levels and how many were."""
    allv = np.concatenate([e for p in levels for e in p]) if levels else np.array([])
    if len(allv) < 5:
        return levels, 0
    med = np.median(allv)
    mad = 1.4826 * np.median(np.abs(allv - med))
    if mad == 0:
        return levels, 0
    lo, hi = med - CLIP_MADS * mad, med + CLIP_MADS * mad
    n = int(np.sum((allv < lo) | (allv > hi)))
    return [[np.clip(e, lo, hi) for e in p] for p in levels], n


TRIM = 0.2          # share of the paired log ratios trimmed from each end
MIN_EPOCHS = 10     # fewer epochs in all, in fewer than MIN_PROCESSES_T processes: rounds drawn too
MIN_PROCESSES_T = 5  # this many processes or more: the process-level t interval


def weighted_trim_mean(v: np.ndarray, w: np.ndarray, trim: float = TRIM) -> np.ndarray:
    """The trimmed mean of multisets of the values v (1-D, sorted ascending),
    one multiset per row of w (integer multiplicities, shape (B, len(v))):
    floor(trim * W) values are cut from each end of each row's W values, as
    scipy.stats.trim_mean cuts them from the expanded sample.  The work runs
    along the values axis of w.T, so a w that is the transpose of a
    C-ordered (len(v), B) array is walked in memory order."""
    wt = np.asarray(w, dtype=float).T                 # (len(v), B)
    total = wt.sum(0)
    k = np.floor(trim * total)
    hi_edge = np.cumsum(wt, 0)
    lo_edge = hi_edge - wt
    np.minimum(hi_edge, total - k, out=hi_edge)
    np.maximum(lo_edge, k, out=lo_edge)
    hi_edge -= lo_edge
    np.clip(hi_edge, 0, None, out=hi_edge)            # the kept multiplicity
    with np.errstate(divide="ignore", invalid="ignore"):
        return (v @ hi_edge) / (total - 2 * k)


def _t_interval(out: dict, se: float, df: float, level: float, ratio_test: bool) -> None:
    """out's interval and p-value from Student's t: the log ratio's standard
    error se with df degrees of freedom (kept as out["se"], out["df"])."""
    from scipy import stats as sst

    ratio = out["ratio"]
    tq = float(sst.t.ppf(1 - (1 - level) / 2, df))
    lo, hi = ratio * np.exp(-tq * se), ratio * np.exp(tq * se)
    out["lo"], out["hi"], out["se"], out["df"] = float(lo), float(hi), float(se), float(df)
    out["halfwidth"] = float((hi - lo) / 2 / ratio) if ratio else float("nan")
    if ratio_test:
        tstat = abs(np.log(ratio)) / se if se > 0 else (0.0 if ratio == 1 else np.inf)
        out["pvalue"] = float(min(1.0, 2 * sst.t.sf(tstat, df)))


# Moderated variances (empirical Bayes, as limma's squeezeVar; Smyth 2004).
# The arms of a group are timed in the same processes, so their
# process-level variances are alike, and each arm's own estimate rests on
# P - 1 = 5 degrees of freedom only: t_5 makes its interval 1.31 times as
# wide as a normal one.  The variances of the group's arms together estimate
# a prior (d0, s0^2); each arm's variance is shrunk towards s0^2 with the
# weight of d0 degrees of freedom, and its t gets them too.  On the A/A
# pairs of this host d0 came out near 6-8 (docs/measurement.md).  D0_MAX:
# the prior never outweighs five degrees of freedom of an arm's own by more
# than two to one.  The arms share their baseline's values, so their
# variances agree more than independent ones would and d0 is estimated
# high; a cap of 20 let one A/A pair in five call a ratio changed, 10 none
# (docs/measurement.md).  MIN_MODERATE: fewer process-t arms are left alone.
D0_MAX = 10.0
MIN_MODERATE = 4


def _trigamma_inverse(y: float) -> float:
    """x > 0 with trigamma(x) = y (Newton's method, as in limma)."""
    from scipy.special import polygamma

    if y > 1e7:
        return 1.0 / np.sqrt(y)
    if y < 1e-6:
        return 1.0 / y
    x = 0.5 + 1.0 / y
    for _ in range(50):
        tri = float(polygamma(1, x))
        step = tri * (1 - tri / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return float(x)


def prior_variance(s2: np.ndarray, df: np.ndarray) -> tuple[float, float]:
    """(d0, s0^2): the scaled inverse chi-square prior that the variances s2
    (df degrees of freedom each) are drawn from, by the method of moments on
    log s2 (limma's fitFDist); d0 capped at D0_MAX."""
    from scipy.special import digamma, polygamma

    e = np.log(s2) - digamma(df / 2) + np.log(df / 2)
    excess = float(np.var(e, ddof=1) - np.mean(polygamma(1, df / 2)))
    d0 = 2 * _trigamma_inverse(excess) if excess > 0 else np.inf
    d0 = min(d0, D0_MAX)
    return d0, float(np.exp(np.mean(e) + digamma(d0 / 2) - np.log(d0 / 2)))


def moderate(results: list[dict], level: float = 0.95) -> list[dict]:
    """The ratio intervals of one group's arms in one phase (hier_ratio
    results, each against the same baseline), their process-t variances
    moderated (see D0_MAX above): each such arm's standard error becomes
    sqrt((d0 s0^2 + d se^2) / (d0 + d)) and its t has d + d0 degrees of
    freedom; interval "process-t-moderated", prior_df d0.  Other intervals,
    and groups of fewer than MIN_MODERATE process-t arms, are left as they
    are.  Returns new dicts."""
    out = [dict(r) for r in results]
    idx = [i for i, r in enumerate(out) if r.get("interval") == "process-t"
           and np.isfinite(r.get("pvalue", np.nan)) and r.get("df", 0) >= 1
           and np.isfinite(r.get("se", np.nan)) and r["se"] > 0]
    if len(idx) < MIN_MODERATE:
        return out
    s2 = np.array([out[i]["se"] ** 2 for i in idx])
    df = np.array([out[i]["df"] for i in idx])
    d0, s02 = prior_variance(s2, df)
    for i, v, d in zip(idx, s2, df):
        se = float(np.sqrt((d0 * s02 + d * v) / (d0 + d)))
        _t_interval(out[i], se, d + d0, level, True)
        out[i]["interval"], out[i]["prior_df"] = "process-t-moderated", float(d0)
    return out


def hier_ratio(num: list, den: list | None = None, *, n_resamples: int = 2000,
               seed: int = 20130828, level: float = 0.95, trim: float = TRIM,
               resample_rounds: bool | None = None,
               min_processes_t: int = MIN_PROCESSES_T) -> dict:
    """The paired ratio num/den with a hierarchical bootstrap interval.

    num, den: per unit (a worker process, or one memory layout of one), per
    epoch, the values by round, paired element by element (the same round);
    a unit may also be given as one array.  den None means 1 everywhere (the
    interval of num's typical value).

    Estimate: exp of the trimmed mean (trim of the values cut from each end)
    of the paired per-round log ratios log(num/den), after winsorizing them
    at the median +- 5 MAD (_clip_logs).  The timing noise of this host is
    right-skewed (a value is now and then several percent slow: a tick, the
    hypervisor), and the trimmed mean leaves those tails out where the mean
    of logs follows them (docs/measurement.md gives the A/A figures).
    Interval, with at least min_processes_t units (a sweep's or run's
    usual case, dear ones included): Student's t over the units, from
    the bootstrap standard error of the log ratio when whole units are drawn
    ("process-t": the run-to-run variance lives between processes, and
    drawing layouts again inside drawn processes counted theirs twice: on
    two A/A default sweeps those intervals were 1.37 times wider than the
    run-to-run change; the t quantile keeps the few-unit ones honest).
    Otherwise (fewer units): each resample draws units with replacement, then epochs within
    each drawn unit, each epoch with all its rounds, keeping pairs together,
    and takes the same trimmed mean of the drawn multiset.  resample_rounds:
    also draw the rounds within each drawn epoch; None (the default) does so
    only when there are fewer than MIN_EPOCHS epochs in all in fewer than
    min_processes_t units, where drawing them alone would say too little
    (one process of one epoch: nothing).
    Resampling rounds inside resampled epochs counts their noise twice: on
    two A/A default sweeps it made the intervals 1.7 times wider than the
    run-to-run change (docs/measurement.md);
    percentile interval.  Returns {ratio, lo, hi, halfwidth (relative:
    (hi - lo) / 2 / ratio), pvalue (two-sided: process-t from t, else the
    share of resampled ratios beyond 1, doubled; nan for den None),
    processes, epochs, values, clipped, interval (which of the above)}."""
    from scipy import stats as sst

    a_lv = _levels(num)
    b_lv = [[np.ones_like(e) for e in p] for p in a_lv] if den is None else _levels(den)
    logs = []
    for ea, eb in zip(a_lv, b_lv):
        keep = []
        for x, y in zip(ea, eb):
            if len(x) and len(x) == len(y) and np.all(x > 0) and np.all(y > 0):
                keep.append(np.log(x) - np.log(y))
        if keep:
            logs.append(keep)
    nvals = int(sum(len(x) for p in logs for x in p))
    out = {"ratio": float("nan"), "lo": float("nan"), "hi": float("nan"),
           "halfwidth": float("nan"), "pvalue": float("nan"), "processes": len(logs),
           "epochs": int(sum(len(p) for p in logs)), "values": nvals, "clipped": 0}
    if not logs:
        return out
    logs, out["clipped"] = _clip_logs(logs)
    allv = np.concatenate([x for p in logs for x in p])
    ratio = float(np.exp(sst.trim_mean(allv, trim)))
    out["ratio"] = ratio
    if nvals < 3:
        return out
    rng = np.random.default_rng(seed)
    B = n_resamples
    P = len(logs)
    nep = sum(len(ea) for ea in logs)
    if resample_rounds is None:
        # only where the units are too few for their own spread to say
        # anything: fewer than MIN_EPOCHS layouts in fewer than
        # min_processes_t processes.  A dear case's 5 or 6 processes of one
        # or two layouts each get process-t like every other case
        # (docs/measurement.md: on eight A/A pairs its intervals had
        # calibration 0.67 against 0.53 with the rounds drawn again)
        resample_rounds = nep < MIN_EPOCHS and P < min_processes_t
    by_process = P >= min_processes_t and not resample_rounds
    out["interval"] = "process-t" if by_process else (
        "process-layout-round" if resample_rounds else "process-layout")
    # the multiplicity of every value in every resample: process drawn m_p
    # times, epoch drawn m_e times within it, round drawn w times within that
    # (by_process: each process's values all go with it, whole)
    mult = np.zeros((nvals, B))        # values x resamples (rows contiguous)
    mp = rng.multinomial(P, np.full(P, 1.0 / P), size=B) if P > 1 else np.ones((B, 1))
    col = 0
    for p, ea in enumerate(logs):
        E = len(ea)
        if by_process:
            me = np.ones((B, E))
        else:
            me = rng.multinomial(E, np.full(E, 1.0 / E), size=B) if E > 1 else np.ones((B, 1))
        for e, x in enumerate(ea):
            if resample_rounds:
                w = rng.multinomial(len(x), np.full(len(x), 1.0 / len(x)), size=B)
                mult[col:col + len(x)] = w.T * (me[:, e] * mp[:, p])
            else:                       # an epoch's rounds go with it, whole
                mult[col:col + len(x)] = me[:, e] * mp[:, p]
            col += len(x)
    order = np.argsort(allv, kind="stable")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.exp(weighted_trim_mean(allv[order], mult[order].T, trim))
    r = r[np.isfinite(r)]
    if len(r) < B // 2:
        return out
    q = (1 - level) / 2
    if by_process:
        # Student's t over the processes: the bootstrap's standard error of the
        # log ratio, drawing whole processes (the level the run-to-run variance
        # lives in), times sqrt(P / (P - 1)) (a draw from P units understates
        # their variance by (P - 1) / P), and t with P - 1 degrees of freedom:
        # with 5 to 10 processes the standard error is itself uncertain, and a
        # normal quantile would be overconfident exactly where the processes
        # happened to agree (docs/measurement.md gives the A/A figures).
        se = float(np.std(np.log(r), ddof=1)) * np.sqrt(P / (P - 1))
        _t_interval(out, se, P - 1, level, den is not None)
        return out
    lo, hi = np.quantile(r, [q, 1 - q])
    out["lo"], out["hi"] = float(lo), float(hi)
    out["halfwidth"] = float((hi - lo) / 2 / ratio) if ratio else float("nan")
    if den is not None:
        below = (np.sum(r <= 1.0) + 1) / (len(r) + 1)
        above = (np.sum(r >= 1.0) + 1) / (len(r) + 1)
        out["pvalue"] = float(min(1.0, 2 * min(below, above)))
    return out


def seconds_for(halfwidth: float, seconds: float, target: float) -> float:
    """About how many seconds of timing a case group needs for a ratio whose
    95% half-width was `halfwidth` after `seconds` to reach `target`, at the
    noise it showed: half-widths narrow as 1/sqrt(time) (more rounds, more
    processes; the t quantile of more processes narrows them a little more,
    so this is on the safe side), hence seconds * (halfwidth / target)^2;
    `seconds` where it is reached already; nan where anything is unknown."""
    import math

    try:
        h, s, t = float(halfwidth), float(seconds), float(target)
    except (TypeError, ValueError):
        return float("nan")
    if not (math.isfinite(h) and math.isfinite(s) and math.isfinite(t)) or \
            h < 0 or s <= 0 or t <= 0:
        return float("nan")
    return s if h <= t else s * (h / t) ** 2


def halfwidth_after(halfwidth: float, seconds: float, other: float) -> float:
    """The half-width seconds_for's model expects after `other` seconds of a
    case that reached `halfwidth` after `seconds`."""
    return float(halfwidth) * (float(seconds) / float(other)) ** 0.5


def budget_shortfall(rows, target: float | None) -> dict | None:
    """Of timed result rows (columns halfwidth, halfwidth_of, stopped,
    timing_s), the intervals (ratios to the baseline, and the baseline's
    own: what stopping waits for, bench.runner._worst) that the budget
    stopped short of `target`: {"count": how many, "cases": how many cases,
    "row": the one that would need the most time, "need": those seconds
    (seconds_for), "reach": the half-width it would have after BUDGET_MAX
    seconds}; None where there is none, no target, or no timing_s (runs
    from before it; rows whose timing_s is unknown are left out)."""
    import pandas as pd

    from .results import CASE_KEYS
    from .values import BUDGET_MAX

    need_cols = {"halfwidth", "halfwidth_of", "stopped", "timing_s"}
    if not target or not need_cols <= set(rows.columns):
        return None
    keys = [k for k in CASE_KEYS + ["phase"] if k in rows.columns]     # one series' interval
    r = rows[rows["halfwidth_of"].notna() & (rows["stopped"] == "budget")]
    if r.empty:
        return None
    r = r.drop_duplicates(keys)
    hw = pd.to_numeric(r["halfwidth"], errors="coerce")
    spent = pd.to_numeric(r["timing_s"], errors="coerce")
    r = r[(hw > target) & spent.notna() & (spent > 0)]
    if r.empty:
        return None
    need = [seconds_for(h, s, target) for h, s in zip(r["halfwidth"], r["timing_s"])]
    i = max(range(len(need)), key=lambda j: need[j])
    row = r.iloc[i]
    case = [k for k in keys if k not in ("phase", "variant", "ext")]
    return {"count": len(r), "cases": len(r.drop_duplicates(case)) if case else 1,
            "row": row, "need": need[i],
            "reach": halfwidth_after(row["halfwidth"], row["timing_s"], BUDGET_MAX)}
