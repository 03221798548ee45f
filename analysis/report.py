"""The report: report.html (self-contained), report.md (+ plots/*.png),
summary.txt (before/after lines for commit messages), comparisons.csv and
fits.csv (every number of the tables, machine-readable).

Public entry points:
  build_report(loaded, baseline=BASELINE, check=None, ...) -> Report
  write_report(run_dirs, out=None, baseline=BASELINE, check=None, ...) -> Path of report.html
  (BASELINE: the registry's baseline role, bench.variants.ROLES)
  summary_text(comparisons, baseline) -> str
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import UsageError
from bench.variants import role

from . import fmt, stats
from .findings import CASE_PARAMS, PHASE_ORDER, param_text, workload_findings
from .history import history_facts

BASELINE = role("baseline")
from .load import Loaded, load_runs
from .render import Bullets, Heading, Image, Para, Pre, Table, images, slug, to_html, to_markdown

HOST_KEYS = ["name", "cpu", "family", "model", "stepping", "microcode", "caches", "kernel",
             "governor", "turbo", "smt", "isolated_cpus", "perf_event_paranoid"]
MIN_PLOT_VALUE = 0.01  # as findings.MIN_EVIDENCE_ABS: below it per op, a count explains nothing
VERDICT_SHORT = {stats.VERDICT_NSD: "n.s.", stats.VERDICT_FEW: "few samples"}


@dataclass
class Report:
    title: str
    blocks: list = field(repr=False)
    summary: str
    comparisons: pd.DataFrame = field(repr=False)
    fits: pd.DataFrame = field(repr=False)
    points: pd.DataFrame = field(repr=False)
    facts: list = field(default_factory=list, repr=False)  # history.Fact, one per fact


# -- small helpers -------------------------------------------------------------

def human_bytes(b) -> str:
    if b is None or not isinstance(b, (int, float)) or not math.isfinite(b):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} GiB"


def _text(v) -> str:
    if v is None:
        return "not recorded"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


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


def _truthy(v) -> bool | None:
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


def tuning_warnings(meta: dict, cpus: set[int]) -> list[str]:
    """Host settings that make hardware timings noisier, as the run recorded
    them (meta.json "tuning_warnings", bench/host.py; bench.meta migrates
    older files)."""
    return [_text(x) for x in meta.get("tuning_warnings") or []]


def size_text(b) -> str:
    """Cache sizes as the kernel prints them: 48 KiB, 2 MiB, 480 MiB."""
    if b is None or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0:
        return "n/a"
    for unit, f in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= f:
            v = b / f
            return f"{v:.0f} {unit}" if abs(v - round(v)) < 0.05 else f"{v:.1f} {unit}"
    return f"{b:.0f} B"


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


_CACHE_TYPE = {"data": "d", "instruction": "i", "unified": ""}


def cache_levels_text(levels) -> str:
    """sysfs cache levels [{level, type, size, assoc, line, ...}] ->
    "L1d 48 KiB 12-way, L1i 64 KiB 16-way, L2 2 MiB 16-way, L3 480 MiB 16-way; 64 B lines"."""
    if not isinstance(levels, list) or not levels:
        return ""
    parts, lines = [], set()
    for lv in levels:
        if not isinstance(lv, dict):
            continue
        name = f"L{lv.get('level', '?')}" + _CACHE_TYPE.get(str(lv.get("type", "")).lower(), "")
        text = f"{name} {size_text(stats.parse_size(lv.get('size')))}"
        if lv.get("assoc"):
            text += f" {lv['assoc']}-way"
        parts.append(text)
        if lv.get("line"):
            lines.add(lv["line"])
    if len(lines) == 1:
        return ", ".join(parts) + f"; {lines.pop()} B lines"
    return ", ".join(parts)


def _geometry_text(name: str, g, host_assoc=None) -> str:
    if isinstance(g, (list, tuple)) and len(g) >= 3:
        text = f"{name} {size_text(stats.parse_size(g[0]))} {g[1]}-way {g[2]} B lines"
    elif g is not None:
        text = f"{name} {size_text(stats.parse_size(g))}"
    else:
        return ""
    if host_assoc is not None:
        text += f" (the host's is {host_assoc}-way: valgrind needs a power-of-two set count)"
    return text


def sim_text(meta: dict) -> str:
    """meta.json's sim block as one sentence: profile, why, D1 and LL geometry, valgrind."""
    sim = meta.get("sim") or {}
    geo = sim.get("geometry") or {}
    profile = sim.get("profile") or "not recorded"
    reason = sim.get("profile_reason")
    levels = [t for t in (_geometry_text(k, geo.get(k), geo.get(f"{k}_host_assoc"))
                          for k in ("D1", "LL")) if t]
    text = f"Simulated cache (valgrind's cache simulator, {sim.get('valgrind') or 'version not recorded'}): "
    text += f"profile {profile}" + (f", chosen because {reason}" if reason else "") + ". "
    text += ("Simulated " + " and ".join(levels) + "." if levels
             else "Simulated geometry not recorded.")
    i1 = _geometry_text("I1", geo.get("I1"), geo.get("I1_host_assoc"))
    if i1:
        text += f" ({i1}.)"
    return text


