"""Timing quality per case (measured): the precision reached, the values
re-measured because their region was disturbed and why, the worker processes
and why timing stopped.  The summary per workload and phase is the
precision section near the top; this is every case."""

from __future__ import annotations

import math

import numpy as np

from ..render import Heading, Para, Table
from . import Context

TITLE = "Timing quality"


def blocks(ctx: Context) -> list:
    df = ctx.df
    """Per measured case and phase: the 95% half-width reached, how many values
    were re-measured because their region was disturbed and why, the worker
    processes and why timing stopped (docs/measurement.md)."""
    if "halfwidth" not in df.columns:
        return []
    t = df[(df["metric"] == "time") & ~df["simulated"].astype(bool) & df["halfwidth_of"].notna()]
    if t.empty:
        return []
    keys = ["host", "workload", "phase", "n", "heads", "order", "alloc", "label"]
    from .precision import target_precision

    targets = {h: target_precision(ctx.loaded.meta_for_host(h)) for h in t["host"].unique()}
    rows = []
    for key, g in t.groupby(keys, sort=True):
        r = g.iloc[0]
        hw = float(r["halfwidth"])
        rows.append([r["host"], r["workload"], r["phase"],
                     f"n={int(r['n'])} heads={int(r['heads'])} {r['order']} {r['alloc']}",
                     r["label"], f"±{hw:.2%}" if math.isfinite(hw) else "n/a",
                     str(r["halfwidth_of"]),
                     f"{int(r['remeasured'])} of {len(g)}", str(r["remeasure_reasons"] or "-"),
                     str(int(r["processes"])), str(r["stopped"]),
                     _seconds(r, targets.get(r["host"]))])
    hws = t.drop_duplicates(keys)["halfwidth"].astype(float)
    hws = hws[np.isfinite(hws)]         # NaN: not recorded; inf: no interval closed
    line = (f"95% CI half-width reached: median {hws.median():.2%}, p90 {hws.quantile(0.9):.2%} "
            f"over {len(hws)} case/phase series (measured time, raw). "
            if len(hws) else "")
    return [Heading(2, TITLE),
            Para(line + "Re-measured: values whose region was disturbed (preempted, blocked, "
                 "migrated, page faults, off the CPU) and were measured again, at most 3 times "
                 "each."),
            Table("timing quality per case (measured)", ["host", "workload", "phase", "case",
                  "series", "95% CI half-width", "of", "re-measured", "why", "processes",
                  "stopped by", "timing s (about, for the target)"], rows, fold=True)]


def _seconds(r, target: float | None) -> str:
    """The group's timing seconds and, for an interval the budget stopped
    short of the target, about how many it would need (bench.measure.seconds_for)."""
    from bench.measure import seconds_for
    from bench.values import BUDGET_MAX

    spent = r.get("timing_s", float("nan"))
    if spent != spent:
        return "not recorded"
    text = f"{spent:.0f}"
    if target and r["stopped"] == "budget" and r["halfwidth"] > target:
        need = seconds_for(r["halfwidth"], spent, target)
        if math.isfinite(need):
            text += f" (about {need:.0f})" if need <= BUDGET_MAX else \
                f" (about {need:.0f}: beyond {BUDGET_MAX:g})"
    return text
