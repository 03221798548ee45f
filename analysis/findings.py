"""Plain-words findings generated from the numbers.

For each workload, phase and case parameters, at the largest n measured,
every series is compared with the baseline on the headline metric (time for
measured backends, simulated instructions Ir for sim).  The finding is one
short line (the best and the worst series, the cause in a few words); every
series' full evidence goes into a table row beside it.  A difference is
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


def _moved_with(e, up: bool) -> bool:
    """A counter's comparison is evidence for a headline change in direction
    `up` when it is significant, moved the same way by 10% or more, and by at
    least 0.01 events per op."""
    r = e["ratio"]
    return (e["verdict"] in (VERDICT_BETTER, VERDICT_WORSE)
            and (r >= MIN_EVIDENCE_CHANGE if up else r <= 1 / MIN_EVIDENCE_CHANGE)
            and abs(e["mean"] - e["base_mean"]) >= MIN_EVIDENCE_ABS)


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
        if _moved_with(e, up):
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


def evidence(row, point: pd.DataFrame, fits: pd.DataFrame, baseline: str,
             evidence_metrics: list[str]) -> str:
    """The measured evidence for one series' difference, as a clause: the
    scaling fits of the two series and the counters of the same point that
    moved the same way (material ones only); else what the data cannot say."""
    g = _growth_evidence(fits, row, baseline)
    moved, seen = _counter_evidence(point, row, evidence_metrics)
    listed = (moved[0] if len(moved) == 1 else ", ".join(moved[:-1]) + " and " + moved[-1]
              if moved else "")
    if row["metric"] != "time":
        # A count (e.g. simulated instructions) is not caused by the other counts: only the
        # scaling explains it; the other counters are reported beside it.
        out = f"because {g}" if g else "no scaling difference in the fits"
        return out + (f"; it also has {listed}" if moved else "")
    because = ([g] if g else []) + (["it incurs " + listed] if moved else [])
    if because:
        return "because " + "; and ".join(because)
    if seen:
        return f"the recorded counters ({', '.join(seen)}) do not account for it"
    return "this backend recorded no counters that could explain it"


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
    text = _headline(row, baseline)
    ev = evidence(row, point, fits, baseline, evidence_metrics)
    if ev.startswith("because"):
        return f"{text} {ev}."
    if row["metric"] != "time":
        return text + (ev[ev.index(";"):] + "." if ";" in ev else ".")
    return f"{text}; {ev}."


def _cause_short(row, point: pd.DataFrame, fits: pd.DataFrame, baseline: str,
                 evidence_metrics: list[str]) -> str:
    """The cause in a few words, from the same evidence as evidence(): the
    scaling classes (or slopes) of the two series, and the counter that moved
    most among those that moved materially."""
    parts = []
    g = _growth_evidence(fits, row, baseline)
    if g:
        f, fb = _fit(fits, row, row["label"]), _fit(fits, row, baseline)
        if f["growth"] != fb["growth"]:
            parts.append(f"{f['growth']} vs {fb['growth']} for {baseline} "
                         f"(n^{f['exponent_large']:.2f} vs n^{fb['exponent_large']:.2f})")
        else:
            unit = fmt.per_op(row["metric"], row["unit"])
            parts.append(f"{fmt.num(f['slope'])} vs {fmt.num(fb['slope'])} {unit} per extra spte")
    best = None
    up = row["ratio"] > 1
    for metric in evidence_metrics:
        e = point[point["metric"] == metric]
        if e.empty:
            continue
        e = e.iloc[0]
        r = e["ratio"]
        if not (math.isfinite(r) and r > 0):
            continue
        if _moved_with(e, up):
            if best is None or abs(math.log(r)) > abs(math.log(best[1])):
                best = (metric, r)
    if best:
        # a count is not caused by the other counts: they are reported beside it
        also = "" if row["metric"] == "time" else "also "
        parts.append(f"{also}{fmt.words(best[0])} {fmt.times(best[1])}")
    if parts:
        return "; ".join(parts)
    if row["metric"] != "time":
        return "scaling alike in the fits"
    return "not accounted for by the recorded counters" if not point[
        point["metric"].isin(evidence_metrics)].empty else "no counters recorded"


def change_text(row) -> str:
    """-70.6% [CI -72.0%, -69.1%] (measured) or -70.6% exact (simulated)."""
    if row["exact"]:
        return f"{fmt.pct(row['ratio'])} exact"
    return f"{fmt.pct(row['ratio'])} {fmt.ci_pct(row['ci_lo'], row['ci_hi'])}"


VERDICT_WORD = {VERDICT_NSD: "n.s.", VERDICT_FEW: "few samples"}


def workload_findings(cmp: pd.DataFrame, fits: pd.DataFrame, *, host: str, backend: str,
                      workload: str, baseline: str) -> tuple[list[str], list[list[str]]]:
    """Findings for one host, backend and workload at the largest n of each
    phase and case: (short lines, table rows).  A line names the best and the
    worst series against the baseline, their change and the cause in a few
    words; the rows [phase/case, series, change, interval, verdict, evidence]
    hold every series."""
    if cmp is None or cmp.empty:
        return [], []
    sub = cmp[(cmp["host"] == host) & (cmp["backend"] == backend) & (cmp["workload"] == workload)]
    if sub.empty:
        return [], []
    simulated = bool(sub["simulated"].iloc[0])
    primary = fmt.PRIMARY[simulated]
    if primary not in set(sub["metric"]):
        primary = sorted(set(sub["metric"]) - fmt.SANITY_METRICS or set(sub["metric"]))[0]
    evidence_metrics = [m for m in fmt.EVIDENCE[simulated] if m != primary]
    varying = [k for k in CASE_PARAMS if sub[k].nunique() > 1]
    lines, rows = [], []
    head = sub[sub["metric"] == primary]
    groups = sorted(head.groupby(["phase"] + CASE_PARAMS, dropna=False),
                    key=lambda kv: (PHASE_ORDER.get(kv[0][0], 9), str(kv[0][1:])))
    tag = fmt.backend_tag(backend, simulated)
    for key, g in groups:
        nmax = g["n"].max()
        at = g[g["n"] == nmax]
        first = at.iloc[0]
        case = f"{first['phase']}{_params_text(first, varying)}"
        where = f"{workload} {case}" + (f" at n={int(nmax)}" if nmax > 0 else "")
        order = {lbl: i for i, lbl in enumerate(labels(at))}

        def point_of(r):
            return sub[(sub["phase"] == r["phase"]) & (sub["n"] == r["n"]) &
                       (sub["label"] == r["label"]) & (sub["size"] == r["size"]) &
                       (sub["order"] == r["order"]) & (sub["alloc"] == r["alloc"])]

        better = [r for _, r in at.iterrows() if r["verdict"] == VERDICT_BETTER]
        worse = [r for _, r in at.iterrows() if r["verdict"] == VERDICT_WORSE]
        rest = [r for _, r in at.iterrows() if r["verdict"] not in (VERDICT_BETTER, VERDICT_WORSE)]
        parts = []
        for word, cands, pick in (("best", better, min), ("worst", worse, max)):
            if not cands:
                continue
            r = pick(cands, key=lambda r: r["ratio"])
            parts.append(f"{word} {r['label']} {change_text(r)} — "
                         + _cause_short(r, point_of(r), fits, baseline, evidence_metrics))
        if not better and worse:
            parts.append(f"none better than {baseline}")
        if better and not worse:
            parts.append(f"none worse than {baseline}")
        if rest:
            kind = "equal" if simulated else "n.s."
            parts.append(f"{kind}: " + ", ".join(r["label"] for r in
                                                 sorted(rest, key=lambda r: order[r["label"]])))
        if not better and not worse:
            kind = "the same within the threshold" if simulated else "not significantly different"
            parts = [f"every series is {kind} from {baseline} in {fmt.words(primary)} per op ("
                     + ", ".join(f"{r['label']} {fmt.pct(r['ratio'])}" for r in
                                 sorted(rest, key=lambda r: order[r['label']])) + ")"]
        lines.append(f"{where} [{tag}], {fmt.words(primary)} per op vs {baseline}: "
                     + "; ".join(parts) + ".")
        for _, r in sorted(at.iterrows(), key=lambda kv: order[kv[1]["label"]]):
            v = r["verdict"]
            if v in (VERDICT_BETTER, VERDICT_WORSE):
                ev = evidence(r, point_of(r), fits, baseline, evidence_metrics)
                ratio = (f"{fmt.times(1 / r['ratio'])} faster" if primary == "time" and r["ratio"] < 1
                         else f"{fmt.times(r['ratio'])} slower" if primary == "time"
                         else f"{fmt.times(r['ratio'])} the {fmt.words(primary)}")
                ev = f"{ratio}; {ev}"
            elif v == VERDICT_NSD:
                ev = f"q={r.get('qvalue', float('nan')):.2g}"
            else:
                ev = ""
            interval = ("exact" if r["exact"] else
                        fmt.ci_pct(r["ci_lo"], r["ci_hi"])[1:-1].replace("CI ", ""))
            rows.append([f"{case} n={int(nmax)}", r["label"],
                         f"{fmt.num(r['mean'])} vs {fmt.num(r['base_mean'])} "
                         f"{fmt.per_op(primary, r['unit'])}, {fmt.pct(r['ratio'])}",
                         interval, VERDICT_WORD.get(v, v), ev])
    return lines, rows
