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
from .report import resolve_out
from .tables import comparison_table, runs_table, sort_keys, varying


@dataclass
class Comparison:
    text: str  # what `rmapbench compare` prints
    table: pd.DataFrame = field(repr=False)  # B against A, one row per case/series/metric
    baseline_table: pd.DataFrame | None = field(repr=False, default=None)
    md_path: Path | None = None
    html_path: Path | None = None
    aa: dict = field(default_factory=dict)  # aa_summary's figures


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
        vary = varying(gm)
        order = {lbl: i for i, lbl in enumerate(stats.labels(gm))}
        gm = gm.assign(_p=gm["phase"].map(lambda p: PHASE_ORDER.get(p, 9)),
                       _o=gm["label"].map(order))
        out.append(f"# {fmt.backend_words(be, sim)}; metric {metric}")
        rows = []
        for _, c in gm.sort_values(["workload", "_p"] + sort_keys(vary) + ["n", "_o"]).iterrows():
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


def short_summary(cmp: pd.DataFrame, ra, rb, width: int = 80, max_lines: int = 40) -> str:
    """compare-summary.txt: what a commit message quotes (at most 40 lines of
    80 columns): the two runs, then per backend, workload and phase one line
    at the case with the most n values (fifo/bump preferred) and its largest
    n: the newest series' change B against A with its interval (measured) or
    exact (simulated), and how many series changed significantly there."""
    from .sections import CASE_PREF, newest

    lines = [fmt.clip("rmapbench compare: B against A, per op (lower is better)", width),
             fmt.clip(_side(ra, "A"), width), fmt.clip(_side(rb, "B"), width),
             "measured: change of the mean [95% CI], n.s. = not significant; "
             "sim: exact", ""]
    series = newest(stats.labels(cmp), "")
    for (be, sim), g in cmp.groupby(["backend", "exact"]):
        sim = bool(sim)
        metric = fmt.PRIMARY[sim] if fmt.PRIMARY[sim] in set(g["metric"]) else g["metric"].iloc[0]
        g = g[g["metric"] == metric]
        lines.append(fmt.clip(f"{fmt.backend_tag(be, sim)}: {metric} per op of {series} "
                              "(k/m: series that differ, B vs A)", width))
        for (wl, ph), c in sorted(g.groupby(["workload", "phase"]),
                                  key=lambda kv: (kv[0][0], PHASE_ORDER.get(kv[0][1], 9))):
            best = None
            for key, k in c.groupby(["size", "order", "alloc"]):
                case = dict(zip(["size", "order", "alloc"], key))
                rank = (-k["n"].nunique(), sum(case[x] != v for x, v in CASE_PREF.items()), key[0])
                if best is None or rank < best[0]:
                    best = (rank, k)
            k = best[1]
            k = k[k["n"] == k["n"].max()]
            changed = k["verdict"].isin([stats.VERDICT_BETTER, stats.VERDICT_WORSE]).sum()
            r = k[k["label"] == series]
            if r.empty:
                r = k.iloc[:1]
            r = r.iloc[0]
            ch = (f"{fmt.pct(r['ratio'])}" if sim else
                  f"{fmt.pct(r['ratio'])} {fmt.ci_pct(r['ci_lo'], r['ci_hi'])[4:-1].join('[]')}"
                  + ("" if r["verdict"] in (stats.VERDICT_BETTER, stats.VERDICT_WORSE)
                     else " n.s."))
            n = f" n={int(r['n'])}" if r["n"] > 0 else ""
            lines.append(fmt.clip(f"  {wl} {ph}{n} [{r['size_label']}]: {r['label']} {ch}; "
                                  f"{changed}/{len(k)}", width))
        lines.append("")
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + ["(more: compare.csv)"]
    return "\n".join(lines).rstrip("\n") + "\n"


