"""Compare two runs: per case, series and metric, run B against run A (two
hosts, two compilers, two builds), with the same statistics as the report.

Public entry point:
  compare_dirs(dir_a, dir_b, out=None, baseline=None) -> Comparison
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import UsageError
from bench.variants import role

BASELINE = role("baseline")

from . import fmt, stats
from .findings import PHASE_ORDER, param_text
from .load import load_runs
from .render import Heading, Para, Table, to_html, to_markdown
from .report import (_runs_table, _sort_keys, _varying, change_cell, comparison_table,
                     resolve_out)


@dataclass
class Comparison:
    text: str  # what `rmapbench compare` prints
    table: pd.DataFrame = field(repr=False)  # B against A, one row per case/series/metric
    baseline_table: pd.DataFrame | None = field(repr=False, default=None)
    md_path: Path | None = None
    html_path: Path | None = None


def _side(run, name: str) -> str:
    hosts = ", ".join(sorted(run.df["host"].unique()))
    return f"{name} = {run.path} (host {hosts}; {', '.join(sorted(run.df['backend'].unique()))})"


def text_lines(cmp: pd.DataFrame) -> list[str]:
    """B against A on the headline metric (time, or Ir when simulated), one line per point."""
    out = []
    for (be, sim), g in cmp.groupby(["backend", "exact"]):
        sim = bool(sim)
        metric = fmt.PRIMARY[sim] if fmt.PRIMARY[sim] in set(g["metric"]) else g["metric"].iloc[0]
        gm = g[g["metric"] == metric]
        vary = _varying(gm)
        order = {lbl: i for i, lbl in enumerate(stats.labels(gm))}
        gm = gm.assign(_p=gm["phase"].map(lambda p: PHASE_ORDER.get(p, 9)),
                       _o=gm["label"].map(order))
        out.append(f"# {fmt.backend_words(be, sim)}; metric {metric}")
        rows = []
        for _, c in gm.sort_values(["workload", "_p"] + _sort_keys(vary) + ["n", "_o"]).iterrows():
            unit = fmt.per_op(metric, c["unit"])
            case = (f"{c['workload']} {c['phase']}" + "".join(param_text(k, c[k]) for k in vary)
                    + (f" n={int(c['n'])}" if c["n"] > 0 else "") + f" {c['label']}")
            change = (f"{fmt.pct(c['ratio'])} exact" if c["exact"]
                      else f"{fmt.pct(c['ratio'])} {fmt.ci_pct(c['ci_lo'], c['ci_hi'])}")
            rows.append((case, f"A {fmt.num(c['base_mean'])} {unit}",
                         f"B {fmt.num(c['mean'])} {unit}", change, c["verdict"]))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        out += [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}} -> {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}"
                for r in rows] + [""]
    return out


def _baseline_rows(va: pd.DataFrame, vb: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Series against the baseline within A and within B, side by side."""
    keys = [k for k in stats.POINT_KEYS if k not in ("host", "size_label")] + ["label"]
    cols = keys + ["size_label", "ratio", "ci_lo", "ci_hi", "verdict", "exact"]
    if va.empty or vb.empty:        # a run of the baseline alone: nothing to set side by side
        return pd.DataFrame()
    m = va[cols].merge(vb[cols], on=keys + ["exact"], suffixes=("_a", "_b"))
    m["agree"] = m["verdict_a"] == m["verdict_b"]
    return m


