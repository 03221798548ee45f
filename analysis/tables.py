"""The report's tables, public for every module that shows numbers (the
report's sections, compare):

  varying(df, keys)       the case parameters that take more than one value
  header(key)             a column header for a case parameter
  sort_keys(vary)         what to sort rows by (the size's rank, not its words)
  metrics_of(df, sim)     the metrics present, headline first
  phase_key(phase)        phases in workload order (add before remove)
  values_table(...)       mean per op, one row per n and series
  comparison_table(...)   change against a reference, one row per n and series
  fits_table(...)         scaling with n
  runs_table(loaded)      the run directories a report or comparison reads
"""

from __future__ import annotations

import math

import pandas as pd

from . import fmt, stats
from .findings import CASE_PARAMS, PHASE_ORDER
from .render import Table


def varying(df: pd.DataFrame, keys=CASE_PARAMS) -> list[str]:
    return [k for k in keys if k in df and df[k].nunique(dropna=False) > 1]


def header(k: str) -> str:
    return "size" if k == "size_label" else k


def sort_keys(vary: list[str]) -> list[str]:
    """Sort by the size's rank, not its words."""
    return ["size" if k == "size_label" else k for k in vary]


def metrics_of(df: pd.DataFrame, simulated: bool) -> list[str]:
    present = list(dict.fromkeys(df["metric"]))
    pref = ([fmt.PRIMARY[simulated], "cycles"] + fmt.EVIDENCE[simulated]
            + ["Dw", "D1mw", "DLmw"])
    return [m for m in pref if m in present] + sorted(m for m in present if m not in pref)


def phase_key(p):
    return (PHASE_ORDER.get(p, 9), p)


def values_table(pts: pd.DataFrame, levels, caption: str) -> Table:
    sim = bool(pts["simulated"].iloc[0])
    metrics = metrics_of(pts, sim)
    vary = varying(pts)
    order = {lbl: i for i, lbl in enumerate(stats.labels(pts))}
    headers = [header(k) for k in vary] + ["n", "series", "EXT", "heads", "footprint", "fits in"]
    units = pts.drop_duplicates("metric").set_index("metric")["unit"]
    headers += [fmt.per_op(m, units[m]) for m in metrics]
    rows = []
    base = pts.drop_duplicates(vary + ["n", "label"])
    base = base.assign(_o=base["label"].map(order)).sort_values(sort_keys(vary) + ["n", "_o"])
    cell = {(tuple(r[k] for k in vary), r["n"], r["label"], r["metric"]): r
            for _, r in pts.iterrows()}
    for _, b in base.iterrows():
        key = tuple(b[k] for k in vary)
        fps = pts[(pts["n"] == b["n"]) & (pts["label"] == b["label"])]
        for k in vary:
            fps = fps[fps[k] == b[k]]
        fp = fps["footprint"].max()
        row = [str(b[k]) for k in vary] + [str(int(b["n"])), b["label"], str(int(b["ext"])),
                                            str(int(fps["heads"].max())), fmt.human_bytes(fp),
                                            stats.footprint_level(fp, levels)]
        for m in metrics:
            p = cell.get((key, b["n"], b["label"], m))
            row.append(fmt.value_cell(p) if p is not None else "")
        rows.append(row)
    note = ("Mean per op; ± is half the 95% interval of the mean (Student t over pyperf values)."
            if not sim else "Exact simulated counts per op (deterministic; no interval).")
    note += (" 'fits in': the case's footprint against "
             + ("the simulated D1/LL sizes." if sim else "the host's L1d/L2/LLC sizes."))
    return Table(caption, headers, rows, note)


