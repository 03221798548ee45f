"""perf-list event names -> perf_event_attr (type, config), and why an event
did not open.

Names follow `perf list`: hardware (`cycles`, `instructions`, ...), hw-cache
(`<cache>-<op>s` and `<cache>-<op>-misses`, e.g. `L1-dcache-load-misses`),
software (`task-clock`, `page-faults`, ...) and raw `rNNNN` (hex config,
PERF_TYPE_RAW).
"""

from __future__ import annotations

import errno as _errno
import os
import re
from pathlib import Path

from .errors import UsageError

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_HW_CACHE = 3
PERF_TYPE_RAW = 4

HARDWARE = {
    "cycles": 0, "cpu-cycles": 0,
    "instructions": 1,
    "cache-references": 2,
    "cache-misses": 3,
    "branches": 4, "branch-instructions": 4,
    "branch-misses": 5,
    "bus-cycles": 6,
    "stalled-cycles-frontend": 7,
    "stalled-cycles-backend": 8,
    "ref-cycles": 9,
}

SOFTWARE = {
    "cpu-clock": 0,
    "task-clock": 1,
    "page-faults": 2, "faults": 2,
    "context-switches": 3, "cs": 3,
    "cpu-migrations": 4, "migrations": 4,
    "minor-faults": 5,
    "major-faults": 6,
    "alignment-faults": 7,
    "emulation-faults": 8,
}

_CACHES = {"L1-dcache": 0, "L1-icache": 1, "LLC": 2, "dTLB": 3, "iTLB": 4,
           "branch": 5, "node": 6}
_OPS = {"load": 0, "store": 1, "prefetch": 2}
_PLURAL = {"load": "loads", "store": "stores", "prefetch": "prefetches"}


def _hw_cache_table() -> dict[str, int]:
    table = {}
    for cache, cid in _CACHES.items():
        for op, oid in _OPS.items():
            table[f"{cache}-{_PLURAL[op]}"] = cid | oid << 8 | 0 << 16
            table[f"{cache}-{op}-misses"] = cid | oid << 8 | 1 << 16
    return table


HW_CACHE = _hw_cache_table()

# DESIGN.md section 6
DEFAULT_EVENTS = ["cycles", "instructions", "L1-dcache-load-misses",
                  "LLC-load-misses", "dTLB-load-misses", "branch-misses"]
SOFTWARE_EVENTS = ["task-clock", "page-faults", "context-switches", "cpu-migrations"]

_RAW = re.compile(r"r([0-9a-fA-F]{1,16})")


def allowed_text() -> str:
    return ("hardware (" + ", ".join(n for n in HARDWARE) + "), hw-cache "
            "(<L1-dcache|L1-icache|LLC|dTLB|iTLB|branch|node>-<loads|load-misses|"
            "stores|store-misses|prefetches|prefetch-misses>), software ("
            + ", ".join(SOFTWARE) + "), or raw rNNNN (hex)")


def resolve(name: str) -> tuple[str, int, int]:
    """(name, perf type, config) for a perf-list name; UsageError otherwise."""
    if not isinstance(name, str):
        raise UsageError(f"bad event {name!r}: an event name is a string; allowed: "
                         + allowed_text())
    if name in HARDWARE:
        return name, PERF_TYPE_HARDWARE, HARDWARE[name]
    if name in SOFTWARE:
        return name, PERF_TYPE_SOFTWARE, SOFTWARE[name]
    if name in HW_CACHE:
        return name, PERF_TYPE_HW_CACHE, HW_CACHE[name]
    m = _RAW.fullmatch(name)
    if m:
        return name, PERF_TYPE_RAW, int(m.group(1), 16)
    raise UsageError(f"unknown event {name!r}: allowed are " + allowed_text())


def resolve_list(names) -> list[tuple[str, int, int]]:
    """Resolve a list of names, or one comma-separated string; no duplicates."""
    given = names
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    out, seen = [], set()
    for n in names:
        if n == "":
            raise UsageError(f"bad event list {given!r}: an empty event name; give names "
                             "separated by commas, allowed are " + allowed_text())
        ev = resolve(n)
        if ev[0] in seen:
            raise UsageError(f"event {n!r} given twice: give each event once")
        seen.add(ev[0])
        out.append(ev)
    return out


def unit(name: str) -> str:
    """The per-op unit of an event's rows (internals.md section 4)."""
    return "ns/op" if name in ("task-clock", "cpu-clock") else "events/op"


def is_hardware(type_: int) -> bool:
    return type_ in (PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW)


def perf_event_paranoid() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip())
    except (OSError, ValueError):
        return None


def errno_reason(err: int) -> str:
    """Why an event did not open: "ENAME: meaning" (internals.md section 2)."""
    name = _errno.errorcode.get(err, f"errno {err}")
    if err in (_errno.ENOENT, _errno.EOPNOTSUPP, _errno.ENODEV):
        return f"{name}: not supported by this host's PMU"
    if err in (_errno.EACCES, _errno.EPERM):
        p = perf_event_paranoid()
        shown = "unknown" if p is None else str(p)
        return (f"{name}: not permitted with kernel.perf_event_paranoid={shown}; "
                "fix: sysctl -w kernel.perf_event_paranoid=1, or run with CAP_PERFMON")
    return f"{name}: {os.strerror(err)}"
