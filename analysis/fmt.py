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


# -- plain values: sizes, CPU lists, anything from meta.json ---------------------

def human_bytes(b) -> str:
    if b is None or not isinstance(b, (int, float)) or not math.isfinite(b):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} GiB"


def size_text(b) -> str:
    """Cache sizes as the kernel prints them: 48 KiB, 2 MiB, 480 MiB."""
    if b is None or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0:
        return "n/a"
    for unit, f in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= f:
            v = b / f
            return f"{v:.0f} {unit}" if abs(v - round(v)) < 0.05 else f"{v:.1f} {unit}"
    return f"{b:.0f} B"


def text(v) -> str:
    """Any meta.json value as one string; None is "not recorded"."""
    import json

    if v is None:
        return "not recorded"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def truthy(v) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "on", "yes", "true", "enabled", "active"):
            return True
        if s in ("0", "off", "no", "false", "disabled", "inactive", "notsupported"):
            return False
    return None


def parse_cpulist(v) -> set[int]:
    """"1,3-5" or [1, 3] -> {1, 3, 4, 5}; anything unreadable -> empty set."""
    if v is None:
        return set()
    if isinstance(v, (list, tuple, set)):
        return {int(x) for x in v if str(x).strip().lstrip("-").isdigit()}
    out: set[int] = set()
    for part in str(v).replace(" ", "").split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        try:
            out.update(range(int(a), int(b or a) + 1))
        except ValueError:
            return set()
    return out


def cpulist_text(v) -> str:
    """[0, 1, 2, 5] or "0,1,2,5" -> "0-2,5"; empty -> "none"."""
    cpus = sorted(parse_cpulist(v))
    if not cpus:
        return "none"
    out, start, prev = [], cpus[0], cpus[0]
    for c in cpus[1:] + [None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(f"{start}-{prev}" if prev > start else str(start))
        if c is not None:
            start = prev = c
    return ",".join(out)


# -- cells of the tables -----------------------------------------------------------

VERDICT_SHORT = {"no significant difference": "n.s.", "insufficient samples": "few samples"}


def value_cell(p) -> str:
    """A summarize() point: the mean, ± half its 95% interval when sampled."""
    if p["simulated"]:
        return num(p["mean"])
    if p["count"] < 2 or not math.isfinite(p["mean_hi"]):
        return num(p["mean"])
    return f"{num(p['mean'])} ±{num((p['mean_hi'] - p['mean_lo']) / 2)}"


def change_cell(c) -> str:
    """A comparison: -70.6% [-72.0%, -69.1%] better, or -70.6% exact, equal."""
    v = VERDICT_SHORT.get(c["verdict"], c["verdict"])
    if c["exact"]:
        return f"{pct(c['ratio'])} exact, {v}"
    if math.isfinite(c["ci_lo"]) and math.isfinite(c["ci_hi"]):
        return f"{pct(c['ratio'])} [{pct(c['ci_lo'])}, {pct(c['ci_hi'])}] {v}"
    return f"{pct(c['ratio'])} {v}"


def clip(line: str, width: int = 80) -> str:
    """A line of at most width columns; a cut one ends in '...'."""
    return line if len(line) <= width else line[:width - 3].rstrip() + "..."


def budget_advice(need: float, reach: float) -> str:
    """What a budget-stopped case would need (bench.measure.budget_shortfall),
    in words for a report: the seconds, or what the largest budget reaches."""
    from bench.values import BUDGET_MAX

    where = "a run's --budget, a sweep config's options.budget"
    if need <= BUDGET_MAX:
        return f"would need about {need:.0f}s of timing at the noise it showed ({where})"
    return (f"would need about {need:.0f}s at the noise it showed, beyond the largest budget "
            f"({BUDGET_MAX:g}s: {where}), which would reach about ±{reach:.1%}")