def comparison_table(cmp: pd.DataFrame, baseline: str, caption: str,
                     extra_keys: list[str] | None = None) -> Table:
    sim = bool(cmp["exact"].iloc[0])
    metrics = [m for m in metrics_of(cmp, sim) if m not in fmt.SANITY_METRICS]
    vary = varying(cmp, (extra_keys or []) + CASE_PARAMS)
    order = {lbl: i for i, lbl in enumerate(stats.labels(cmp))}
    headers = [header(k) for k in vary] + ["n", "series"] + [f"{m} vs {baseline}" for m in metrics]
    cell = {}
    for _, c in cmp.iterrows():
        cell[(tuple(c[k] for k in vary), c["n"], c["label"], c["metric"])] = c
    base = cmp.drop_duplicates(vary + ["n", "label"])
    base = base.assign(_o=base["label"].map(order)).sort_values(
        [k for k in sort_keys(vary) if k in base] + ["n", "_o"])
    rows = []
    for _, b in base.iterrows():
        key = tuple(b[k] for k in vary)
        row = [str(b[k]) for k in vary] + [str(int(b["n"])), b["label"]]
        for m in metrics:
            c = cell.get((key, b["n"], b["label"], m))
            row.append(fmt.change_cell(c) if c is not None else "")
        rows.append(row)
    if sim:
        th = cmp["threshold"].iloc[0] * 100
        note = (f"Change of the exact simulated count against {baseline}; 'equal' within "
                f"±{th:g}%; no interval or test (the counts are deterministic).")
    else:
        note = (f"Change of the mean against {baseline} with its 95% bootstrap interval; "
                "verdict from a Mann-Whitney U test with Benjamini-Hochberg q < "
                f"{stats.ALPHA} and an interval that excludes 0% (n.s.: no significant difference). "
                "Full numbers with p and q: comparisons.csv.")
    return Table(caption, headers, rows, note)


def fits_table(fits: pd.DataFrame, caption: str) -> Table:
    vary = varying(fits)
    order = {lbl: i for i, lbl in enumerate(stats.labels(fits))}
    f = fits.assign(_o=fits["label"].map(order)).sort_values(sort_keys(vary) + ["metric", "_o"])
    headers = [header(k) for k in vary] + ["metric", "series", "n range", "slope per spte",
                                           "intercept", "r²", "exponent", "exponent (larger n)",
                                           "per-op growth"]
    rows = []
    for _, r in f.iterrows():
        rows.append([str(r[k]) for k in vary] + [
            fmt.per_op(r["metric"], r["unit"]), r["label"], f"{r['n_min']}..{r['n_max']}",
            fmt.num(r["slope"]), fmt.num(r["intercept"]),
            "n/a" if not math.isfinite(r["r2"]) else f"{r['r2']:.3f}",
            "n/a" if not math.isfinite(r["exponent"]) else f"{r['exponent']:.2f}",
            "n/a" if not math.isfinite(r["exponent_large"]) else f"{r['exponent_large']:.2f}",
            r["growth"]])
    note = ("Least squares of the per-op mean against n (slope: added cost per op for each "
            "extra spte in the list) and of log(mean) against log(n) (exponent ~0: O(1) per "
            "op, ~1: O(n) per op), scipy.stats.linregress; 'larger n' fits the upper half of "
            "the n values only.")
    return Table(caption, headers, rows, note)


def runs_table(loaded) -> Table:
    rows = []
    for r in loaded.runs:
        m = r.meta
        be = m.get("backend") or {}
        be_text = (f"{be.get('chosen', '?')} (requested {be.get('requested', '?')}"
                   + (f"; {be['reason']}" if be.get("reason") else "") + ")") if be else "not recorded"
        rows.append([str(r.path), fmt.text(m.get("run_id")),
                     ", ".join(sorted(r.df["host"].unique())), be_text,
                     ", ".join(sorted(r.df["backend"].unique())),
                     fmt.text(m.get("created")), fmt.text(m.get("finished")),
                     fmt.text(m.get("git_revision")), fmt.text(m.get("compiler")),
                     fmt.text(m.get("cflags")), str(len(r.df))])
    return Table("runs merged into this report", ["run directory", "run id", "host",
                 "backend (meta.json)", "backends in data", "created", "finished",
                 "git revision", "compiler", "cflags", "rows"], rows)