def _value_cell(p) -> str:
    if p["simulated"]:
        return fmt.num(p["mean"])
    if p["count"] < 2 or not math.isfinite(p["mean_hi"]):
        return fmt.num(p["mean"])
    return f"{fmt.num(p['mean'])} ±{fmt.num((p['mean_hi'] - p['mean_lo']) / 2)}"


def change_cell(c) -> str:
    v = VERDICT_SHORT.get(c["verdict"], c["verdict"])
    if c["exact"]:
        return f"{fmt.pct(c['ratio'])} exact, {v}"
    if math.isfinite(c["ci_lo"]) and math.isfinite(c["ci_hi"]):
        return f"{fmt.pct(c['ratio'])} [{fmt.pct(c['ci_lo'])}, {fmt.pct(c['ci_hi'])}] {v}"
    return f"{fmt.pct(c['ratio'])} {v}"


def _varying(df: pd.DataFrame, keys=CASE_PARAMS) -> list[str]:
    return [k for k in keys if k in df and df[k].nunique(dropna=False) > 1]


def _header(k: str) -> str:
    return "size" if k == "size_label" else k


def _sort_keys(vary: list[str]) -> list[str]:
    """Sort by the size's rank, not its words."""
    return ["size" if k == "size_label" else k for k in vary]


def _metrics(df: pd.DataFrame, simulated: bool) -> list[str]:
    present = list(dict.fromkeys(df["metric"]))
    pref = ([fmt.PRIMARY[simulated], "cycles"] + fmt.EVIDENCE[simulated]
            + ["Dw", "D1mw", "DLmw"])
    ordered = [m for m in pref if m in present] + sorted(m for m in present if m not in pref)
    return ordered


def _phase_key(p):
    return (PHASE_ORDER.get(p, 9), p)


# -- tables ----------------------------------------------------------------------

def values_table(pts: pd.DataFrame, levels, caption: str) -> Table:
    sim = bool(pts["simulated"].iloc[0])
    metrics = _metrics(pts, sim)
    vary = _varying(pts)
    order = {lbl: i for i, lbl in enumerate(stats.labels(pts))}
    headers = [_header(k) for k in vary] + ["n", "series", "EXT", "heads", "footprint", "fits in"]
    units = pts.drop_duplicates("metric").set_index("metric")["unit"]
    headers += [fmt.per_op(m, units[m]) for m in metrics]
    rows = []
    base = pts.drop_duplicates(vary + ["n", "label"])
    base = base.assign(_o=base["label"].map(order)).sort_values(_sort_keys(vary) + ["n", "_o"])
    cell = {(tuple(r[k] for k in vary), r["n"], r["label"], r["metric"]): r
            for _, r in pts.iterrows()}
    for _, b in base.iterrows():
        key = tuple(b[k] for k in vary)
        fps = pts[(pts["n"] == b["n"]) & (pts["label"] == b["label"])]
        for k in vary:
            fps = fps[fps[k] == b[k]]
        fp = fps["footprint"].max()
        row = [str(b[k]) for k in vary] + [str(int(b["n"])), b["label"], str(int(b["ext"])),
                                            str(int(fps["heads"].max())), human_bytes(fp),
                                            stats.footprint_level(fp, levels)]
        for m in metrics:
            p = cell.get((key, b["n"], b["label"], m))
            row.append(_value_cell(p) if p is not None else "")
        rows.append(row)
    note = ("Mean per op; ± is half the 95% interval of the mean (Student t over pyperf values)."
            if not sim else "Exact simulated counts per op (deterministic; no interval).")
    note += (" 'fits in': the case's footprint against "
             + ("the simulated D1/LL sizes." if sim else "the host's L1d/L2/LLC sizes."))
    return Table(caption, headers, rows, note)


