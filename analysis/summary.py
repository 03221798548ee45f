"""summary.txt (what a commit message quotes: at most 40 lines of 80
columns) and changes.txt (every change against the baseline, in full).

summary.txt names the pair (B against A: `--pair A,B`, default the baseline
against the newest variant), the hosts and backends, then per host,
workload and phase one line at the workload's headline case and largest n:
the measured time's change with its 95% interval, the simulated D1 read
misses and instructions exact; then the history check, one line per fact.
"""

from __future__ import annotations

import pandas as pd

from . import fmt, stats
from .findings import CASE_PARAMS, param_text
from .sections import Context, backends_text, case_text, in_case
from .tables import phase_key, sort_keys, varying

MAX_LINES = 40
WIDTH = 80
SIM_METRICS = ["D1mr", "Ir"]  # exact, simulated
MEASURED_METRICS = ["time", "L1-dcache-load-misses"]  # with the interval


def _at(c: pd.DataFrame, metric: str, sim: bool, n=None):
    r = c[(c["metric"] == metric) & (c["exact"] == sim)]
    if r.empty:
        return None
    r = r[r["n"] == (n if n is not None and n in set(r["n"]) else r["n"].max())]
    return r.iloc[0]


def _measured(r, metric) -> str:
    name = "time" if metric == "time" else "L1d-miss"
    text = f"{name} {fmt.pct(r['ratio'])} {fmt.ci_pct(r['ci_lo'], r['ci_hi'])[4:-1].join('[]')}"
    if r["verdict"] not in (stats.VERDICT_BETTER, stats.VERDICT_WORSE):
        text += " n.s."
    return text


def _phase_line(c: pd.DataFrame, phase: str, n) -> str:
    parts = []
    for metric in MEASURED_METRICS:
        r = _at(c, metric, False, n)
        if r is not None:
            parts.append(_measured(r, metric))
            break
    sims = []
    for metric in SIM_METRICS:
        r = _at(c, metric, True, n)
        if r is not None:
            sims.append((metric, r))
    if sims:
        at = "" if n is None or sims[0][1]["n"] == n else f" (n={int(sims[0][1]['n'])})"
        parts.append("sim " + ", ".join(f"{m} {fmt.pct(r['ratio'])}" for m, r in sims) + at)
    return fmt.clip(f"  {phase:<7} " + "  ".join(parts), WIDTH)


def host_block(ctx: Context, host: str) -> list[str]:
    a, b = ctx.pair
    pc = ctx.pair_cmp
    out = [f"host {host}:"]
    if pc.empty:
        return out + [f"  ({b} and {a} share no case)"]
    for wl in ctx.workloads(host):
        case = ctx.case(host, wl)
        if case is None:
            continue
        c = in_case(pc[(pc["host"] == host) & (pc["workload"] == wl)], case)
        if c.empty:
            continue
        meas = c[~c["exact"].astype(bool)]
        n = meas["n"].max() if len(meas) else c["n"].max()
        out.append(fmt.clip(f"{wl} {case_text(case)}" + (f", n={int(n)}" if n > 0 else ""),
                            WIDTH))
        for phase in sorted(c["phase"].unique(), key=phase_key):
            out.append(_phase_line(c[c["phase"] == phase], phase, n))
    return out


