"""The report's sections.  Every module here has the same shape:

  TITLE                      the section's heading (or what it is about)
  blocks(ctx: Context) -> list of analysis.render blocks (empty: nothing to show)

analysis.report.SECTIONS lists them in the order a reviewer reads: the
headline figures, the short findings, the history check and the timing
evidence first; the hosts, the method and every table after.  Context holds
everything the sections share, computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .. import fmt, stats
from ..load import Loaded

# what the right-hand panel of a headline figure shows: simulated D1 read
# misses, else the measured L1d load misses (perf)
MISS_METRICS = [("D1mr", True), ("L1-dcache-load-misses", False)]
CASE_PREF = {"order": "fifo", "alloc": "bump"}


@dataclass
class Context:
    loaded: Loaded
    df: pd.DataFrame
    points: pd.DataFrame       # stats.summarize
    cmp: pd.DataFrame          # stats.compare_variants against the baseline
    fits: pd.DataFrame         # stats.scaling_fits
    facts: list                # history.Fact
    baseline: str
    pair: tuple[str, str]      # (A, B): the pair the headline and summary.txt compare
    pair_cmp: pd.DataFrame     # B against A, every point and metric
    check: list | None = None
    check_source: str = "check.json"
    alpha: float = stats.ALPHA
    threshold: float = stats.EXACT_THRESHOLD
    n_resamples: int = stats.N_RESAMPLES
    plots: bool = True
    cases: dict = field(default_factory=dict)  # (host, workload) -> headline case

    @property
    def hosts(self) -> list[str]:
        return self.loaded.hosts

    def workloads(self, host: str) -> list[str]:
        """The workloads that compare series (null is the harness alone)."""
        d = self.df[(self.df["host"] == host) & (self.df["workload"] != "null")]
        return sorted(d["workload"].unique())

    def case(self, host: str, workload: str) -> dict | None:
        key = (host, workload)
        if key not in self.cases:
            d = self.df[(self.df["host"] == host) & (self.df["workload"] == workload)]
            self.cases[key] = pick_case(d, self.pair)
        return self.cases[key]


def pick_case(d: pd.DataFrame, pair) -> dict | None:
    """The case (size, order, alloc) a workload's headline shows: where both
    series of the pair have the most n values in common (over every backend),
    fifo/bump preferred, then the smallest size."""
    d = d[d["label"].isin(pair)]
    best = None
    for key, c in d.groupby(["size", "order", "alloc"]):
        ns = set(c[c["label"] == pair[0]]["n"]) & set(c[c["label"] == pair[1]]["n"])
        if not ns:
            continue
        case = dict(zip(["size", "order", "alloc"], key))
        rank = (-len(ns), sum(case[k] != v for k, v in CASE_PREF.items()), key[0])
        if best is None or rank < best[0]:
            m = c[~c["simulated"]] if (~c["simulated"]).any() else c
            case["size_label"] = m["size_label"].iloc[0]
            best = (rank, case)
    return best[1] if best else None


def in_case(df: pd.DataFrame, case: dict) -> pd.DataFrame:
    return df[(df["size"] == case["size"]) & (df["order"] == case["order"])
              & (df["alloc"] == case["alloc"])]


def case_text(case: dict) -> str:
    return f"[{case['size_label']}] {case['order']} {case['alloc']}"


def miss_metric(df: pd.DataFrame) -> tuple[str, bool] | None:
    for m, sim in MISS_METRICS:
        if ((df["metric"] == m) & (df["simulated"] == sim)).any():
            return m, sim
    return None


def backends_text(df: pd.DataFrame) -> str:
    """"time (measured), sim (simulated)" for the rows given."""
    pairs = df.drop_duplicates(["backend", "simulated"])[["backend", "simulated"]]
    items = sorted(pairs.itertuples(index=False), key=lambda r: (bool(r[1]), r[0]))
    return ", ".join(f"{b} ({'simulated' if s else 'measured'})" for b, s in items)


def newest(labels: list[str], baseline: str) -> str:
    """The newest variant in the data: the last in registry order (user
    variants come after the built-ins) at its own EXT, other than baseline."""
    own = [lbl for lbl in labels if "@" not in lbl and lbl != baseline]
    rest = [lbl for lbl in labels if lbl != baseline]
    if own:
        return own[-1]
    return rest[-1] if rest else baseline


def primary_of(simulated: bool) -> str:
    return fmt.PRIMARY[simulated]
