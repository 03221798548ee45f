"""Per host: the hardware and its settings (meta.json), the backends that
produced the numbers, the simulated cache, the hardware events, multiplexing
and the tuning warnings."""

from __future__ import annotations

from .. import stats
from ..fmt import cpulist_text, parse_cpulist, size_text, text as _text, truthy as _truthy
from ..render import Bullets, Heading, Para, Table
from ..tables import metrics_of as _metrics
from . import Context

TITLE = "Host {host}: hardware and method"
HOST_KEYS = ["name", "cpu", "family", "model", "stepping", "microcode", "caches", "kernel",
             "governor", "turbo", "smt", "isolated_cpus", "perf_event_paranoid"]


def tuning_warnings(meta: dict, cpus: set[int]) -> list[str]:
    """Host settings that make hardware timings noisier, as the run recorded
    them (meta.json "tuning_warnings", bench/host.py; bench.meta migrates
    older files)."""
    return [_text(x) for x in meta.get("tuning_warnings") or []]


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


# a counter scheduled for less than this share of its enabled time is flagged
MUX_WARN_RATIO = 0.5


def host_blocks(loaded, host: str) -> list:
    df = loaded.df[loaded.df["host"] == host]
    metas = loaded.meta_for_host(host)
    meta = metas[0] if metas else {}
    hm = meta.get("host") or {}
    blocks: list = [Heading(2, TITLE.format(host=host))]
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



def blocks(ctx: Context) -> list:
    out = []
    for host in ctx.hosts:
        out += host_blocks(ctx.loaded, host)
    return out