def summary_text(ctx: Context) -> str:
    a, b = ctx.pair
    sim = bool(ctx.df["simulated"].any())
    head = [fmt.clip(f"rmapbench: {b} against {a}, per op (lower is better)", WIDTH),
            fmt.clip(f"hosts: {', '.join(ctx.hosts)}; backends: {backends_text(ctx.df)}", WIDTH)]
    if (~ctx.df["simulated"]).any():
        head.append("measured: change of the mean [95% CI]; n.s. = not significant")
    if sim:
        head.append("sim: exact counts of valgrind's cache model; D1mr = D1 read misses, "
                    "Ir = instr.")
    head.append("")
    tail = ["", "History check (kernel pte_list history against this run):"]
    tail += [f.short_line(WIDTH) for f in ctx.facts]
    tail += ["", "Full table: changes.txt; every number: comparisons.csv; report.html"]
    body: list[str] = []
    hosts = ctx.hosts
    for i, host in enumerate(hosts):
        block = host_block(ctx, host)
        left = MAX_LINES - len(head) - len(tail) - len(body) - len(block)
        if left < (1 if i < len(hosts) - 1 else 0):
            body.append(f"({len(hosts) - i} more host(s): {', '.join(hosts[i:])}; "
                        "see changes.txt)")
            break
        body += block
    lines = head + body + tail
    return "\n".join(fmt.clip(line, WIDTH) for line in lines[:MAX_LINES]) + "\n"


# -- changes.txt ---------------------------------------------------------------

def summary_lines(cmp: pd.DataFrame, baseline: str, metrics: dict | None = None) -> list[str]:
    """Before/after lines, one per comparison of the summary metrics, e.g.
    `fork add n=64  A 41.2 ns/op -> B 12.1 ns/op  -70.6% [CI -72.0%, -69.1%]  perf`."""
    metrics = metrics or fmt.SUMMARY_METRICS
    out: list[str] = []
    if cmp is None or cmp.empty:
        return out
    for (host, be, sim), g in cmp.groupby(["host", "backend", "exact"]):
        sim = bool(sim)
        vary = varying(g)
        const = {k: g[k].iloc[0] for k in CASE_PARAMS if k not in vary}
        out.append(f"# host {host}, {fmt.backend_words(be, sim)}; baseline {baseline};"
                   + "".join(param_text(k, v) for k, v in const.items()))
        order = {lbl: i for i, lbl in enumerate(stats.labels(g))}
        for metric in [m for m in metrics[sim] if m in set(g["metric"])]:
            rows = []
            gm = g[g["metric"] == metric]
            gm = gm.assign(_p=gm["phase"].map(phase_key), _o=gm["label"].map(order))
            for _, c in gm.sort_values(["workload", "_p"] + sort_keys(vary) + ["n", "_o"]).iterrows():
                unit = fmt.per_op(metric, c["unit"])
                case = f"{c['workload']} {c['phase']}" + "".join(param_text(k, c[k]) for k in vary)
                if c["n"] > 0:
                    case += f" n={int(c['n'])}"
                before = f"{baseline} {fmt.num(c['base_mean'])} {unit}"
                after = f"{c['label']} {fmt.num(c['mean'])} {unit}"
                if c["exact"]:
                    change = f"{fmt.pct(c['ratio'])} exact"
                    tag = "sim, simulated"
                else:
                    change = f"{fmt.pct(c['ratio'])} {fmt.ci_pct(c['ci_lo'], c['ci_hi'])}"
                    tag = be
                if c["verdict"] not in (stats.VERDICT_BETTER, stats.VERDICT_WORSE):
                    tag += f", {c['verdict']}"
                rows.append((case, before, after, change, tag))
            w = [max(len(r[i]) for r in rows) for i in range(4)]
            out += [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}} -> {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}"
                    for r in rows] + [""]
    return out


HISTORY_TITLE = "What the kernel's history predicts, and what this run shows"


def changes_text(cmp: pd.DataFrame, baseline: str, facts: list | None = None) -> str:
    head = []
    if facts:
        head += [f"{HISTORY_TITLE}:"] + [f.line() for f in facts] + [""]
    head += [f"rmapbench changes: each series against {baseline}, per op; "
             "CI = 95% bootstrap interval of the ratio of means (measured); "
             "'exact' = deterministic simulated count (valgrind cache simulator)."]
    lines = summary_lines(cmp, baseline)
    if not lines:
        lines = [f"(no series other than {baseline} shares a case with it)"]
    return "\n".join(head + [""] + lines).rstrip("\n") + "\n"
