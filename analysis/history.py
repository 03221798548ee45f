"""What the kernel's history predicts, checked against the run's own numbers.

The facts come from /work/shared/reference/kernel-history.md (what happened
to pte_list after the 2013 seed).  Each becomes one line: the prediction,
the numbers of this data that test it (with the backend that produced them,
measured or simulated), and a verdict: agree, disagree, mixed (backends or
metrics disagree with each other), inconclusive (no significant difference),
or missing (the series or data needed are not in this run; the line says
which).

  (a) a larger EXT helps fork            baseline@14 vs baseline, fork add+remove per spte
  (b) the per-descriptor counter helps   counted vs baseline@14 (same EXT 14)
  (c) head-only add is O(1) in n         head-only's fork add scaling fit
  (d) the seed's add is still O(n)       seed's fork add fit against head-only's
  (e) rmap_fork total, ~33% faster       counted vs baseline, fork add+remove
  (f) lockless walk                      check.json: seed can miss, miss-free cannot

(the variants by their roles in bench.variants.ROLES)

Totals (a, b, e) are add + remove cost per spte at the largest n that both
series share in one fork case (the case with the most n values, fifo/bump
preferred).  Measured totals get a 95% percentile bootstrap interval of the
ratio (fixed seed); simulated ones are exact, with the report's 1% threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.variants import role

V_BASE, V_SEED, V_COUNTED = role("baseline"), role("seed"), role("counted")
V_HEAD_ONLY, V_MISS_FREE = role("head-only"), role("miss-free")

from . import fmt
from .stats import EXACT_THRESHOLD, N_RESAMPLES, SEED

# The metrics a total is shown in: time when measured; Ir and D1 read misses when simulated.
TOTAL_METRICS = {False: ["time"], True: ["Ir", "D1mr"]}
FIT_METRICS = {False: ["time"], True: ["Ir"]}
O1_EXPONENT = 0.2  # stats.growth_class: below this the larger-n exponent is O(1) per op
CASE_PREF = {"order": "fifo", "alloc": "bump"}


@dataclass
class Fact:
    key: str
    prediction: str
    evidence: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # one per backend/metric checked
    missing: str = ""
    short: list[str] = field(default_factory=list)  # the numbers in brief, for changes.txt
    title: str = ""  # the prediction in a few words, for summary.txt
    tiny: list[str] = field(default_factory=list)  # the numbers in a few words, for summary.txt
    context: str = ""  # where the numbers were taken, said once

    @property
    def verdict(self) -> str:
        if self.missing and not self.verdicts:
            return "missing"
        v = set(self.verdicts)
        if v == {"agree"}:
            return "agree"
        if v == {"disagree"}:
            return "disagree"
        if v <= {"inconclusive"}:
            return "inconclusive"
        if "agree" in v and "disagree" in v:
            return "mixed"
        return "agree (partly inconclusive)" if "agree" in v else "disagree (partly inconclusive)"

    def numbers(self, brief: bool = False) -> str:
        text = "; ".join(self.short if brief and self.short else self.evidence)
        if self.context and text:
            text = f"{self.context}: {text}"
        if self.missing:
            text = (text + "; " if text else "") + self.missing
        return text

    def line(self) -> str:
        """One line for changes.txt: prediction, our numbers in brief, verdict."""
        return f"({self.key}) {self.prediction} Ours: {self.numbers(brief=True)} -> {self.verdict}"

    def short_line(self, width: int = 80) -> str:
        """summary.txt's line: the prediction in a few words, the verdict, the
        numbers in a few words (cut at width columns; the full line is in
        changes.txt)."""
        nums = ", ".join(self.tiny) if self.tiny else f"({self.missing})" if self.missing else ""
        verdict = self.verdict.replace(" (partly inconclusive)", ", partly n.s.")
        return fmt.clip(f"({self.key}) {self.title or self.prediction}: {verdict}"
                        + (f"; {nums}" if self.tiny else f" {nums}" if nums else ""), width)


def _groups(df: pd.DataFrame):
    """(host, backend, simulated) groups of the fork workload, measured ones first."""
    fork = df[df["workload"] == "fork"]
    keys = sorted(fork.groupby(["host", "backend", "simulated"]).groups,
                  key=lambda k: (k[0], bool(k[2]), k[1]))
    return [(k, fork[(fork["host"] == k[0]) & (fork["backend"] == k[1])]) for k in keys]


def _tag(host: str, backend: str, sim: bool, hosts: int) -> str:
    return (f"host {host}, " if hosts > 1 else "") + fmt.backend_tag(backend, bool(sim))


def _case_rank(case: dict, npoints: int):
    pref = sum(case.get(k) != v for k, v in CASE_PREF.items())
    return (-npoints, pref, case.get("size", 0))


def _pick_case(g: pd.DataFrame, labels_needed: list[str], phases: list[str], metric: str):
    """The fork case (size, order, alloc) where every needed series has every
    phase: the one with the most common n values, fifo/bump preferred.
    Returns (case dict, sorted common n values) or (None, [])."""
    g = g[(g["metric"] == metric) & g["phase"].isin(phases) & g["label"].isin(labels_needed)]
    best = None
    for key, c in g.groupby(["size", "order", "alloc"]):
        ns = None
        for lbl in labels_needed:
            for ph in phases:
                have = set(c[(c["label"] == lbl) & (c["phase"] == ph)]["n"])
                ns = have if ns is None else ns & have
        ns = sorted(n for n in (ns or ()) if n > 0)
        if not ns:
            continue
        case = dict(zip(["size", "order", "alloc"], key))
        case["size_label"] = c["size_label"].iloc[0]
        r = _case_rank(case, len(ns))
        if best is None or r < best[0]:
            best = (r, case, ns)
    return (best[1], best[2]) if best else (None, [])


def _case_text(case) -> str:
    return f"[{case['size_label']}] order={case['order']} alloc={case['alloc']}"


def _samples(g, case, label, phase, metric, n):
    s = g[(g["label"] == label) & (g["phase"] == phase) & (g["metric"] == metric) & (g["n"] == n)
          & (g["size"] == case["size"]) & (g["order"] == case["order"])
          & (g["alloc"] == case["alloc"])]
    return s["value"].to_numpy(dtype=float)


def _total_ratio(g, case, test, base, metric, n, sim) -> dict:
    """Ratio of add+remove per spte, test over base, with its interval."""
    xa, xr = (_samples(g, case, test, ph, metric, n) for ph in ("add", "remove"))
    ba, br = (_samples(g, case, base, ph, metric, n) for ph in ("add", "remove"))
    t, b = xa.mean() + xr.mean(), ba.mean() + br.mean()
    out = {"test": t, "base": b, "ratio": t / b if b > 0 else math.nan,
           "lo": math.nan, "hi": math.nan, "add": xa.mean() / ba.mean() if ba.mean() else math.nan,
           "remove": xr.mean() / br.mean() if br.mean() else math.nan}
    if not sim and min(len(xa), len(xr), len(ba), len(br)) >= 2:
        rng = np.random.default_rng(SEED)

        def boot(v):
            return v[rng.integers(0, len(v), (N_RESAMPLES, len(v)))].mean(axis=1)

        with np.errstate(divide="ignore", invalid="ignore"):
            r = (boot(xa) + boot(xr)) / (boot(ba) + boot(br))
        out["lo"], out["hi"] = (float(q) for q in np.nanpercentile(r, [2.5, 97.5]))
    return out


def _direction(r: dict, sim: bool) -> str:
    """better / worse / n.s. for a ratio (lower is better)."""
    if not math.isfinite(r["ratio"]):
        return "n.s."
    if sim:
        if abs(r["ratio"] - 1) <= EXACT_THRESHOLD:
            return "n.s."
        return "better" if r["ratio"] < 1 else "worse"
    if not (math.isfinite(r["lo"]) and math.isfinite(r["hi"])) or r["lo"] <= 1 <= r["hi"]:
        return "n.s."
    return "better" if r["ratio"] < 1 else "worse"


def _total_fact(fact: Fact, df, test: str, base: str, hosts: int, history: str = "") -> Fact:
    """test's fork add+remove per spte should be lower than base's."""
    present = set(df["label"])
    miss = [s for s in (test, base) if s not in present]
    if miss:
        fact.missing = f"series {', '.join(miss)} not in this data (needed: {test} vs {base})"
        return fact
    contexts = set()
    for (host, be, sim), g in _groups(df):
        sim = bool(sim)
        tag = _tag(host, be, sim, hosts)
        parts, verdicts, shorts, tiny = [], [], [], []
        for metric in TOTAL_METRICS[sim]:
            if metric not in set(g["metric"]):
                continue
            case, ns = _pick_case(g, [test, base], ["add", "remove"], metric)
            if case is None:
                continue
            n = ns[-1]
            r = _total_ratio(g, case, test, base, metric, n, sim)
            unit = fmt.per_op(metric, g[g["metric"] == metric]["unit"].iloc[0]).replace("/op", "")
            change = (f"{fmt.pct(r['ratio'])} exact" if sim
                      else f"{fmt.pct(r['ratio'])} {fmt.ci_pct(r['lo'], r['hi'])}")
            d = _direction(r, sim)
            verdicts.append({"better": "agree", "worse": "disagree"}.get(d, "inconclusive"))
            parts.append(f"{metric} {fmt.num(r['test'])} vs {fmt.num(r['base'])} {unit}/spte "
                         f"{change} (add {fmt.pct(r['add'])}, remove {fmt.pct(r['remove'])})"
                         + ("" if d != "n.s." else ", no significant difference"))
            shorts.append(f"{metric} {change}" + ("" if d != "n.s." else " n.s."))
            tiny.append(f"{metric} {fmt.pct(r['ratio'])}" + ("" if d != "n.s." else " n.s."))
        if parts:
            ctx = f"{test} vs {base}, fork add+remove per spte at n={n} {_case_text(case)}"
            contexts.add(ctx)
            fact.evidence.append(", ".join(parts) + f" ({tag})")
            fact.short.append(", ".join(shorts) + f" ({tag})")
            fact.tiny.append((f"{host} " if hosts > 1 else "") + ", ".join(tiny))
            fact.verdicts += verdicts
    if len(contexts) == 1:
        fact.context = contexts.pop()
    elif contexts:  # cases differ between backends: say each (in order of the groups)
        fact.context = " / ".join(sorted(contexts))
    if history:
        fact.evidence.append(history)
        fact.short.append(history)
    if not fact.verdicts:
        fact.missing = f"no fork case with both add and remove of {test} and {base}"
    return fact


def _fit_for(fits: pd.DataFrame, host, be, label, metric):
    f = fits[(fits["host"] == host) & (fits["backend"] == be) & (fits["workload"] == "fork")
             & (fits["phase"] == "add") & (fits["label"] == label) & (fits["metric"] == metric)
             & fits["exponent_large"].notna()]
    if f.empty:
        return None
    ranked = sorted(f.iterrows(), key=lambda kv: _case_rank(dict(kv[1]), int(kv[1]["points"])))
    return ranked[0][1]


def _fit_text(f, label, metric) -> str:
    unit = fmt.per_op(metric, f["unit"])
    return (f"{label} n^{f['exponent_large']:.2f} at larger n, {fmt.num(f['slope'])} {unit} "
            f"per extra spte ({f['growth']}, n={f['n_min']}..{f['n_max']})")


def _fit_groups(fits: pd.DataFrame):
    if fits is None or fits.empty:
        return []
    f = fits[fits["workload"] == "fork"]
    return sorted({(h, b, bool(s)) for h, b, s in
                   f[["host", "backend", "simulated"]].itertuples(index=False)},
                  key=lambda k: (k[0], k[2], k[1]))


def _o1_fact(fact: Fact, fits, df, hosts: int) -> Fact:
    if V_HEAD_ONLY not in set(df["label"]):
        fact.missing = f"series {V_HEAD_ONLY} not in this data"
        return fact
    for host, be, sim in _fit_groups(fits):
        for metric in FIT_METRICS[sim]:
            f = _fit_for(fits, host, be, V_HEAD_ONLY, metric)
            if f is None:
                continue
            ok = f["exponent_large"] < O1_EXPONENT
            fact.verdicts.append("agree" if ok else "disagree")
            fact.evidence.append(f"{_fit_text(f, V_HEAD_ONLY, metric)} "
                                 f"({_tag(host, be, sim, hosts)})")
            fact.short.append(f"{metric} n^{f['exponent_large']:.2f}, {fmt.num(f['slope'])} "
                              f"{fmt.per_op(metric, f['unit'])} per spte "
                              f"({_tag(host, be, sim, hosts)})")
            fact.tiny.append((f"{host} " if hosts > 1 else "")
                             + f"{metric} n^{f['exponent_large']:.2f}")
            fact.context = f"{V_HEAD_ONLY} fork add {_case_text(f)}"
    if not fact.verdicts:
        fact.missing = f"no scaling fit of {V_HEAD_ONLY} fork add (needs 3 or more n values)"
    return fact


def _on_fact(fact: Fact, fits, df, hosts: int) -> Fact:
    miss = [s for s in (V_SEED, V_HEAD_ONLY) if s not in set(df["label"])]
    if miss:
        fact.missing = (f"series {', '.join(miss)} not in this data "
                        f"(needed: {V_SEED} vs {V_HEAD_ONLY})")
        return fact
    for host, be, sim in _fit_groups(fits):
        for metric in FIT_METRICS[sim]:
            f = _fit_for(fits, host, be, V_SEED, metric)
            k = _fit_for(fits, host, be, V_HEAD_ONLY, metric)
            if f is None or k is None:
                continue
            grows = f["exponent_large"] >= O1_EXPONENT and f["slope"] > 0
            steeper = f["slope"] > 2 * max(k["slope"], 0) and (
                f["exponent_large"] - k["exponent_large"] >= O1_EXPONENT)
            fact.verdicts.append("agree" if grows and steeper else "disagree")
            fact.evidence.append(f"{_fit_text(f, V_SEED, metric)} against "
                                 f"{_fit_text(k, V_HEAD_ONLY, metric)} "
                                 f"({_tag(host, be, sim, hosts)})")
            unit = fmt.per_op(metric, f["unit"])
            fact.short.append(f"{metric} {V_SEED} n^{f['exponent_large']:.2f}, {fmt.num(f['slope'])} "
                              f"{unit} per spte vs {V_HEAD_ONLY} n^{k['exponent_large']:.2f}, "
                              f"{fmt.num(k['slope'])} ({_tag(host, be, sim, hosts)})")
            fact.tiny.append((f"{host} " if hosts > 1 else "") + f"{metric} "
                             f"n^{f['exponent_large']:.2f} vs {k['exponent_large']:.2f}")
            fact.context = f"fork add {_case_text(f)}"
    if not fact.verdicts:
        fact.missing = (f"no scaling fits of {V_SEED} and {V_HEAD_ONLY} fork add "
                        "(need 3 or more n values)")
    return fact


def _race_fact(fact: Fact, check: list | None) -> Fact:
    if not check:
        fact.missing = "no check.json in the run (rmapbench check --json)"
        return fact
    race = {}
    for c in check:
        r = c.get("race") or {}
        if isinstance(r.get("can_miss"), bool):
            race[str(c.get("variant"))] = r["can_miss"]
    want = {V_SEED: True, V_MISS_FREE: False}
    for v, expect in want.items():
        if v not in race:
            continue
        fact.verdicts.append("agree" if race[v] == expect else "disagree")
    miss = [v for v in want if v not in race]
    if miss:
        fact.missing = f"check.json has no race result for {', '.join(miss)}"
    can = [v for v, m in race.items() if m]
    cannot = [v for v, m in race.items() if not m]
    fact.evidence.append("a walker can miss an spte in: " + (", ".join(can) or "none")
                         + "; cannot within the search bounds: " + (", ".join(cannot) or "none")
                         + " (rmapbench check, exhaustive search; not a timing)")
    fact.tiny.append("none in: " + (", ".join(cannot) or "none"))
    return fact


HISTORY_2021 = ("history, rmap_fork 500: 473.90 -> 351.00 (time -25.9%), 'about 33% faster'; "
                "slot change alone 367.20 -> 302.00, 'about 22%'")


def history_facts(df: pd.DataFrame, fits: pd.DataFrame, check: list | None = None) -> list[Fact]:
    """The six facts of kernel-history.md, each checked against df (the
    loaded results) and fits (stats.scaling_fits)."""
    hosts = df["host"].nunique()
    return [
        _total_fact(Fact("a", title=f"EXT 3->14 helps fork, {V_BASE}@14<{V_BASE}",
                    prediction="A larger EXT helps fork (2021: PTE_LIST_EXT 3 -> 15 made "
                         f"rmap_fork ~22% faster): {V_BASE}@14 below {V_BASE}."), df, f"{V_BASE}@14",
                    V_BASE, hosts),
        _total_fact(Fact("b", title=f"counter helps, {V_COUNTED}<{V_BASE}@14",
                    prediction="The per-descriptor counter helps fork (2021, at the same EXT): "
                         f"{V_COUNTED} below {V_BASE}@14."), df, V_COUNTED, f"{V_BASE}@14", hosts),
        _o1_fact(Fact("c", title=f"{V_HEAD_ONLY}'s add is O(1) in n",
                    prediction=f"Head-only add ({V_HEAD_ONLY}) is O(1) in chain length: its fork add "
                      "scaling exponent is ~0 (below 0.2)."), fits, df, hosts),
        _on_fact(Fact("d", title=f"{V_SEED} add O(n), {V_HEAD_ONLY} O(1)",
                    prediction=f"{V_SEED}'s add is still O(n) (it walks the chain to count): its fork "
                      f"add grows with n, unlike {V_HEAD_ONLY}'s."), fits, df, hosts),
        _total_fact(Fact("e", title=f"fork ~-33%, {V_COUNTED}<{V_BASE}",
                    prediction="The 2021 change as a whole (EXT 14 + counter) makes fork faster, "
                         f"about 33%: {V_COUNTED} below {V_BASE}."), df, V_COUNTED, V_BASE, hosts,
                    HISTORY_2021),
        _race_fact(Fact("f", title=f"walker misses in {V_SEED}, not {V_MISS_FREE}",
                    prediction=f"A lockless walker can miss an spte under {V_SEED} (the review's "
                        f"case), not under {V_MISS_FREE}."), check),
    ]
