"""Number and label formatting shared by tables, findings and summaries."""

from __future__ import annotations

import math

# Metrics that are sanity checks rather than costs to plot (perf software events).
SANITY_METRICS = {"task-clock", "page-faults", "context-switches", "cpu-migrations"}
# The headline metric per kind of backend, and the counters that can explain it.
PRIMARY = {False: "time", True: "Ir"}
EVIDENCE = {
    False: ["instructions", "L1-dcache-load-misses", "LLC-load-misses", "dTLB-load-misses",
            "branch-misses"],
    True: ["Dr", "D1mr", "DLmr"],
}
SUMMARY_METRICS = {False: ["time", "L1-dcache-load-misses", "LLC-load-misses"],
                   True: ["Ir", "D1mr", "DLmr"]}
METRIC_WORDS = {
    "time": "time (raw)", "time-net": "time net of the harness (null kernel and fixed cost "
    "per repetition subtracted)", "cycles": "cycles", "instructions": "instructions",
    "L1-dcache-load-misses": "L1d load misses", "LLC-load-misses": "LLC load misses",
    "dTLB-load-misses": "dTLB load misses", "branch-misses": "branch misses",
    "Ir": "instructions (simulated)", "Dr": "data reads (simulated)",
    "Dw": "data writes (simulated)", "D1mr": "D1 read misses (simulated)",
    "D1mw": "D1 write misses (simulated)", "DLmr": "LL read misses (simulated)",
    "DLmw": "LL write misses (simulated)",
}


def num(x) -> str:
    """About three significant digits, no exponent for ordinary sizes."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.001:
        return f"{x:.3g}"
    return f"{x:.2e}"


def pct(ratio) -> str:
    """Change of a ratio in percent: 0.294 -> "-70.6%"."""
    if ratio is None or not math.isfinite(ratio):
        # a change from a baseline of zero has no percentage
        return "n/a" if ratio is None or math.isnan(ratio) else "up from 0"
    return f"{(ratio - 1) * 100:+.1f}%"


def ci_pct(lo, hi) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "[CI n/a]"
    return f"[CI {pct(lo)}, {pct(hi)}]"


def times(ratio) -> str:
    """A ratio in plain words: 3.1x or 0.29x."""
    if not math.isfinite(ratio):
        return "n/a"
    if 0 < ratio < 0.1:
        return f"{ratio:.2g}x"  # 0.0039x, not 0.00x
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def backend_tag(backend: str, simulated: bool) -> str:
    return f"{backend}, simulated" if simulated else f"{backend}, measured"


def backend_words(backend: str, simulated: bool) -> str:
    if simulated:
        return (f"backend {backend}: simulated (valgrind cache simulator; exact, "
                "deterministic counts, no confidence interval)")
    return f"backend {backend}: measured on this host's hardware"


def per_op(metric: str, unit: str) -> str:
    """The unit a number is read in: "ns/op" for time, "D1mr/op" for counts."""
    if unit == "ns/op":
        return "ns/op" if metric == "time" else f"{metric} ns/op"
    return f"{metric}/op"


def words(metric: str) -> str:
    return METRIC_WORDS.get(metric, metric)
