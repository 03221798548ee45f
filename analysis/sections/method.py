"""The statistical method, in words."""

from __future__ import annotations

from . import Context

from ..render import Bullets, Heading

TITLE = "Statistical method"


def blocks(ctx: Context) -> list:
    baseline, alpha, threshold, n_resamples = ctx.baseline, ctx.alpha, ctx.threshold, ctx.n_resamples
    return [Heading(2, TITLE), Bullets([
        f"Baseline: {baseline}. Every series is compared with it at the same host, backend, "
        "workload, phase and case parameters; lower is better for every metric (all are "
        "costs per operation of the phase).",
        "Measured numbers (backends perf and time) are samples: one value per round of a "
        "worker process, the variants of a case measured interleaved in random order in the "
        "same rounds (docs/measurement.md). Series timed in the same rounds are compared "
        "pairwise: change = geometric mean of the per-round ratios - 1 (logs winsorized at "
        "5 MAD), 95% interval and p-value from a hierarchical bootstrap (memory layouts, then "
        f"rounds; {n_resamples} resamples, fixed seed). Other pairs: ratio of means with a "
        "BCa bootstrap interval and a two-sided Mann-Whitney U test. p-values are adjusted "
        f"over the whole report by Benjamini-Hochberg (q). Verdict better/worse when q < "
        f"{alpha} and the interval excludes 0%, else 'no significant difference'.",
        "Metric 'time' is raw (the clock around the measured region); 'time-net' subtracts "
        "the harness's own cost measured in the same worker processes: the fixed cost per "
        "repetition (clock reads) and the null kernel's cost per op.",
        "Simulated numbers (backend sim, marked 'simulated') are exact deterministic counts "
        "from valgrind's cache simulator: no interval and no test; verdict 'equal' within "
        f"±{threshold * 100:g}%, else better/worse.",
        "Several seeds or CPUs of one case are pooled. Scaling: least squares against n and "
        "log-log exponent per series (scipy.stats.linregress).",
    ])]
