"""The files written beside report.html."""

from __future__ import annotations

from ..render import Bullets, Heading
from . import Context

TITLE = "Files"


def blocks(ctx: Context) -> list:
    return [Heading(2, TITLE), Bullets([
        "summary.txt: the pair, per workload and phase one line, the history check "
        "(at most 40 lines of 80 columns, for a commit message)",
        "changes.txt: every series against the baseline, per case and n, for the summary "
        "metrics, and the history check in full",
        "comparisons.csv: every comparison with ratio, interval, p and q values, verdict",
        "fits.csv: every scaling fit", "report.md and plots/: this report as Markdown"])]
