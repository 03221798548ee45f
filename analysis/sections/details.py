"""Per host, backend and workload: every case's findings, then per phase the
mean per op, the change against the baseline and the scaling with n
(tables), and plots against n of the headline metrics."""

from __future__ import annotations

from .. import fmt, stats
from ..render import Heading, Image, Para, slug
from ..tables import comparison_table, fits_table, metrics_of, phase_key, values_table
from . import Context
from .findings import all_findings

TITLE = "{workload} — host {host}, {tag}"
MIN_PLOT_VALUE = 0.01  # as findings.MIN_EVIDENCE_ABS: below it per op, a count explains nothing
# plotted against n here (every metric is in the tables; the headline shows time and misses)
PLOT_METRICS = {False: ["time", "cycles", "L1-dcache-load-misses", "LLC-load-misses"],
                True: ["Ir", "D1mr", "DLmr"]}


def blocks(ctx: Context) -> list:
    out: list = []
    points, cmp, fits = ctx.points, ctx.cmp, ctx.fits
    for (host, be, sim), g in points.groupby(["host", "backend", "simulated"]):
        sim = bool(sim)
        metas = ctx.loaded.meta_for_host(host)
        levels = next((lv for lv in (stats.cache_levels(m, sim) for m in metas) if lv), [])
        tag = fmt.backend_tag(be, sim)
        for wl in sorted(g["workload"].unique()):
            out.append(Heading(2, TITLE.format(workload=wl, host=host, tag=tag)))
            out.append(Para(fmt.backend_words(be, sim) + "."))
            if wl == "null":
                out.append(Para("null is the measurement harness around an empty phase: its "
                                "cost per op is included in every other number of this "
                                "host and backend."))
            out += all_findings(ctx, host, be, sim, wl)
            gw = g[g["workload"] == wl]
            for phase in sorted(gw["phase"].unique(), key=phase_key):
                out += _phase(ctx, gw[gw["phase"] == phase], host, be, sim, wl, phase, levels,
                              tag, cmp, fits)
    return out


def _phase(ctx, pts, host, be, sim, wl, phase, levels, tag, cmp, fits) -> list:
    where = f"{wl} {phase}, host {host}, {tag}"
    out = [Heading(3, f"{wl} / {phase} — host {host}, {tag}"),
           values_table(pts, levels, f"{where}: mean per op")]
    c = cmp[(cmp["host"] == host) & (cmp["backend"] == be) & (cmp["workload"] == wl)
            & (cmp["phase"] == phase)] if not cmp.empty else cmp
    if not c.empty:
        out.append(comparison_table(c, ctx.baseline, f"{where}: change against {ctx.baseline}"))
    f = fits[(fits["host"] == host) & (fits["backend"] == be) & (fits["workload"] == wl)
             & (fits["phase"] == phase) & (fits["points"] >= 3)
             & (~fits["metric"].isin(fmt.SANITY_METRICS))] if not fits.empty else fits
    if not f.empty:
        out.append(fits_table(f, f"{where}: scaling with n"))
    ns = sorted(n for n in pts["n"].unique() if n > 0)
    if len(ns) < 2:
        return out + [Para(f"Only one n value for {wl} {phase}: no plot against n and no "
                           "scaling fit; see the table.")]
    if not ctx.plots:
        return out
    from ..plots import metric_figure

    tiny, other = [], []
    for metric in metrics_of(pts, sim):
        if metric in fmt.SANITY_METRICS:
            continue
        if metric not in PLOT_METRICS[sim]:
            other.append(metric)
            continue
        mp = pts[(pts["metric"] == metric) & (pts["n"] > 0)]
        if mp["mean"].abs().max() < MIN_PLOT_VALUE:
            tiny.append(metric)  # every value immaterial: a plot would show noise
            continue
        unit = fmt.per_op(metric, mp["unit"].iloc[0])
        png = metric_figure(mp, f"{wl} {phase}: {metric} per op — host {host}, {tag}", unit,
                            series_order=stats.labels(mp), dpi=72)
        out.append(Image(slug(f"{host}-{be}-{wl}-{phase}-{metric}"), png,
                         f"{wl} {phase}: {unit} against n, host {host}, {tag}"))
    notes = []
    if tiny:
        notes.append(f"{', '.join(tiny)}: every value is below {MIN_PLOT_VALUE:g} per op")
    if other:
        notes.append(f"{', '.join(other)}: in the table above")
    if notes:
        out.append(Para("Not plotted: " + "; ".join(notes) + "."))
    return out