def compare_dirs(dir_a, dir_b, out=None, baseline: str | None = "auto", *,
                 alpha: float = stats.ALPHA, threshold: float = stats.EXACT_THRESHOLD,
                 n_resamples: int = stats.N_RESAMPLES) -> Comparison:
    """Compare run B against run A; write compare.md and compare.html into out
    (default: dir_b).  With a baseline, also set each run's series-against-
    baseline ratios side by side (does a speedup on A hold on B?); "auto":
    old when both runs have it, else none."""
    loaded = load_runs([dir_a, dir_b])
    ra, rb = loaded.runs
    kw = dict(alpha=alpha, threshold=threshold, n_resamples=n_resamples)
    cmp = stats.compare_runs(ra.df, rb.df, **kw)
    if cmp.empty:
        raise UsageError(f"runs {str(dir_a)!r} and {str(dir_b)!r} have no case in common "
                         "(same backend, workload, phase, variant, EXT, n, size, order, alloc "
                         "and metric): nothing to compare")
    base_tbl = None
    if baseline == "auto":
        both = set(stats.labels(ra.df)) & set(stats.labels(rb.df))
        baseline = BASELINE if BASELINE in both else None
    if baseline is not None:
        baseline = stats.check_baseline(ra.df, baseline)
        stats.check_baseline(rb.df, baseline)
        base_tbl = _baseline_rows(stats.compare_variants(ra.df, baseline, **kw),
                                  stats.compare_variants(rb.df, baseline, **kw), baseline)
    title = f"rmapbench compare: {rb.path} (B) against {ra.path} (A)"
    sides = [_side(ra, "A"), _side(rb, "B")]
    text = "\n".join([title, *sides, "change = B / A - 1 per op; CI = 95% bootstrap interval "
                      "of the ratio of means; 'exact' = simulated counts", ""] + text_lines(cmp))

    blocks: list = [Para(" ".join(s + "." for s in sides)), _runs_table(loaded),
                    Para("Change = mean of B / mean of A - 1 per op, per case, series and "
                         "metric (host ignored, so two hosts compare directly). Measured: 95% "
                         "bootstrap interval and Mann-Whitney U with Benjamini-Hochberg q < "
                         f"{alpha}; simulated: exact, 'equal' within ±{threshold * 100:g}%.")]
    for (be, sim), g in cmp.groupby(["backend", "exact"]):
        tag = fmt.backend_tag(be, bool(sim))
        blocks.append(Heading(2, f"B against A — {tag}"))
        blocks.append(Para(fmt.backend_words(be, bool(sim)) + "."))
        for wl in sorted(g["workload"].unique()):
            gw = g[g["workload"] == wl]
            for phase in sorted(gw["phase"].unique(), key=lambda p: PHASE_ORDER.get(p, 9)):
                c = gw[gw["phase"] == phase]
                blocks.append(Heading(3, f"{wl} / {phase} — {tag}"))
                blocks.append(comparison_table(c, "A", f"{wl} {phase}, {tag}: B against A"))
    if base_tbl is not None and not base_tbl.empty:
        blocks.append(Heading(2, f"Series against {baseline}, within A and within B"))
        rows = []
        bt = base_tbl[base_tbl["metric"] == base_tbl["exact"].map(fmt.PRIMARY)]
        for _, r in bt.sort_values(["backend", "workload", "phase", "size", "order", "alloc", "n",
                                    "label"]).iterrows():
            ca = {"ratio": r["ratio_a"], "ci_lo": r["ci_lo_a"], "ci_hi": r["ci_hi_a"],
                  "verdict": r["verdict_a"], "exact": r["exact"]}
            cb = {"ratio": r["ratio_b"], "ci_lo": r["ci_lo_b"], "ci_hi": r["ci_hi_b"],
                  "verdict": r["verdict_b"], "exact": r["exact"]}
            rows.append([fmt.backend_tag(r["backend"], r["exact"]), r["workload"], r["phase"],
                         f"{r['size_label_a']}, order={r['order']}, alloc={r['alloc']}",
                         str(int(r["n"])), r["label"], r["metric"], change_cell(ca),
                         change_cell(cb), "yes" if r["agree"] else "NO"])
        blocks.append(Table(f"headline metric of each series against {baseline}: A and B "
                            "(does the difference reproduce?)",
                            ["backend", "workload", "phase", "case (A)", "n", "series", "metric",
                             f"A: vs {baseline}", f"B: vs {baseline}", "same verdict"], rows))
    target = resolve_out([dir_b], out)
    from bench.results import atomic_write

    md = target / "compare.md"
    html = target / "compare.html"
    atomic_write(md, to_markdown(blocks, title))
    atomic_write(target / "compare.csv", cmp.to_csv(index=False))
    atomic_write(html, to_html(blocks, title))
    return Comparison(text=text, table=cmp, baseline_table=base_tbl, md_path=md, html_path=html)
