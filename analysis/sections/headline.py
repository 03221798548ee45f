"""Headline figures: per workload, the cost per op against n of every
series at the workload's headline case, measured time beside the simulated
D1 read misses (or the measured L1d misses when nothing was simulated); one
row of panels per host and phase (the host is a facet)."""

from __future__ import annotations

from .. import fmt, stats
from ..render import Heading, Image, Para, slug
from ..tables import phase_key
from . import Context, backends_text, case_text, in_case, miss_metric

TITLE = "Headline"


def _cell(pts, metric: str, sim: bool, what: str):
    p = pts[(pts["metric"] == metric) & (pts["simulated"] == sim)]
    if p.empty:
        return (what, "", None)
    be = p["backend"].iloc[0]
    p = p[p["backend"] == be]
    return (f"{what} — {fmt.backend_tag(be, sim)}", fmt.per_op(metric, p["unit"].iloc[0]), p)


def blocks(ctx: Context) -> list:
    a, b = ctx.pair
    out = [Heading(2, f"{TITLE}: {b} against {a}"),
           Para(f"Hosts {', '.join(ctx.hosts)}; backends {backends_text(ctx.df)}. Per workload "
                f"one case (the one where {a} and {b} share the most n values, fifo/bump "
                "preferred); every series is drawn, the pair in bold; error bars: 95% interval "
                "of the mean (measured), none for exact simulated counts. Every other case is "
                "in the per-workload sections below.")]
    if not ctx.plots:
        return out
    from ..plots import headline_figure

    for wl in sorted({w for h in ctx.hosts for w in ctx.workloads(h)}):
        grid, cases = [], []
        for host in ctx.hosts:
            case = ctx.case(host, wl) if wl in ctx.workloads(host) else None
            if case is None:
                continue
            cases.append(f"host {host}: {case_text(case)}")
            pts = in_case(ctx.points[(ctx.points["host"] == host)
                                     & (ctx.points["workload"] == wl)], case)
            mm = miss_metric(pts)
            for phase in sorted(pts["phase"].unique(), key=phase_key):
                pp = pts[pts["phase"] == phase]
                where = f"{host}: {wl} {phase}" if len(ctx.hosts) > 1 else f"{wl} {phase}"
                row = [_cell(pp, "time", False, f"{where}, time")]
                if mm:
                    row.append(_cell(pp, mm[0], mm[1], f"{where}, {mm[0]}"))
                grid.append(row)
        if not grid:
            continue
        png = headline_figure(grid, f"{wl}: cost per op against n — {'; '.join(cases)}",
                              series_order=stats.labels(ctx.df), pair=ctx.pair)
        out.append(Image(slug(f"headline-{wl}"), png,
                         f"{wl}: measured time per op (left) beside "
                         + ("simulated D1 read misses" if mm and mm[1] else "L1d load misses")
                         + f" per op (right) against n, every series, {a} and {b} bold; "
                         + "; ".join(cases)))
    return out
