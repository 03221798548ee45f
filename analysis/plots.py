"""Plots: a metric per op against n, one line per variant, log axes.

One figure per (host, backend, workload, phase, metric); when the data holds
several sizes (heads or footprint), orders or allocators, they become panels.
Figures are returned as PNG bytes (Agg backend, no display needed).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from bench.variants import style as variant_style

PANEL_KEYS = ["size_label", "order", "alloc"]



def _legend_handles(axes) -> tuple[dict, list[str]]:
    """Every labelled line of the panels once, in first-seen order (one legend
    for a whole figure)."""
    handles, names = {}, []
    for ax in axes.flat:
        for h, lbl in zip(*ax.get_legend_handles_labels()):
            if lbl not in handles:
                handles[lbl] = h
                names.append(lbl)
    return handles, names

def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def panels(points: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """Split the points of one figure into (panel parameters, rows)."""
    out = []
    for key, g in points.groupby(PANEL_KEYS, sort=True, dropna=False):
        out.append((dict(zip(PANEL_KEYS, key)), g))
    return out


def metric_figure(points: pd.DataFrame, title: str, ylabel: str, *,
                  series_order: list[str] | None = None, dpi: int = 90) -> bytes:
    """PNG of mean metric per op against n; a line per series (label).

    points: summarize() rows of one figure.  Sampled points get error bars
    (95% interval of the mean); simulated points are exact and have none."""
    plt = _pyplot()
    parts = panels(points)
    ncols = min(3, len(parts))
    nrows = -(-len(parts) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols + 1.3, 3.4 * nrows),
                             squeeze=False, sharey=False)
    order = series_order or sorted(points["label"].unique())
    for ax, (params, g) in zip(axes.flat, parts):
        for lbl in order:
            s = g[g["label"] == lbl].sort_values("n")
            if s.empty:
                continue
            # a fixed colour and marker per variant (its registry record)
            color, marker = variant_style(lbl.split("@")[0])
            ls = "--" if "@" in lbl else "-"  # a variant at another EXT: same colour, dashed
            x, y = s["n"].to_numpy(float), s["mean"].to_numpy(float)
            if bool(s["simulated"].iloc[0]):
                ax.plot(x, y, marker=marker, color=color, label=lbl, lw=1.5, ms=4, ls=ls)
            else:
                lo = np.clip(y - s["mean_lo"].to_numpy(float), 0, None)
                hi = np.clip(s["mean_hi"].to_numpy(float) - y, 0, None)
                yerr = np.nan_to_num(np.vstack([lo, hi]))
                ax.errorbar(x, y, yerr=yerr, marker=marker, color=color, label=lbl,
                            lw=1.5, ms=4, capsize=2, ls=ls)
        ax.set_xscale("log", base=2)
        if (g["mean"] > 0).all():
            ax.set_yscale("log")
        else:  # a zero cannot sit on a log axis: linear from 0
            ax.set_ylim(bottom=0)
        ax.set_xlabel("n (sptes per head)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        if len(parts) > 1:
            ax.set_title(", ".join(str(v) if k == "size_label" else f"{k}={v}"
                                   for k, v in params.items()), fontsize=9)
    for ax in list(axes.flat)[len(parts):]:
        ax.set_visible(False)
    # one legend for the figure, right of the panels, so that no line is hidden under it
    handles, names = _legend_handles(axes)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    fig.legend([handles[n] for n in names], names, loc="center right", fontsize=8,
               frameon=False)
    return _png(fig, dpi)


def _png(fig, dpi: int) -> bytes:
    """The figure as a palette PNG: line plots need few colours, and a report
    that inlines dozens of figures stays small (about a quarter of RGBA)."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    try:
        from PIL import Image as PILImage
    except ImportError:  # pillow comes with matplotlib; without it, the RGBA PNG
        return buf.getvalue()
    buf.seek(0)
    img = PILImage.open(buf).convert("RGB").quantize(colors=64)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _series_plot(ax, s: pd.DataFrame, lbl: str, emphasis: bool):
    color, marker = variant_style(lbl.split("@")[0])
    ls = "--" if "@" in lbl else "-"
    lw, alpha = (2.6, 1.0) if emphasis else (1.1, 0.75)
    x, y = s["n"].to_numpy(float), s["mean"].to_numpy(float)
    if bool(s["simulated"].iloc[0]):
        ax.plot(x, y, marker=marker, color=color, label=lbl, lw=lw, ms=4, ls=ls, alpha=alpha)
    else:
        lo = np.clip(y - s["mean_lo"].to_numpy(float), 0, None)
        hi = np.clip(s["mean_hi"].to_numpy(float) - y, 0, None)
        ax.errorbar(x, y, yerr=np.nan_to_num(np.vstack([lo, hi])), marker=marker, color=color,
                    label=lbl, lw=lw, ms=4, capsize=2, ls=ls, alpha=alpha)


def headline_figure(grid: list[list[tuple[str, str, pd.DataFrame | None]]], title: str, *,
                    series_order: list[str], pair: tuple[str, str], dpi: int = 76) -> bytes:
    """PNG of a grid of panels: grid[row][col] = (panel title, y label,
    summarize() points of one metric, or None for an empty cell).  A line per
    series against n (log-log); the two series of the pair drawn bold.  A
    panel with one n value (guest) shows one bar per series instead."""
    plt = _pyplot()
    nrows, ncols = len(grid), max(len(r) for r in grid)
    # two figures of two columns side by side fit a 1400 px page
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.5 * ncols + 1.25, 2.6 * nrows + 0.5),
                             squeeze=False)
    for r, row in enumerate(grid):
        for c in range(ncols):
            ax = axes[r][c]
            cell = row[c] if c < len(row) else None
            if cell is None or cell[2] is None or cell[2].empty:
                ax.set_visible(cell is not None)
                if cell is not None:
                    ax.set_visible(True)
                    ax.axis("off")
                    ax.text(0.5, 0.5, f"{cell[0]}:\nnot in this data", ha="center",
                            va="center", fontsize=9, color="#777", transform=ax.transAxes)
                continue
            ptitle, ylabel, pts = cell
            present = [lbl for lbl in series_order if lbl in set(pts["label"])]
            if pts["n"].nunique() == 1:
                ys = [pts[pts["label"] == lbl]["mean"].iloc[0] for lbl in present]
                colors = [variant_style(lbl.split("@")[0])[0] for lbl in present]
                bars = ax.barh(range(len(present)), ys, color=colors)
                for b, lbl in zip(bars, present):
                    b.set_alpha(1.0 if lbl in pair else 0.55)
                ax.set_yticks(range(len(present)), present, fontsize=8)
                ax.invert_yaxis()
                ax.set_xlabel(ylabel)
                ax.grid(True, axis="x", alpha=0.3)
            else:
                for lbl in present:
                    _series_plot(ax, pts[pts["label"] == lbl].sort_values("n"), lbl, lbl in pair)
                ax.set_xscale("log", base=2)
                if (pts["mean"] > 0).all():
                    ax.set_yscale("log")
                else:
                    ax.set_ylim(bottom=0)
                ax.set_xlabel("n (sptes per head)")
                ax.set_ylabel(ylabel)
                ax.grid(True, which="major", alpha=0.3)
            ax.set_title(ptitle, fontsize=9)
    handles, names = _legend_handles(axes)
    names = [n for n in series_order if n in handles]
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.25 / fig.get_figwidth(), 1))
    if names:
        fig.legend([handles[n] for n in names], names, loc="center right", fontsize=8,
                   frameon=False)
    return _png(fig, dpi)