def _baseline_rows(va: pd.DataFrame, vb: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Series against the baseline within A and within B, side by side."""
    keys = [k for k in stats.POINT_KEYS if k not in ("host", "size_label")] + ["label"]
    cols = keys + ["size_label", "ratio", "ci_lo", "ci_hi", "verdict", "exact"]
    if va.empty or vb.empty:        # a run of the baseline alone: nothing to set side by side
        return pd.DataFrame()
    m = va[cols].merge(vb[cols], on=keys + ["exact"], suffixes=("_a", "_b"))
    m["agree"] = m["verdict_a"] == m["verdict_b"]
    return m


AA_GOALS = {"halfwidth_median": 0.01, "halfwidth_p90": 0.03, "change_median": 0.01,
            "change_p90": 0.03, "significant": 0}


def aa_summary(cmp: pd.DataFrame, base_tbl: pd.DataFrame | None, df_a: pd.DataFrame,
               df_b: pd.DataFrame, alpha: float = stats.ALPHA) -> tuple[dict, list[str]]:
    """The figures that say whether two runs of identical code agree (an A/A
    pair), measured timings only (metric time, raw):

    - CI half-width: the 95% half-width each run reached for each series'
      paired ratio to the baseline (column halfwidth of the rows), both runs;
    - change: per case and series, |ratio in B / ratio in A - 1| of the paired
      ratio to the baseline, and |mean B / mean A - 1| of the absolute ns/op;
    - significant: cases whose ratio to the baseline differs between A and B
      (z test on the log ratios, standard errors from the two intervals),
      after Benjamini-Hochberg; and cases whose absolute time differs (the
      B-against-A table's verdicts)."""
    import numpy as np
    from scipy import stats as sst

    fig: dict = {}
    hw = []
    for d in (df_a, df_b):
        if "halfwidth" in d.columns:
            t = d[(d["metric"] == "time") & ~d["simulated"].astype(bool)]
            t = t[t["halfwidth_of"].astype(str).str.startswith("ratio")]
            hw += list(t.drop_duplicates(["run_id", "workload", "phase", "variant", "ext", "n",
                                          "heads", "order", "alloc", "seed"])["halfwidth"])
    hw = np.array([h for h in hw if np.isfinite(h)])
    if len(hw):
        fig["halfwidth_median"] = float(np.median(hw))
        fig["halfwidth_p90"] = float(np.quantile(hw, 0.9))
    if base_tbl is not None and not base_tbl.empty:
        bt = base_tbl[(base_tbl["metric"] == "time") & ~base_tbl["exact"].astype(bool)]
        bt = bt[np.isfinite(bt["ratio_a"]) & np.isfinite(bt["ratio_b"])]
        if len(bt):
            ch = np.abs(bt["ratio_b"] / bt["ratio_a"] - 1)
            fig["change_median"] = float(np.median(ch))
            fig["change_p90"] = float(np.quantile(ch, 0.9))
            se = lambda lo, hi: (np.log(hi) - np.log(lo)) / (2 * 1.96)  # noqa: E731
            s = np.sqrt(se(bt["ci_lo_a"], bt["ci_hi_a"]) ** 2 + se(bt["ci_lo_b"], bt["ci_hi_b"]) ** 2)
            z = np.log(bt["ratio_b"] / bt["ratio_a"]) / s
            p = 2 * sst.norm.sf(np.abs(z.to_numpy(dtype=float)))
            ok = np.isfinite(p)
            q = sst.false_discovery_control(p[ok]) if ok.any() else np.array([])
            fig["significant"] = int(np.sum(q < alpha))
            fig["ratio_cases"] = int(ok.sum())
            zz = z.to_numpy(dtype=float)[ok]
            if len(zz) >= 10:
                # calibration: with intervals that account for what differs between
                # two runs, z is standard normal (robust sd 1, 5% beyond 1.96)
                fig["z_sd"] = float(1.4826 * np.median(np.abs(zz - np.median(zz))))
                fig["z_beyond"] = float(np.mean(np.abs(zz) > 1.96))
    t = cmp[(cmp["metric"] == "time") & ~cmp["exact"].astype(bool)]
    if len(t):
        fig["abs_change_median"] = float(np.median(np.abs(t["ratio"] - 1)))
        fig["abs_change_p90"] = float(np.quantile(np.abs(t["ratio"] - 1), 0.9))
        fig["abs_significant"] = int(t["verdict"].isin([stats.VERDICT_BETTER,
                                                        stats.VERDICT_WORSE]).sum())
        fig["abs_cases"] = int(len(t))

    def line(name, key, fmt_, goal=None):
        if key not in fig:
            return f"  {name}: n/a"
        v = fig[key]
        txt = fmt_(v)
        if goal is not None:
            ok = v <= goal
            txt += f"  (A/A goal <= {fmt_(goal)}: {'met' if ok else 'MISSED'})"
        return f"  {name}: {txt}"

    pct = lambda v: f"{v:.2%}"  # noqa: E731
    lines = ["A/A summary (measured time, raw; meaningful when A and B ran identical code):",
             line("95% CI half-width of ratios to the baseline, median", "halfwidth_median",
                  pct, AA_GOALS["halfwidth_median"]),
             line("95% CI half-width of ratios to the baseline, p90", "halfwidth_p90", pct,
                  AA_GOALS["halfwidth_p90"]),
             line("per-case |change| of the ratio to the baseline, median", "change_median",
                  pct, AA_GOALS["change_median"]),
             line("per-case |change| of the ratio to the baseline, p90", "change_p90", pct,
                  AA_GOALS["change_p90"]),
             line("cases whose ratio to the baseline changed, after Benjamini-Hochberg",
                  "significant", lambda v: f"{v} of {fig.get('ratio_cases', 0)}",
                  AA_GOALS["significant"]),
             line("interval calibration: robust sd of the z of the ratio changes (1 when the "
                  "intervals cover the run-to-run change; above 1: too narrow, below: too wide)",
                  "z_sd", lambda v: f"{v:.2f}, {fig.get('z_beyond', 0):.1%} beyond 1.96"),
             line("per-case |change| of absolute ns/op, median", "abs_change_median", pct),
             line("per-case |change| of absolute ns/op, p90", "abs_change_p90", pct),
             line("cases whose absolute ns/op changed, after Benjamini-Hochberg",
                  "abs_significant", lambda v: f"{v} of {fig.get('abs_cases', 0)}"), ""]
    return fig, lines


def compare_dirs(dir_a, dir_b, out=None, baseline: str | None = "auto", *,
                 alpha: float = stats.ALPHA, threshold: float = stats.EXACT_THRESHOLD,
                 n_resamples: int = stats.N_RESAMPLES, loaded=None) -> Comparison:
    """Compare run B against run A; write compare.md and compare.html into out
    (default: dir_b).  With a baseline, also set each run's series-against-
    baseline ratios side by side (does a speedup on A hold on B?); "auto":
    old when both runs have it, else none.  loaded: the two runs already
    loaded (analysis.load.load_runs([dir_a, dir_b]))."""
    if loaded is None:
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
    aa_fig, aa_lines = aa_summary(cmp, base_tbl, ra.df, rb.df, alpha)
    text = "\n".join([title, *sides, "change = B / A - 1 per op; CI = 95% bootstrap interval "
                      "of the ratio of means; 'exact' = simulated counts", ""] + text_lines(cmp)
                     + aa_lines)

    blocks: list = [Para(" ".join(s + "." for s in sides)), runs_table(loaded),
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
                         str(int(r["n"])), r["label"], r["metric"], fmt.change_cell(ca),
                         fmt.change_cell(cb), "yes" if r["agree"] else "NO"])
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
    atomic_write(target / "compare-summary.txt", short_summary(cmp, ra, rb))
    atomic_write(html, to_html(blocks, title))
    return Comparison(text=text, table=cmp, baseline_table=base_tbl, md_path=md, html_path=html,
                      aa=aa_fig)