def comparison_table(cmp: pd.DataFrame, baseline: str, caption: str,
                     extra_keys: list[str] | None = None) -> Table:
    sim = bool(cmp["exact"].iloc[0])
    metrics = [m for m in _metrics(cmp, sim) if m not in fmt.SANITY_METRICS]
    vary = _varying(cmp, (extra_keys or []) + CASE_PARAMS)
    order = {lbl: i for i, lbl in enumerate(stats.labels(cmp))}
    headers = [_header(k) for k in vary] + ["n", "series"] + [f"{m} vs {baseline}" for m in metrics]
    cell = {}
    for _, c in cmp.iterrows():
        cell[(tuple(c[k] for k in vary), c["n"], c["label"], c["metric"])] = c
    base = cmp.drop_duplicates(vary + ["n", "label"])
    base = base.assign(_o=base["label"].map(order)).sort_values(
        [k for k in _sort_keys(vary) if k in base] + ["n", "_o"])
    rows = []
    for _, b in base.iterrows():
        key = tuple(b[k] for k in vary)
        row = [str(b[k]) for k in vary] + [str(int(b["n"])), b["label"]]
        for m in metrics:
            c = cell.get((key, b["n"], b["label"], m))
            row.append(change_cell(c) if c is not None else "")
        rows.append(row)
    if sim:
        th = cmp["threshold"].iloc[0] * 100
        note = (f"Change of the exact simulated count against {baseline}; 'equal' within "
                f"±{th:g}%; no interval or test (the counts are deterministic).")
    else:
        note = (f"Change of the mean against {baseline} with its 95% bootstrap interval; "
                "verdict from a Mann-Whitney U test with Benjamini-Hochberg q < "
                f"{stats.ALPHA} and an interval that excludes 0% (n.s.: no significant difference). "
                "Full numbers with p and q: comparisons.csv.")
    return Table(caption, headers, rows, note)


def fits_table(fits: pd.DataFrame, caption: str) -> Table:
    vary = _varying(fits)
    order = {lbl: i for i, lbl in enumerate(stats.labels(fits))}
    f = fits.assign(_o=fits["label"].map(order)).sort_values(_sort_keys(vary) + ["metric", "_o"])
    headers = [_header(k) for k in vary] + ["metric", "series", "n range", "slope per spte", "intercept", "r²",
                      "exponent", "exponent (larger n)", "per-op growth"]
    rows = []
    for _, r in f.iterrows():
        rows.append([str(r[k]) for k in vary] + [
            fmt.per_op(r["metric"], r["unit"]), r["label"], f"{r['n_min']}..{r['n_max']}",
            fmt.num(r["slope"]), fmt.num(r["intercept"]),
            "n/a" if not math.isfinite(r["r2"]) else f"{r['r2']:.3f}",
            "n/a" if not math.isfinite(r["exponent"]) else f"{r['exponent']:.2f}",
            "n/a" if not math.isfinite(r["exponent_large"]) else f"{r['exponent_large']:.2f}",
            r["growth"]])
    note = ("Least squares of the per-op mean against n (slope: added cost per op for each "
            "extra spte in the list) and of log(mean) against log(n) (exponent ~0: O(1) per "
            "op, ~1: O(n) per op), scipy.stats.linregress; 'larger n' fits the upper half of "
            "the n values only.")
    return Table(caption, headers, rows, note)


def _ops_text(ops) -> str:
    if isinstance(ops, list) and all(isinstance(o, str) for o in ops):
        return "; ".join(ops)
    return _text(ops)


def _kinds_text(items) -> str:
    out = []
    for d in items or []:
        if isinstance(d, dict):
            ops = d.get("ops")
            n = f"{len(ops)} ops: " if isinstance(ops, list) else ""
            out.append(f"{d.get('kind', '?')}: {d.get('detail', '')}"
                       + (f" ({n}{_ops_text(ops)})" if ops else ""))
        else:
            out.append(_text(d))
    return "; ".join(out) or "none"


def _bounds_text(bounds) -> str:
    """rmapbench check's {"runs": [{ext, max_initial_len, max_writer_ops, can_miss}...]}."""
    if isinstance(bounds, dict) and isinstance(bounds.get("runs"), list):
        parts = []
        for b in bounds["runs"]:
            if not isinstance(b, dict):
                continue
            miss = {True: "miss", False: "no miss"}.get(b.get("can_miss"), "?")
            parts.append(f"EXT {b.get('ext', '?')}: lists up to {b.get('max_initial_len', '?')} "
                         f"sptes, up to {b.get('max_writer_ops', '?')} writer ops: {miss}")
        return "; ".join(parts) or _text(bounds)
    return "" if bounds is None else _text(bounds)


