"""Plain-words findings generated from the numbers.

For each workload, phase and case parameters, at the largest n measured,
every series is compared with the baseline on the headline metric (time for
measured backends, simulated instructions Ir for sim).  A difference is
explained ("because ...") only by measured evidence from the same data: the
scaling exponents of the two series (O(1) against O(n) per op) and the
counters that moved in the same direction at the same point by at least 10%
and 0.01 events per op (instructions, cache and TLB misses).  When the counters do not move with it, the sentence
says so instead of guessing.
"""

from __future__ import annotations

import math

import pandas as pd

from . import fmt
from .stats import (VERDICT_BETTER, VERDICT_EQUAL, VERDICT_FEW, VERDICT_NSD, VERDICT_WORSE,
                    labels)

PHASE_ORDER = {"add": 0, "remove": 1, "walk": 2, "churn": 3, "null": 4}
CASE_PARAMS = ["size_label", "order", "alloc"]
MIN_EVIDENCE_CHANGE = 1.10  # a counter must move by 10% or more to be cited
MIN_EVIDENCE_ABS = 0.01  # ... and by at least 0.01 events per op (3e-4 misses/op explain nothing)
MIN_EXPONENT_GAP = 0.2  # scaling exponents must differ this much to be cited
MIN_SLOPE_RATIO = 2.0  # ... or the slopes per spte by this factor


def param_text(key: str, value) -> str:
    """ order=fifo, or [heads=1000] for the size (its words say what it is)."""
    return f" [{value}]" if key == "size_label" else f" {key}={value}"


def _params_text(row, varying: list[str]) -> str:
    return "".join(param_text(k, row[k]) for k in varying)


def _fit(fits: pd.DataFrame, row, label: str):
    if fits is None or fits.empty:
        return None
    m = fits
    for k in ("host", "backend", "workload", "phase", "size", "order", "alloc", "metric"):
        m = m[m[k] == row[k]]
    m = m[m["label"] == label]
    return None if m.empty else m.iloc[0]


def _growth_evidence(fits, row, baseline) -> str | None:
    """Cite the scaling when the two series' exponents differ by 0.2 or more
    (or fall in different growth classes): O(n) against O(1) per op."""
    f, fb = _fit(fits, row, row["label"]), _fit(fits, row, baseline)
    if f is None or fb is None:
        return None
    e, eb = f["exponent_large"], fb["exponent_large"]
    if not (math.isfinite(e) and math.isfinite(eb)):
        return None
    sl, slb = f["slope"], fb["slope"]
    steeper = (math.isfinite(sl) and math.isfinite(slb) and sl > 0 and slb > 0
               and max(sl / slb, slb / sl) >= MIN_SLOPE_RATIO)
    if abs(e - eb) < MIN_EXPONENT_GAP and f["growth"] == fb["growth"] and not steeper:
        return None
    w = fmt.words(row["metric"])
    unit = fmt.per_op(row["metric"], row["unit"])
    return (f"its {w} per op grows by {fmt.num(sl)} {unit} per extra spte ({f['growth']}, "
            f"n^{e:.2f} at larger n) against {fmt.num(slb)} for {baseline} ({fb['growth']}, "
            f"n^{eb:.2f}), over n={f['n_min']}..{f['n_max']}")


def _counter_evidence(point: pd.DataFrame, row, evidence_metrics) -> tuple[list[str], list[str]]:
    """(counters that moved with the headline ratio, all counters seen)."""
    up = row["ratio"] > 1
    moved, seen = [], []
    for metric in evidence_metrics:
        e = point[point["metric"] == metric]
        if e.empty:
            continue
        e = e.iloc[0]
        r = e["ratio"]
        if not math.isfinite(r):
            continue
        seen.append(f"{fmt.words(metric)} {fmt.times(r)}")
        significant = e["verdict"] in (VERDICT_BETTER, VERDICT_WORSE)
        big = r >= MIN_EVIDENCE_CHANGE if up else r <= 1 / MIN_EVIDENCE_CHANGE
        material = abs(e["mean"] - e["base_mean"]) >= MIN_EVIDENCE_ABS
        if significant and big and material:
            moved.append(f"{fmt.times(r)} the {fmt.words(metric)} per op "
                         f"({fmt.num(e['mean'])} vs {fmt.num(e['base_mean'])})")
    return moved, seen


def _headline(row, baseline) -> str:
    r, metric = row["ratio"], row["metric"]
    unit = fmt.per_op(metric, row["unit"])
    nums = f"{fmt.num(row['mean'])} vs {fmt.num(row['base_mean'])} {unit}, {fmt.pct(r)}"
    if not row["exact"]:
        nums += f" {fmt.ci_pct(row['ci_lo'], row['ci_hi'])}"
    if metric == "time" and math.isfinite(r) and r > 0:
        verb = (f"is {fmt.times(r)} slower than {baseline}" if r > 1
                else f"is {fmt.times(1 / r)} faster than {baseline}")
    else:
        verb = f"has {fmt.times(r)} the {fmt.words(metric)} per op of {baseline}"
    return f"{row['label']} {verb} ({nums})"


