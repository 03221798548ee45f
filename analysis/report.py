"""The report: report.html (self-contained), report.md (+ plots/*.png),
summary.txt (at most 40 lines of 80 columns, for a commit message),
changes.txt (every change in full), comparisons.csv and fits.csv (every
number of the tables, machine-readable).

The sections are the modules of analysis/sections, in SECTIONS order; each
has the same shape (TITLE, blocks(ctx)).  Tables: analysis/tables.py;
formatting: analysis/fmt.py; summary.txt and changes.txt: analysis/summary.py.

Public entry points:
  build_report(loaded, baseline=None, pair=None, check=None, ...) -> Report
  write_report(run_dirs, out=None, baseline=None, pair=None, ...) -> Path of report.html
  write_outputs(report, target) -> Path of report.html
  resolve_out(run_dirs, out) -> the output directory (created)
(baseline None: analysis.stats.default_baseline, the registry's baseline role,
bench.variants.ROLES, where the data has it, else the data's first series)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import UsageError

from . import stats
from .history import history_facts
from .load import Loaded, load_runs
from .render import Para, images, to_html, to_markdown
from .sections import (Context, check, details, files, findings, headline, history, hosts,
                       method, newest, precision, runs, timing)
from .summary import changes_text, summary_text

# The order a reviewer reads: the figure, the findings, the history check and
# how far to trust the timings first; everything else after.
SECTIONS = [headline, findings, history, precision, details, timing, runs, hosts, method,
            check, files]


@dataclass
class Report:
    title: str
    blocks: list = field(repr=False)
    summary: str
    comparisons: pd.DataFrame = field(repr=False)
    fits: pd.DataFrame = field(repr=False)
    points: pd.DataFrame = field(repr=False)
    facts: list = field(default_factory=list, repr=False)  # history.Fact, one per fact
    changes: str = ""
    pair: tuple[str, str] = ("", "")


def parse_pair(text: str | None, df: pd.DataFrame, baseline: str) -> tuple[str, str]:
    """--pair A,B: two series of the data; default the baseline against the newest."""
    present = stats.labels(df)
    if text is None:
        return baseline, newest(present, baseline)
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise UsageError(f"--pair {text!r}: two different series A,B are allowed "
                         f"(the series in the data: {', '.join(present)})")
    out = []
    for p in parts:
        try:
            out.append(stats.check_baseline(df, p))
        except UsageError:
            raise UsageError(f"--pair {text!r}: series {p!r} is not in the data; allowed are "
                             f"the series in the data: {', '.join(present)}") from None
    return out[0], out[1]


def build_report(loaded: Loaded, baseline: str | None = None, *, pair: str | None = None,
                 check: list | None = None, check_source: str = "check.json",
                 alpha: float = stats.ALPHA, threshold: float = stats.EXACT_THRESHOLD,
                 n_resamples: int = stats.N_RESAMPLES, plots: bool = True) -> Report:
    """Everything of a report, in memory."""
    df = loaded.df
    baseline = stats.check_baseline(df, baseline)
    a, b = parse_pair(pair, df, baseline)
    kw = dict(alpha=alpha, threshold=threshold, n_resamples=n_resamples)
    points = stats.summarize(df)
    cmp = stats.compare_variants(df, baseline, **kw)
    if a == baseline:
        pair_cmp = cmp[cmp["label"] == b] if not cmp.empty else cmp
    else:  # the pair's own comparison (its q-values adjusted over the pair)
        pair_cmp = stats.compare_variants(df[df["label"].isin([a, b])], a, **kw)
    fits = stats.scaling_fits(points)
    if check is None:
        for r in loaded.runs:
            if r.check is not None:
                check, check_source = r.check, str(r.path / "check.json")
                break
    facts = history_facts(df, fits, check)
    ctx = Context(loaded=loaded, df=df, points=points, cmp=cmp, fits=fits, facts=facts,
                  baseline=baseline, pair=(a, b), pair_cmp=pair_cmp, check=check,
                  check_source=check_source, alpha=alpha, threshold=threshold,
                  n_resamples=n_resamples, plots=plots)
    title = "rmapbench report: " + ", ".join(loaded.hosts)
    blocks: list = [Para("Benchmarks of the KVM shadow-MMU reverse map (pte_list) variants. "
                         "Every table and plot names the backend that produced its numbers and "
                         "whether they are simulated (valgrind cache model) or measured on "
                         "hardware.")]
    for section in SECTIONS:
        blocks += section.blocks(ctx)
    return Report(title=title, blocks=blocks, summary=summary_text(ctx), comparisons=cmp,
                  fits=fits, points=points, facts=facts,
                  changes=changes_text(cmp, baseline, facts), pair=(a, b))


# -- writing -----------------------------------------------------------------------

def resolve_out(run_dirs, out) -> Path:
    target = Path(out) if out is not None else Path(run_dirs[0])
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {str(target)!r} exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create output directory {str(target)!r}: {e.strerror}") from None
    return target


def write_outputs(report: Report, target: Path, stem: str = "report") -> Path:
    """plots/*.png, <stem>.md, summary.txt, changes.txt, CSVs, then <stem>.html last."""
    from bench.results import atomic_write

    for img in images(report.blocks):
        atomic_write(target / "plots" / f"{img.name}.png", img.png)
    atomic_write(target / f"{stem}.md", to_markdown(report.blocks, report.title))
    if report.summary:
        atomic_write(target / "summary.txt", report.summary)
    if report.changes:
        atomic_write(target / "changes.txt", report.changes)
    if report.comparisons is not None and not report.comparisons.empty:
        atomic_write(target / "comparisons.csv", report.comparisons.to_csv(index=False))
    if report.fits is not None and not report.fits.empty:
        atomic_write(target / "fits.csv", report.fits.to_csv(index=False))
    html_path = target / f"{stem}.html"
    atomic_write(html_path, to_html(report.blocks, report.title))
    return html_path


def write_report(run_dirs, out=None, baseline: str | None = None, *, pair: str | None = None,
                 check: list | None = None, loaded: Loaded | None = None, **kw) -> Path:
    """Load run directories (unless loaded: those runs, already loaded), build
    the report and write it; returns report.html's path.  Default output
    directory: the first run directory."""
    run_dirs = list(run_dirs)
    if loaded is None:
        loaded = load_runs(run_dirs)
    report = build_report(loaded, baseline, pair=pair, check=check, **kw)
    target = resolve_out(run_dirs, out)
    return write_outputs(report, target)