def _trace_text(cx) -> str:
    """A counterexample as lines: a list of steps {actor, action, layout} or anything else."""
    if isinstance(cx, list) and all(isinstance(s, dict) for s in cx):
        return "\n".join(f"{s.get('actor', '?'):>7}: {s.get('action', '')}"
                         + (f"    [{s['layout']}]" if s.get("layout") else "") for s in cx)
    if isinstance(cx, list):
        return "\n".join(_text(s) for s in cx)
    return _text(cx)


def check_blocks(check: list, source: str) -> list:
    """The optional section from `rmapbench check --json` (a list of per-variant
    objects: variant, ext, deviations [{kind, ops, detail}], differences,
    race {can_miss, bounds, counterexample}, and for a variant with a head lock
    race_without_lock, the walker that does not take it: one row each)."""
    rows, traces = [], []
    runs = []
    for c in check:
        if isinstance(c, dict) and isinstance(c.get("race_without_lock"), dict):
            # a head lock: the walker taking it, and one that does not
            runs.append((f"{c.get('variant')} (walker takes the head lock)", c, c.get("race")))
            runs.append((f"{c.get('variant')} (walker without the lock)", c,
                         c["race_without_lock"]))
        else:
            runs.append((str(c.get("variant")), c, c.get("race")))
    for label, c, race in runs:
        race = race or {}
        can_miss = race.get("can_miss")
        cx = race.get("counterexample")
        rows.append([label, _text(c.get("ext")), _kinds_text(c.get("deviations")),
                     _kinds_text(c.get("differences")) if "differences" in c else "",
                     "yes" if can_miss is True else "no" if can_miss is False else _text(can_miss),
                     _bounds_text(race.get("bounds")),
                     "" if cx is None else (f"{len(cx)} steps, below" if isinstance(cx, list)
                                            else _text(cx))])
        if cx is not None:
            where = f" at EXT {race['ext']}" if "ext" in race else ""
            m = race.get("missed")
            missed = (f"; missed spte(s) {', '.join(map(str, m)) if isinstance(m, list) else m}"
                      if m is not None else "")
            traces += [Para(f"{label}: shortest counterexample{where}{missed}:"),
                       Pre(_trace_text(cx))]
    return [Heading(2, "Behaviour check and lockless-walk race"),
            Para(f"From {source} (rmapbench check): deviations of each variant from the "
                 "documented pte_list contract, and whether a lockless walker can miss an spte "
                 "that stays present for the whole walk (DESIGN.md section 7), within the "
                 "search bounds, with a shortest counterexample."),
            Table("check results (exhaustive search on the model and the C kernels; not a timing)",
                  ["variant", "EXT", "deviations", "differences (within the contract)",
                   "walker can miss an spte", "bounds", "counterexample"], rows)] + traces


# -- the report ----------------------------------------------------------------

def _runs_table(loaded: Loaded) -> Table:
    rows = []
    for r in loaded.runs:
        m = r.meta
        be = m.get("backend") or {}
        be_text = (f"{be.get('chosen', '?')} (requested {be.get('requested', '?')}"
                   + (f"; {be['reason']}" if be.get("reason") else "") + ")") if be else "not recorded"
        rows.append([str(r.path), _text(m.get("run_id")),
                     ", ".join(sorted(r.df["host"].unique())), be_text,
                     ", ".join(sorted(r.df["backend"].unique())),
                     _text(m.get("created")), _text(m.get("finished")),
                     _text(m.get("git_revision")), _text(m.get("compiler")),
                     _text(m.get("cflags")), str(len(r.df))])
    return Table("runs merged into this report", ["run directory", "run id", "host",
                 "backend (meta.json)", "backends in data", "created", "finished",
                 "git revision", "compiler", "cflags", "rows"], rows)


# a counter scheduled for less than this share of its enabled time is flagged
MUX_WARN_RATIO = 0.5


