"""Probe the host: CPU, caches, kernel, tuning state, perf permissions.

Facts come from py-cpuinfo (brand, family/model/stepping) and sysfs/procfs
(cache geometry of one CPU, microcode, governor, turbo, SMT, isolated CPUs,
perf_event_paranoid).  Nothing here changes the system.  A fact that cannot be
read is recorded as None, never guessed.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
from pathlib import Path

SYS_CPU = Path("/sys/devices/system/cpu")


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def parse_size(text: str | None) -> int | None:
    """sysfs cache sizes: '48K', '2048K', '32M' -> bytes."""
    if not text:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def cache_levels(cpu: int = 0) -> list[dict]:
    """Every cache of one CPU as sysfs describes it, smallest level first."""
    out = []
    base = SYS_CPU / f"cpu{cpu}" / "cache"
    for idx in sorted(base.glob("index*")):
        level = _read(idx / "level")
        if level is None:
            continue
        out.append({
            "level": int(level),
            "type": _read(idx / "type"),
            "size": parse_size(_read(idx / "size")),
            "assoc": int(_read(idx / "ways_of_associativity") or 0) or None,
            "line": int(_read(idx / "coherency_line_size") or 0) or None,
            "sets": int(_read(idx / "number_of_sets") or 0) or None,
            "shared_cpus": _read(idx / "shared_cpu_list"),
        })
    return sorted(out, key=lambda c: (c["level"], c["type"] or ""))


def cache_sizes(cpu: int = 0) -> dict[str, int]:
    """{'L1d', 'L1i', 'L2', 'L3'?, 'LLC'} in bytes, per instance (not summed)."""
    sizes: dict[str, int] = {}
    for c in cache_levels(cpu):
        if c["size"] is None:
            continue
        if c["level"] == 1:
            sizes["L1i" if c["type"] == "Instruction" else "L1d"] = c["size"]
        else:
            sizes[f"L{c['level']}"] = c["size"]
    levels = [k for k in sizes if k.startswith("L") and k[1:].isdigit()]
    if levels:
        sizes["LLC"] = sizes[max(levels, key=lambda k: int(k[1:]))]
    return sizes


def parse_cpu_list(text: str | None) -> list[int]:
    """'0-2,5' -> [0, 1, 2, 5]"""
    cpus: list[int] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-")
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


def isolated_cpus() -> list[int]:
    return parse_cpu_list(_read(SYS_CPU / "isolated"))


def online_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def default_cpu() -> int:
    """An isolated CPU we may run on if the host has one, else the highest-numbered."""
    allowed = online_cpus()
    iso = [c for c in isolated_cpus() if c in allowed]
    return iso[0] if iso else allowed[-1]


def perf_event_paranoid() -> int | None:
    v = _read("/proc/sys/kernel/perf_event_paranoid")
    return int(v) if v is not None else None


def _microcode() -> str | None:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("microcode"):
            return line.split(":", 1)[1].strip()
    return None


def _turbo() -> str | None:
    no_turbo = _read(SYS_CPU / "intel_pstate" / "no_turbo")
    if no_turbo is not None:
        return "off" if no_turbo == "1" else "on"
    boost = _read(SYS_CPU / "cpufreq" / "boost")
    if boost is not None:
        return "on" if boost == "1" else "off"
    return None


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict:
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    return {k: info.get(k) for k in ("brand_raw", "vendor_id_raw", "family", "model",
                                     "stepping", "hz_advertised_friendly", "arch")}


def probe(cpu: int | None = None) -> dict:
    """Everything a report needs to say where its numbers came from."""
    cpu = default_cpu() if cpu is None else cpu
    ci = _cpuinfo()
    governor = _read(SYS_CPU / f"cpu{cpu}" / "cpufreq" / "scaling_governor")
    smt = _read(SYS_CPU / "smt" / "active")
    hypervisor = "hypervisor" in (_read("/proc/cpuinfo") or "").split("flags", 1)[-1][:4000]
    return {
        "name": socket.gethostname(),
        "cpu": ci.get("brand_raw"),
        "vendor": ci.get("vendor_id_raw"),
        "family": ci.get("family"),
        "model": ci.get("model"),
        "stepping": ci.get("stepping"),
        "microcode": _microcode(),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "caches": cache_sizes(cpu),
        "cache_levels": cache_levels(cpu),
        "online_cpus": online_cpus(),
        "isolated_cpus": isolated_cpus(),
        "governor": governor,
        "turbo": _turbo(),
        "smt": None if smt is None else smt == "1",
        "virtualized": hypervisor,
        "perf_event_paranoid": perf_event_paranoid(),
    }


def tuning_warnings(host: dict, cpu: int) -> list[str]:
    """What a careful benchmarker would fix before trusting timings."""
    warn = []
    if cpu not in host.get("isolated_cpus", []):
        warn.append(f"CPU {cpu} is not isolated (isolcpus=): timings share it with the rest of the system")
    if host.get("governor") not in (None, "performance"):
        warn.append(f"cpufreq governor is {host['governor']!r}, not 'performance'")
    if host.get("governor") is None:
        warn.append("no cpufreq control visible: frequency is set by the hypervisor or firmware")
    if host.get("turbo") == "on":
        warn.append("turbo boost is on: clock rate varies with load and temperature")
    if host.get("smt"):
        warn.append("SMT is active: a sibling thread can share the measured core")
    if host.get("virtualized"):
        warn.append("this host is a virtual machine: timings include hypervisor noise")
    return warn
