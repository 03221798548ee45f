"""Short findings: per host, backend and workload, at the headline case and
the largest n, one line per phase: the best and the worst series against the
baseline and the cause in a few words (analysis.findings).  The findings of
every other case are in the per-workload sections."""

from __future__ import annotations

from .. import fmt
from ..findings import workload_findings
from ..render import Bullets, Heading, Para
from . import Context, case_text, in_case

TITLE = "Findings"


def blocks(ctx: Context) -> list:
    out = [Heading(2, TITLE)]
    if ctx.cmp.empty:
        return out + [Para(f"No series other than {ctx.baseline} shares a case with it: "
                           "nothing to compare.")]
    out.append(Para(f"Against {ctx.baseline}, at each workload's headline case and largest n: "
                    "the best and the worst series with the change (95% interval when measured, "
                    "exact when simulated) and the cause in a few words, from the same data "
                    "(scaling fits, the counter that moved most). Measured first."))
    for host in ctx.hosts:
        for wl in ctx.workloads(host):
            case = ctx.case(host, wl)
            if case is None:
                continue
            sub = in_case(ctx.cmp[(ctx.cmp["host"] == host) & (ctx.cmp["workload"] == wl)], case)
            lines = []
            for (sim, be), g in sub.groupby(["simulated", "backend"]):  # measured first
                ls, _ = workload_findings(g, ctx.fits, host=host, backend=be, workload=wl,
                                          baseline=ctx.baseline)
                lines += ls
            if lines:
                pre = f"host {host}, " if len(ctx.hosts) > 1 else ""
                out += [Para(f"{pre}{wl} at {case_text(case)}:"), Bullets(lines)]
    return out


def all_findings(ctx: Context, host: str, backend: str, simulated: bool, workload: str) -> list:
    """Every case's findings of one workload (the per-workload section)."""
    from ..render import Table

    lines, rows = workload_findings(ctx.cmp, ctx.fits, host=host, backend=backend,
                                    workload=workload, baseline=ctx.baseline)
    if not lines:
        return []
    tag = fmt.backend_tag(backend, simulated)
    return [Heading(4, f"findings, every case — {workload}, host {host}, {tag}"),
            Bullets(lines),
            Table(f"{workload} — host {host}, {tag}: every series at the largest n",
                  ["phase, case", "series", f"vs {ctx.baseline}", "95% interval", "verdict",
                   "evidence (same data)"], rows, fold=True)]
