"""What the kernel's history predicts, tested on this run (analysis.history)."""

from __future__ import annotations

from ..render import Heading, Para, Table
from . import Context

TITLE = "What the kernel's history predicts, and what this run shows"


def blocks(ctx: Context) -> list:
    facts = ctx.facts
    rows = [[f"({f.key})", f.prediction, f.numbers(), f.verdict] for f in facts]
    agree = sum(f.verdict == "agree" for f in facts)
    tested = sum(f.verdict != "missing" for f in facts)
    return [Heading(2, TITLE),
            Para("Facts from the kernel's pte_list history (2013 seed review, 2021 EXT 14 and "
                 "counter, 2023 head-only operations; reference/kernel-history.md), each tested "
                 "on this run's numbers. Totals are fork add + remove per spte at the largest n "
                 "both series share; scaling is the fork add fit (exponent over the larger n, "
                 "slope per extra spte). Each number names its backend: measured or simulated. "
                 f"{agree} of {tested} testable facts agree."),
            Table("kernel history against this run", ["fact", "prediction", "our numbers",
                                                      "verdict"], rows, fold=False)]
