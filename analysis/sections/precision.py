"""How the measured numbers were taken, per workload and phase: the series
timed interleaved in the same worker processes, the 95% CI half-width each
case reached against the run's target, the values re-measured because their
region was disturbed (and why), and what stopped the timing.  Near the top
of the report so that a reviewer sees how far to trust a change without
reading the method; every case is in the timing-quality section."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from .. import fmt
from ..render import Heading, Table
from ..tables import phase_key
from . import Context

TITLE = "Interleaving, disturbance and precision (measured)"
CASE = ["workload", "phase", "n", "size", "order", "alloc", "seed"]
_REASON = re.compile(r"([A-Za-z][\w -]*?) (\d+)")


def target_precision(metas: list[dict]) -> float | None:
    """The target half-width the runs were timed to: a sweep config's
    options.precision, else the plan's timing (a `run`)."""
    for m in metas:
        if not isinstance(m, dict):
            continue
        opts = (m.get("config") or {}).get("options") or {}
        plan = m.get("plan") if isinstance(m.get("plan"), dict) else {}
        timing = plan.get("timing") if isinstance(plan.get("timing"), dict) else {}
        for src in (opts, timing):
            p = src.get("precision") if isinstance(src, dict) else None
            if isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0:
                return float(p)
    return None


def _reasons(series: pd.DataFrame) -> str:
    c: Counter = Counter()
    for text in series["remeasure_reasons"].dropna().astype(str):
        for word, k in _REASON.findall(text):
            c[word.strip()] += int(k)
    return ", ".join(f"{w} {k}" for w, k in c.most_common(3)) or "-"


def rows_for(t: pd.DataFrame, target: float | None) -> list[list[str]]:
    """t: the measured time rows of one host and backend."""
    rows = []
    has = {c: c in t.columns for c in ("halfwidth", "remeasured", "stopped", "process")}
    for (wl, ph), g in sorted(t.groupby(["workload", "phase"]),
                              key=lambda kv: (kv[0][0], phase_key(kv[0][1]))):
        cases = g.groupby(CASE, dropna=False)
        per_case = cases["label"].nunique()
        inter = (g.groupby(CASE + ["run_id", "process"], dropna=False)["label"].nunique()
                 if has["process"] else per_case)
        series = g.drop_duplicates(CASE + ["label"])
        vals = g.groupby(CASE + ["label"], dropna=False).size()
        k, per_proc = int(per_case.median()), int(inter.median())
        row = [wl, ph, str(len(per_case)),
               (f"{k}, interleaved" if k == per_proc and k > 1 else
                f"{k} ({per_proc} in a process)"), str(int(vals.median()))]
        if has["halfwidth"]:
            hw = series["halfwidth"].dropna().astype(float)
            fin = hw[np.isfinite(hw)]       # inf: an interval that never closed
            row.append(f"{fin.median():.2%} / {fin.max():.2%}" if len(fin) else "n/a")
            row.append(f"{(hw <= target + 1e-12).sum()} of {len(hw)} series" if target and len(hw)
                       else "n/a")
        else:
            row += ["not recorded", "n/a"]
        if has["remeasured"]:
            rem = int(series["remeasured"].fillna(0).sum())
            row += [f"{rem} of {len(g)} ({rem / max(len(g), 1):.1%})", _reasons(series)]
        else:
            row += ["not recorded", "-"]
        if has["stopped"]:
            st = series["stopped"].fillna("?").astype(str).value_counts()
            row.append(", ".join(f"{k} {v}" for k, v in st.items()))
        else:
            row.append("not recorded")
        rows.append(row)
    return rows


def pages_note(t: pd.DataFrame) -> str:
    """What page size the timed values' kernel memory (descriptor arena,
    shadow pages) asked for (kmem_pages) and got (kmem_huge: the share of
    the bytes placed for 2 MiB pages that the worker had on them; NaN where
    none was placed, or where that could not be read)."""
    if "kmem_pages" not in t.columns or "kmem_huge" not in t.columns:
        return ""
    asked = t["kmem_pages"].astype(str)
    small = int((asked == "4K").sum())
    big = t[asked == "2M"]
    k = pd.to_numeric(big["kmem_huge"], errors="coerce")
    whole, part, unknown = int((k >= 0.999).sum()), int((k < 0.999).sum()), int(k.isna().sum())
    parts = []
    if len(big):
        text = f"{whole} of {len(big)} values asked for 2 MiB pages had all of it on them"
        if part:
            text += (f", {part} part of it only (the host's THP setting or free memory: "
                     "TLB misses the kernel's direct map does not have)")
        if unknown:
            text += f", {unknown} had no region of 2 MiB or more, or could not tell"
        parts.append(text)
    if small:
        parts.append(f"{small} values asked for 4 KiB pages")
    return " Kernel memory (arena, shadow pages): " + "; ".join(parts) + "." if parts else ""


def budget_note(t: pd.DataFrame, target: float | None) -> str:
    """The intervals the budget stopped short of the target, and about how long
    the one furthest from it would need at the noise it showed
    (bench.measure.budget_shortfall); "" where none did or the timing
    seconds were not recorded."""
    from bench.measure import budget_shortfall

    short = budget_shortfall(t, target)
    if short is None:
        return ""
    w = short["row"]
    return (f" The budget stopped {short['count']} interval(s) in {short['cases']} case(s) "
            f"short of ±{target:.1%}; the furthest, {w['workload']} {w['phase']} "
            f"n={int(w['n'])} heads={int(w['heads'])} {w['order']} {w['alloc']} "
            f"({w['variant']}@{w['ext']}, {w['halfwidth_of']}, ±{float(w['halfwidth']):.1%} "
            f"after {float(w['timing_s']):.0f}s), "
            + fmt.budget_advice(short["need"], short["reach"]) + ".")


def blocks(ctx: Context) -> list:
    t = ctx.df[(ctx.df["metric"] == "time") & ~ctx.df["simulated"].astype(bool)]
    if t.empty:
        return []
    out = [Heading(2, TITLE)]
    for (host, be), g in t.groupby(["host", "backend"]):
        target = target_precision(ctx.loaded.meta_for_host(host))
        tgt = f"target ±{target:.1%}" if target else "no target recorded"
        out.append(Table(
            f"how the times were taken — host {host}, {fmt.backend_tag(be, False)}",
            ["workload", "phase", "cases", "series per case", "values per series",
             f"95% CI half-width, median / max ({tgt})", "at target",
             "values re-measured (disturbed)", "why", "stopped by (series)"],
            rows_for(g, target), fold=False,
            note="Series of a case are timed interleaved, in random order, in the same worker "
                 "processes, and compared pairwise per round; the half-width is that of each "
                 "series' ratio to the case's first series (or of its mean). A value whose "
                 "region was preempted, migrated, blocked or took page faults is measured "
                 "again (at most 3 times). 'stopped by': precision (target reached) or budget "
                 "(time ran out first). Every case: the timing-quality section."
                 + budget_note(g, target) + pages_note(g)))
    return out