def _host_blocks(loaded: Loaded, host: str) -> list:
    df = loaded.df[loaded.df["host"] == host]
    metas = loaded.meta_for_host(host)
    meta = metas[0] if metas else {}
    hm = meta.get("host") or {}
    blocks: list = [Heading(2, f"Host {host}: hardware and method")]
    rows = []
    levels = cache_levels_text(hm.get("cache_levels"))
    for k in HOST_KEYS + sorted(k for k in hm if k not in HOST_KEYS):
        v = hm.get(k)
        if k == "cache_levels":
            continue  # shown compactly as caches
        if k == "caches":
            v = levels or (", ".join(f"{ck} {size_text(stats.parse_size(cv))}"
                                     for ck, cv in v.items()) if isinstance(v, dict) else v)
        elif k.endswith("cpus") and isinstance(v, (list, tuple, str)):
            v = cpulist_text(v)
        rows.append([k, _text(v)])
    cpus = sorted(int(c) for c in df["cpu"].dropna().unique())
    rows.append(["pinned CPU(s) of the measured workers", cpulist_text(cpus) if cpus else "n/a"])
    for key in ("compiler", "cflags", "pyperf"):
        v = meta.get(key)
        if isinstance(v, dict):
            v = ", ".join(f"{k}={x}" for k, x in v.items())
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = " ".join(v)
        rows.append([key, _text(v)])
    blocks.append(Table(f"host {host} (meta.json of {len(metas)} run(s))", ["field", "value"], rows,
                        fold=False))

    brows = []
    for (be, sim), g in df.groupby(["backend", "simulated"]):
        brows.append([be, "simulated" if sim else "measured",
                      ", ".join(_metrics(g, bool(sim))), str(len(g)),
                      ", ".join(sorted(g["workload"].unique()))])
    blocks.append(Table(f"backends that produced the numbers for host {host}",
                        ["backend", "simulated or measured", "metrics", "rows", "workloads"], brows))
    for m in metas:
        sim = m.get("sim")
        if sim and (df["simulated"]).any():
            blocks.append(Para(sim_text(m)))
            break

    events = {}
    for m in metas:
        for name, e in (m.get("events") or {}).items():
            events.setdefault(name, e)
    if events:
        erows = []
        for name, e in events.items():
            e = e if isinstance(e, dict) else {"supported": e}
            sup = e.get("supported")
            erows.append([name, "supported" if sup else "unsupported",
                          "" if sup else _text(e.get("reason"))])
        blocks.append(Table(f"hardware events on host {host} (unsupported events have no rows; "
                            "they are never shown as 0)", ["event", "status", "reason"], erows,
                            fold=False))

    perf = df[df["backend"] == "perf"]
    # every perf_event_open count (the software events ride along with any backend)
    counted = df[~df["simulated"].astype(bool)] if "simulated" in df else perf
    mux = counted[counted["enabled_ratio"] < 1]
    if len(mux):
        mrows, low = [], []
        for metric, g in mux.groupby("metric"):
            total = (counted["metric"] == metric).sum()
            worst = g["enabled_ratio"].min()
            mrows.append([metric, f"{len(g)}/{total}", f"{worst:.3f}"])
            if worst < MUX_WARN_RATIO:
                low.append(f"{metric}: counted only {worst:.1%} of the measured time in its "
                           f"worst value (enabled_ratio {worst:.3f} < {MUX_WARN_RATIO}); "
                           f"{(g['enabled_ratio'] < MUX_WARN_RATIO).sum()} of {total} values "
                           "are extrapolated from less than half their time: use fewer events")
        blocks.append(Table("multiplexed counters (enabled_ratio = time_running/time_enabled < 1; "
                            "values were scaled up by perf and are less certain)",
                            ["metric", "values multiplexed", "lowest enabled_ratio"], mrows))
        if low:
            blocks += [Para("Multiplexing warnings:"), Bullets(low)]
    elif len(perf):
        blocks.append(Para("Multiplexing: none; every perf counter value was counted for the "
                           "whole measured loop (enabled_ratio = 1)."))
    warns = []
    for m in metas:
        for w in tuning_warnings(m, set(cpus)):
            if w not in warns:
                warns.append(w)
    if warns and (~df["simulated"]).any():
        blocks += [Para("Tuning warnings (they affect measured numbers, not simulated counts):"),
                   Bullets(warns)]
    elif not warns:
        blocks.append(Para("Tuning warnings: none recorded."))
    return blocks


