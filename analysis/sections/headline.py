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


def _cell(pts, metric: str, sim: bool, where: str):
    p = pts[(pts["metric"] == metric) & (pts["simulated"] == sim)]
    if p.empty:
        return (f"{where}, {metric}", "", None)
    be = p["backend"].iloc[0]
    p = p[p["backend"] == be]
    return (f"{where}: {metric} ({fmt.backend_tag(be, sim)})", fmt.per_op(metric, p["unit"].iloc[0]), p)


MAX_COLS = 4


def figure_grid(ctx: Context, wl: str) -> tuple[list, list[str], bool]:
    """The panels of one workload's figure: a column per host and metric
    (time, then misses) when that is at most 4 columns, else a row per host
    and phase; a row per phase.  Returns (grid, the cases in words, whether
    the misses are simulated)."""
    per_host, cases, kinds = [], [], set()
    for host in ctx.hosts:
        case = ctx.case(host, wl) if wl in ctx.workloads(host) else None
        if case is None:
            continue
        cases.append((f"host {host}: " if len(ctx.hosts) > 1 else "") + case_text(case))
        pts = in_case(ctx.points[(ctx.points["host"] == host)
                                 & (ctx.points["workload"] == wl)], case)
        mm = miss_metric(pts)
        if mm:
            kinds.add("simulated D1 read misses" if mm[1] else "measured L1d load misses")
        metrics = [("time", False)] + ([mm] if mm else [])
        per_host.append((host, pts, metrics))
    phases = sorted({p for _, pts, _ in per_host for p in pts["phase"].unique()}, key=phase_key)
    ncols = sum(len(m) for _, _, m in per_host)
    multi = len(per_host) > 1
    grid = []
    if ncols <= MAX_COLS:
        for phase in phases:
            row = []
            for host, pts, metrics in per_host:
                pp = pts[pts["phase"] == phase]
                where = f"{host}: {wl} {phase}" if multi else f"{wl} {phase}"
                row += [_cell(pp, m, sim, where) for m, sim in metrics]
            grid.append(row)
    else:
        for host, pts, metrics in per_host:
            for phase in phases:
                pp = pts[pts["phase"] == phase]
                grid.append([_cell(pp, m, sim, f"{host}: {wl} {phase}") for m, sim in metrics])
    return grid, cases, " / ".join(sorted(kinds))


def blocks(ctx: Context) -> list:
    a, b = ctx.pair
    out = [Heading(2, f"{TITLE}: {b} against {a}"),
           Para(f"Hosts {', '.join(ctx.hosts)}; backends {backends_text(ctx.df)}. Per workload "
                f"one case (the one where {a} and {b} share the most n values, fifo/bump "
                "preferred): every series' measured time per op against n beside its "
                "D1 read misses per op (simulated; the measured L1d misses where nothing was "
                "simulated), the pair in bold; error bars: 95% interval "
                "of the mean (measured), none for exact simulated counts. Every other case is "
                "in the per-workload sections below.")]
    if not ctx.plots:
        return out
    from ..plots import headline_figure

    for wl in sorted({w for h in ctx.hosts for w in ctx.workloads(h)}):
        grid, cases, misses = figure_grid(ctx, wl)
        if not grid:
            continue
        png = headline_figure(grid, f"{wl}: cost per op against n",
                              series_order=stats.labels(ctx.df), pair=ctx.pair)
        out.append(Image(slug(f"headline-{wl}"), png,
                         f"{wl}: measured time per op" + (f" beside {misses}" if misses else "")
                         + " per op against n, "
                         f"every series, {a} and {b} bold; " + "; ".join(cases)))
    return out