def sentence(row, point: pd.DataFrame, fits: pd.DataFrame, baseline: str,
             evidence_metrics: list[str]) -> str:
    """One finding for one comparison row; point holds all metrics' comparisons
    of the same series at the same case and n."""
    v = row["verdict"]
    w = fmt.words(row["metric"])
    if v == VERDICT_NSD:
        q = row.get("qvalue", float("nan"))
        return (f"{row['label']} and {baseline} do not differ significantly in {w} per op "
                f"({fmt.num(row['mean'])} vs {fmt.num(row['base_mean'])}, "
                f"{fmt.ci_pct(row['ci_lo'], row['ci_hi'])}, q={q:.2g}).")
    if v == VERDICT_EQUAL:
        return (f"{row['label']} and {baseline} have the same {w} per op within "
                f"{row['threshold'] * 100:g}% ({fmt.num(row['mean'])} vs {fmt.num(row['base_mean'])}).")
    if v == VERDICT_FEW:
        return f"{row['label']}: too few samples to compare with {baseline}."
    g = _growth_evidence(fits, row, baseline)
    moved, seen = _counter_evidence(point, row, evidence_metrics)
    listed = (moved[0] if len(moved) == 1 else ", ".join(moved[:-1]) + " and " + moved[-1]
              if moved else "")
    text = _headline(row, baseline)
    if row["metric"] != "time":
        # A count (e.g. simulated instructions) is not caused by the other counts: only the
        # scaling explains it; the other counters are reported beside it.
        text += f" because {g}" if g else ""
        return text + (f"; it also has {listed}." if moved else ".")
    because = ([g] if g else []) + (["it incurs " + listed] if moved else [])
    if because:
        return f"{text} because {'; and '.join(because)}."
    if seen:
        return f"{text}; the recorded counters ({', '.join(seen)}) do not account for it."
    return f"{text}; this backend recorded no counters that could explain it."


def workload_findings(cmp: pd.DataFrame, fits: pd.DataFrame, *, host: str, backend: str,
                      workload: str, baseline: str) -> list[str]:
    """Findings for one host, backend and workload (one per phase, case and series)."""
    if cmp is None or cmp.empty:
        return []
    sub = cmp[(cmp["host"] == host) & (cmp["backend"] == backend) & (cmp["workload"] == workload)]
    if sub.empty:
        return []
    simulated = bool(sub["simulated"].iloc[0])
    primary = fmt.PRIMARY[simulated]
    if primary not in set(sub["metric"]):
        primary = sorted(set(sub["metric"]) - fmt.SANITY_METRICS or set(sub["metric"]))[0]
    evidence = [m for m in fmt.EVIDENCE[simulated] if m != primary]
    varying = [k for k in CASE_PARAMS if sub[k].nunique() > 1]
    out = []
    head = sub[sub["metric"] == primary]
    groups = sorted(head.groupby(["phase"] + CASE_PARAMS, dropna=False),
                    key=lambda kv: (PHASE_ORDER.get(kv[0][0], 9), str(kv[0][1:])))
    for key, g in groups:
        nmax = g["n"].max()
        at = g[g["n"] == nmax]
        first = at.iloc[0]
        where = (f"{workload} {first['phase']}{_params_text(first, varying)}"
                 + (f" at n={int(nmax)}" if nmax > 0 else ""))
        order = {lbl: i for i, lbl in enumerate(labels(at))}
        sig = [r for _, r in at.iterrows() if r["verdict"] in (VERDICT_BETTER, VERDICT_WORSE)]
        rest = [r for _, r in at.iterrows() if r["verdict"] not in (VERDICT_BETTER, VERDICT_WORSE)]
        parts = []
        for r in sorted(sig, key=lambda r: order[r["label"]]):
            point = sub[(sub["phase"] == r["phase"]) & (sub["n"] == r["n"]) &
                        (sub["label"] == r["label"]) & (sub["size"] == r["size"]) &
                        (sub["order"] == r["order"]) & (sub["alloc"] == r["alloc"])]
            parts.append(sentence(r, point, fits, baseline, evidence))
        if rest and not sig:
            kind = "the same within the threshold" if simulated else "not significantly different"
            parts.append(f"every series is {kind} from {baseline} in {fmt.words(primary)} per op ("
                         + ", ".join(f"{r['label']} {fmt.pct(r['ratio'])}" for r in
                                     sorted(rest, key=lambda r: order[r['label']])) + ").")
        elif rest:
            parts.append("Not different from " + baseline + ": "
                         + ", ".join(f"{r['label']} ({fmt.pct(r['ratio'])}, {r['verdict']})"
                                     for r in sorted(rest, key=lambda r: order[r['label']])) + ".")
        out.append(f"{where} [{fmt.backend_tag(backend, simulated)}]: " + " ".join(parts))
    return out