def _method_blocks(baseline: str, alpha: float, threshold: float, n_resamples: int) -> list:
    return [Heading(2, "Statistical method"), Bullets([
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


def timing_quality_blocks(df: pd.DataFrame) -> list:
    """Per measured case and phase: the 95% half-width reached, how many values
    were re-measured because their region was disturbed and why, the worker
    processes and why timing stopped (docs/measurement.md)."""
    if "halfwidth" not in df.columns:
        return []
    t = df[(df["metric"] == "time") & ~df["simulated"].astype(bool) & df["halfwidth_of"].notna()]
    if t.empty:
        return []
    keys = ["host", "workload", "phase", "n", "heads", "order", "alloc", "label"]
    rows = []
    for key, g in t.groupby(keys, sort=True):
        r = g.iloc[0]
        hw = r["halfwidth"]
        rows.append([r["host"], r["workload"], r["phase"],
                     f"n={int(r['n'])} heads={int(r['heads'])} {r['order']} {r['alloc']}",
                     r["label"], "n/a" if hw != hw else f"±{hw:.2%}", str(r["halfwidth_of"]),
                     f"{int(r['remeasured'])} of {len(g)}", str(r["remeasure_reasons"] or "-"),
                     str(int(r["processes"])), str(r["stopped"])])
    hws = t.drop_duplicates(keys)["halfwidth"]
    hws = hws[hws == hws]
    line = (f"95% CI half-width reached: median {hws.median():.2%}, p90 {hws.quantile(0.9):.2%} "
            f"over {len(hws)} case/phase series (measured time, raw). "
            if len(hws) else "")
    return [Heading(2, "Timing quality"),
            Para(line + "Re-measured: values whose region was disturbed (preempted, blocked, "
                 "migrated, page faults, off the CPU) and were measured again, at most 3 times "
                 "each."),
            Table("timing quality per case (measured)", ["host", "workload", "phase", "case",
                  "series", "95% CI half-width", "of", "re-measured", "why", "processes",
                  "stopped by"], rows, fold=True)]


def build_report(loaded: Loaded, baseline: str = BASELINE, *, check: list | None = None,
                 check_source: str = "check.json", alpha: float = stats.ALPHA,
                 threshold: float = stats.EXACT_THRESHOLD,
                 n_resamples: int = stats.N_RESAMPLES, plots: bool = True) -> Report:
    """Everything of a report, in memory."""
    from .plots import metric_figure

    df = loaded.df
    baseline = stats.check_baseline(df, baseline)
    points = stats.summarize(df)
    cmp = stats.compare_variants(df, baseline, alpha=alpha, threshold=threshold,
                                 n_resamples=n_resamples)
    fits = stats.scaling_fits(points)
    if check is None:
        for r in loaded.runs:
            if r.check is not None:
                check, check_source = r.check, str(r.path / "check.json")
                break
    hosts = loaded.hosts
    title = "rmapbench report: " + ", ".join(hosts)
    facts = history_facts(df, fits, check)
    blocks: list = [Para("Benchmarks of the KVM shadow-MMU reverse map (pte_list) variants. "
                         "Every table and plot names the backend that produced its numbers and "
                         "whether they are simulated (valgrind cache model) or measured on "
                         "hardware.")]
    blocks += history_blocks(facts)

    blocks.append(Heading(2, "Findings"))
    blocks.append(Para(f"Per workload, phase and case, at the largest n: the best and the worst "
                       f"series against {baseline} (change with its 95% interval, or 'exact' "
                       "when simulated) and the cause in a few words, taken only from the same "
                       "data: the scaling fits (O(1) or O(n) per op) and the counter that moved "
                       "most. Every series with its evidence is in the table below each list."))
    for (host, be, sim), g in df.groupby(["host", "backend", "simulated"]):
        for wl in sorted(g["workload"].unique()):
            lines, rows = workload_findings(cmp, fits, host=host, backend=be, workload=wl,
                                            baseline=baseline)
            if lines:
                tag = fmt.backend_tag(be, bool(sim))
                blocks += [Heading(3, f"{wl} — host {host}, {tag}"), Bullets(lines),
                           Table(f"{wl} — host {host}, {tag}: every series at the largest n",
                                 ["phase, case", "series", f"vs {baseline}", "95% interval",
                                  "verdict", "evidence (same data)"], rows, fold=True)]
    if cmp.empty:
        blocks.append(Para(f"No series other than {baseline} shares a case with it: "
                           "nothing to compare."))
    blocks.append(_runs_table(loaded))
    for host in hosts:
        blocks += _host_blocks(loaded, host)
    blocks += _method_blocks(baseline, alpha, threshold, n_resamples)
    blocks += timing_quality_blocks(df)

    for (host, be, sim), g in points.groupby(["host", "backend", "simulated"]):
        sim = bool(sim)
        metas = loaded.meta_for_host(host)
        levels = next((lv for lv in (stats.cache_levels(m, sim) for m in metas) if lv), [])
        tag = fmt.backend_tag(be, sim)
        for wl in sorted(g["workload"].unique()):
            blocks.append(Heading(2, f"{wl} — host {host}, {tag}"))
            blocks.append(Para(fmt.backend_words(be, sim) + "."))
            if wl == "null":
                blocks.append(Para("null is the measurement harness around an empty phase: its "
                                   "cost per op is included in every other number of this "
                                   "host and backend."))
            gw = g[g["workload"] == wl]
            for phase in sorted(gw["phase"].unique(), key=_phase_key):
                pts = gw[gw["phase"] == phase]
                where = f"{wl} {phase}, host {host}, {tag}"
                blocks.append(Heading(3, f"{wl} / {phase} — host {host}, {tag}"))
                blocks.append(values_table(pts, levels, f"{where}: mean per op"))
                c = cmp[(cmp["host"] == host) & (cmp["backend"] == be) & (cmp["workload"] == wl)
                        & (cmp["phase"] == phase)] if not cmp.empty else cmp
                if not c.empty:
                    blocks.append(comparison_table(c, baseline, f"{where}: change against {baseline}"))
                f = fits[(fits["host"] == host) & (fits["backend"] == be) & (fits["workload"] == wl)
                         & (fits["phase"] == phase) & (fits["points"] >= 3)
                         & (~fits["metric"].isin(fmt.SANITY_METRICS))]
                if not f.empty:
                    blocks.append(fits_table(f, f"{where}: scaling with n"))
                ns = sorted(n for n in pts["n"].unique() if n > 0)
                if len(ns) < 2:
                    blocks.append(Para(f"Only one n value for {wl} {phase}: no plot against n "
                                       "and no scaling fit; see the table."))
                    continue
                if not plots:
                    continue
                tiny = []
                for metric in _metrics(pts, sim):
                    if metric in fmt.SANITY_METRICS:
                        continue
                    mp = pts[(pts["metric"] == metric) & (pts["n"] > 0)]
                    if mp["mean"].abs().max() < MIN_PLOT_VALUE:
                        tiny.append(metric)  # every value immaterial: a plot would show noise
                        continue
                    unit = fmt.per_op(metric, mp["unit"].iloc[0])
                    png = metric_figure(mp, f"{wl} {phase}: {metric} per op — host {host}, {tag}",
                                        unit, series_order=stats.labels(mp))
                    name = slug(f"{host}-{be}-{wl}-{phase}-{metric}")
                    blocks.append(Image(name, png, f"{wl} {phase}: {unit} against n, "
                                        f"host {host}, {tag}"))
                if tiny:
                    blocks.append(Para(f"Not plotted: {', '.join(tiny)}: every value is below "
                                       f"{MIN_PLOT_VALUE:g} per op (see the table)."))
    if check:
        blocks += check_blocks(check, check_source)
    blocks += [Heading(2, "Files"), Bullets([
        "summary.txt: before/after lines for commit messages",
        "comparisons.csv: every comparison with ratio, interval, p and q values, verdict",
        "fits.csv: every scaling fit", "report.md and plots/: this report as Markdown"])]
    return Report(title=title, blocks=blocks,
                  summary=summary_text(cmp, baseline, points, facts=facts),
                  comparisons=cmp, fits=fits, points=points, facts=facts)


# -- summary.txt -----------------------------------------------------------------

def summary_lines(cmp: pd.DataFrame, baseline: str, metrics: dict | None = None) -> list[str]:
    """Before/after lines, one per comparison of the summary metrics, e.g.
    `fork add n=64  A 41.2 ns/op -> B 12.1 ns/op  -70.6% [CI -72.0%, -69.1%]  perf`."""
    metrics = metrics or fmt.SUMMARY_METRICS
    out: list[str] = []
    if cmp is None or cmp.empty:
        return out
    for (host, be, sim), g in cmp.groupby(["host", "backend", "exact"]):
        sim = bool(sim)
        vary = _varying(g)
        const = {k: g[k].iloc[0] for k in CASE_PARAMS if k not in vary}
        out.append(f"# host {host}, {fmt.backend_words(be, sim)}; baseline {baseline};"
                   + "".join(param_text(k, v) for k, v in const.items()))
        order = {lbl: i for i, lbl in enumerate(stats.labels(g))}
        for metric in [m for m in metrics[sim] if m in set(g["metric"])]:
            rows = []
            gm = g[g["metric"] == metric]
            gm = gm.assign(_p=gm["phase"].map(lambda p: _phase_key(p)),
                           _o=gm["label"].map(order))
            for _, c in gm.sort_values(["workload", "_p"] + _sort_keys(vary) + ["n", "_o"]).iterrows():
                unit = fmt.per_op(metric, c["unit"])
                case = f"{c['workload']} {c['phase']}" + "".join(param_text(k, c[k]) for k in vary)
                if c["n"] > 0:
                    case += f" n={int(c['n'])}"
                before = f"{baseline} {fmt.num(c['base_mean'])} {unit}"
                after = f"{c['label']} {fmt.num(c['mean'])} {unit}"
                if c["exact"]:
                    change = f"{fmt.pct(c['ratio'])} exact"
                    tag = "sim, simulated"
                else:
                    change = f"{fmt.pct(c['ratio'])} {fmt.ci_pct(c['ci_lo'], c['ci_hi'])}"
                    tag = be
                if c["verdict"] not in (stats.VERDICT_BETTER, stats.VERDICT_WORSE):
                    tag += f", {c['verdict']}"
                rows.append((case, before, after, change, tag))
            w = [max(len(r[i]) for r in rows) for i in range(4)]
            out += [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}} -> {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}"
                    for r in rows] + [""]
    return out


HISTORY_TITLE = "What the kernel's history predicts, and what this run shows"


def history_blocks(facts: list) -> list:
    rows = [[f"({f.key})", f.prediction, f.numbers(), f.verdict] for f in facts]
    agree = sum(f.verdict == "agree" for f in facts)
    tested = sum(f.verdict != "missing" for f in facts)
    return [Heading(2, HISTORY_TITLE),
            Para("Facts from the kernel's pte_list history (2013 seed review, 2021 EXT 14 and "
                 "counter, 2023 head-only operations; reference/kernel-history.md), each tested "
                 "on this run's numbers. Totals are fork add + remove per spte at the largest n "
                 "both series share; scaling is the fork add fit (exponent over the larger n, "
                 "slope per extra spte). Each number names its backend: measured or simulated. "
                 f"{agree} of {tested} testable facts agree."),
            Table("kernel history against this run", ["fact", "prediction", "our numbers",
                                                      "verdict"], rows, fold=False)]


def summary_text(cmp: pd.DataFrame, baseline: str, points: pd.DataFrame | None = None,
                 facts: list | None = None) -> str:
    head = []
    if facts:
        head += [f"{HISTORY_TITLE}:"] + [f.line() for f in facts] + [""]
    head += [f"rmapbench summary: each series against {baseline}, per op; "
             "CI = 95% bootstrap interval of the ratio of means (measured); "
             "'exact' = deterministic simulated count (valgrind cache simulator)."]
    lines = summary_lines(cmp, baseline)
    if not lines:
        lines = [f"(no series other than {baseline} shares a case with it)"]
    return "\n".join(head + [""] + lines).rstrip("\n") + "\n"


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
    """plots/*.png, <stem>.md, summary.txt, CSVs, then <stem>.html last."""
    from bench.results import atomic_write

    for img in images(report.blocks):
        atomic_write(target / "plots" / f"{img.name}.png", img.png)
    atomic_write(target / f"{stem}.md", to_markdown(report.blocks, report.title))
    if report.summary:
        atomic_write(target / "summary.txt", report.summary)
    if report.comparisons is not None and not report.comparisons.empty:
        atomic_write(target / "comparisons.csv", report.comparisons.to_csv(index=False))
    if report.fits is not None and not report.fits.empty:
        atomic_write(target / "fits.csv", report.fits.to_csv(index=False))
    html_path = target / f"{stem}.html"
    atomic_write(html_path, to_html(report.blocks, report.title))
    return html_path


def write_report(run_dirs, out=None, baseline: str = BASELINE, *, check: list | None = None,
                 **kw) -> Path:
    """Load run directories, build the report and write it; returns report.html's path.
    Default output directory: the first run directory."""
    run_dirs = list(run_dirs)
    loaded = load_runs(run_dirs)
    report = build_report(loaded, baseline, check=check, **kw)
    target = resolve_out(run_dirs, out)
    return write_outputs(report, target)
