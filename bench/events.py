"""Event names -> the perf_event_attr the suite opens, and why an event
did not open.

Names, tried in this order (DESIGN.md section 6):
- perf's generic names (`perf list`): hardware (`cycles`, `instructions`,
  ...), hw-cache (`<cache>-<op>s` and `<cache>-<op>-misses`, e.g.
  `L1-dcache-load-misses`, only the cache/op pairs perf itself accepts) and
  software (`task-clock`, `page-faults`, ...);
- raw `rNNNN` (hex config, PERF_TYPE_RAW);
- `pmu/term=value,.../`: the PMU's type and its format fields from sysfs
  (/sys/bus/event_source/devices/<pmu>/{type,format/*,events/*}), as perf
  resolves them; `cpu/event=0xd1,umask=0x08/` needs the host's `cpu` PMU
  in sysfs, which a guest without a virtual PMU does not have;
- vendor names (`MEM_LOAD_RETIRED.L1_MISS`, AMD's
  `ls_dmnd_fills_from_sys.dram_io_far`) through libpfm4 (bench/pfm.py).

Every resolved event is an EventSpec: a (name, type, config) tuple that
also carries config1, config2, where it came from and why.  The exclude bits
and read_format are the C group's (native/counters.c); `rmapbench events`
prints the attr exactly as counters.c builds it.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import re
from pathlib import Path

from .errors import UsageError, read_user_bytes


class EventSpec(tuple):
    """(name, type, config), plus config1, config2, source and why.  A plain
    3-tuple where one is expected; equal to one with the same three fields."""

    def __new__(cls, name: str, type_: int, config: int, config1: int = 0, config2: int = 0,
                source: str = "", why: str = ""):
        self = super().__new__(cls, (name, type_, config))
        self.config1, self.config2, self.source, self.why = config1, config2, source, why
        return self

    def __reduce__(self):
        return (EventSpec, (*self, self.config1, self.config2, self.source, self.why))


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
    "stalled-cycles-frontend": 7, "idle-cycles-frontend": 7,
    "stalled-cycles-backend": 8, "idle-cycles-backend": 8,
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
    "dummy": 9,
    "bpf-output": 10,
    "cgroup-switches": 11,
}

_CACHES = {"L1-dcache": 0, "L1-icache": 1, "LLC": 2, "dTLB": 3, "iTLB": 4,
           "branch": 5, "node": 6}
_OPS = {"load": 0, "store": 1, "prefetch": 2}
_PLURAL = {"load": "loads", "store": "stores", "prefetch": "prefetches"}
# The cache/op pairs perf accepts by name (perf refuses e.g. L1-icache-stores,
# iTLB-prefetches and branch-stores as invalid combinations).
_VALID_OPS = {"L1-dcache": ("load", "store", "prefetch"), "L1-icache": ("load", "prefetch"),
              "LLC": ("load", "store", "prefetch"), "dTLB": ("load", "store", "prefetch"),
              "iTLB": ("load",), "branch": ("load",), "node": ("load", "store", "prefetch")}


def _hw_cache_table() -> dict[str, int]:
    """config = cache id | op << 8 | result << 16 (result 0 access, 1 miss)."""
    table = {}
    for cache, cid in _CACHES.items():
        for op in _VALID_OPS[cache]:
            oid = _OPS[op]
            table[f"{cache}-{_PLURAL[op]}"] = cid | oid << 8 | 0 << 16
            table[f"{cache}-{op}-misses"] = cid | oid << 8 | 1 << 16
    return table


HW_CACHE = _hw_cache_table()
HW_CACHE_INVALID = {f"{c}-{x}" for c in _CACHES for op in _OPS if op not in _VALID_OPS[c]
                    for x in (_PLURAL[op], f"{op}-misses")}

# software events counters.c reopens user-only when kernel counting is refused
# (their counts do not depend on it): cpu-clock, task-clock, the page faults;
# mirrors sw_user_countable() in native/counters.c
SW_USER_COUNTABLE = (0, 1, 2, 5, 6)

# DESIGN.md section 6
DEFAULT_EVENTS = ["cycles", "instructions", "L1-dcache-load-misses",
                  "LLC-load-misses", "dTLB-load-misses", "branch-misses"]
SOFTWARE_EVENTS = ["task-clock", "page-faults", "context-switches", "cpu-migrations"]

_RAW = re.compile(r"r([0-9a-fA-F]{1,16})")
_PMU = re.compile(r"([A-Za-z0-9_.\-]+)/([^/]*)/")
PMU_SYSFS = "/sys/bus/event_source/devices"


def allowed_text() -> str:
    return ("hardware (" + ", ".join(n for n in HARDWARE) + "), hw-cache "
            "(<L1-dcache|L1-icache|LLC|dTLB|iTLB|branch|node>-<loads|load-misses|"
            "stores|store-misses|prefetches|prefetch-misses>, the pairs perf accepts), "
            "software (" + ", ".join(SOFTWARE) + "), raw rNNNN (hex), "
            "pmu/term=value,.../ (a PMU in " + PMU_SYSFS + "), or a vendor event name "
            "libpfm4 knows (e.g. MEM_LOAD_RETIRED.L1_MISS)")


CONFIG_MAX = (1 << 64) - 1          # perf_event_attr.config, config1, config2: __u64
SYSFS_READ_MAX = 4096               # a PMU's sysfs file is one short line


def _num(text: str, what: str, limit: int = CONFIG_MAX) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        v = None
    if v is None or not 0 <= v <= limit:
        raise UsageError(f"bad value {text!r} for {what}: a number (decimal or 0x hex) from "
                         f"0 to {limit:#x} is allowed") from None
    return v


def _sysfs_text(path: Path) -> str:
    """One of a PMU's sysfs files: a regular file of at most SYSFS_READ_MAX
    bytes of ASCII (a FIFO or /dev/zero in its place would block or never
    end: bench.errors.read_user_bytes refuses them before reading)."""
    data = read_user_bytes(path, "PMU sysfs file", SYSFS_READ_MAX)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not ASCII text: a PMU sysfs file holds one line of "
                         "ASCII") from None


def _format_bits(spec: str, where: str) -> tuple[str, list[int]]:
    """A sysfs format file ('config:0-7,32-35') -> ('config', [bit numbers, low first]):
    bits 0-63 of one 64-bit field, each at most once."""
    field, _, ranges = spec.strip().partition(":")
    if field not in ("config", "config1", "config2") or not ranges:
        raise UsageError(f"{where}: format {spec.strip()!r} not understood "
                         "(config, config1 or config2 with bit ranges is allowed)")
    bits: list[int] = []
    try:
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            lo_i, hi_i = int(lo), int(hi or lo)
            if not 0 <= lo_i <= hi_i <= 63:
                raise ValueError
            bits += list(range(lo_i, hi_i + 1))
    except ValueError:
        raise UsageError(f"{where}: format {spec.strip()!r} not understood (bit ranges "
                         "within 0-63, low-high, like 0-7,32-35 are allowed)") from None
    if len(set(bits)) != len(bits):
        raise UsageError(f"{where}: format {spec.strip()!r} names a bit twice: disjoint "
                         "bit ranges are allowed")
    return field, bits


def resolve_pmu(name: str, sysfs: str | None = None) -> EventSpec:
    """pmu/term=value,.../ resolved from the PMU's sysfs directory as perf does:
    type from `type`, each term placed by its `format/<term>` file (a term
    without a value is 1), `config=`, `config1=`, `config2=` taken whole,
    and a term that names an `events/<alias>` file expands to its terms."""
    m = _PMU.fullmatch(name)
    pmu, terms = m.group(1), m.group(2)
    root = Path(sysfs or os.environ.get("RMAPBENCH_PMU_SYSFS") or PMU_SYSFS)
    d = root / pmu
    if not (d / "type").is_file():
        have = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise UsageError(f"event {name!r}: no PMU {pmu!r} in {root} (this host has: "
                         f"{', '.join(have) or 'none'}); allowed are those PMUs"
                         + ("; the cpu PMU is missing in a guest without a virtual PMU"
                            if pmu == "cpu" else ""))
    type_text = _sysfs_text(d / "type").strip()
    if not type_text.isdigit() or not type_text.isascii() or int(type_text) >= 1 << 32:
        raise UsageError(f"{d / 'type'}: {type_text[:40]!r} is not a PMU type: an integer "
                         "from 0 to 2^32-1 is allowed")
    type_ = int(type_text)
    cfg = {"config": 0, "config1": 0, "config2": 0}
    formats = {}
    if (d / "format").is_dir():
        for f in (d / "format").iterdir():
            formats[f.name] = _format_bits(_sysfs_text(f), f"{d}/format/{f.name}")
    used = []

    def put(term: str, value: int):
        if term in cfg:
            cfg[term] = value
            used.append(f"{term}={value:#x}")
            return
        if term not in formats:
            raise UsageError(f"event {name!r}: unknown term {term!r} for PMU {pmu!r}; allowed "
                             f"are {', '.join(sorted(formats) + list(cfg))}")
        field, bits = formats[term]
        if value >> len(bits):
            raise UsageError(f"event {name!r}: {term}={value:#x} does not fit its "
                             f"{len(bits)} bits ({field}:{bits[0]}-{bits[-1]})")
        for i, b in enumerate(bits):
            if value >> i & 1:
                cfg[field] |= 1 << b
        used.append(f"{term}={value:#x} -> {field} bits {_bits_text(bits)}")

    def apply(text: str, depth: int = 0):
        parts = [t.strip() for t in text.strip().split(",")]
        if depth == 0 and "" in parts and parts != [""]:
            raise UsageError(f"event {name!r}: an empty term; give term=value "
                             "(or a flag term) separated by single commas")
        for t in [t for t in parts if t]:
            key, eq, val = t.partition("=")
            key = key.strip()
            if not eq and key not in formats and (d / "events" / key).is_file() and depth == 0:
                alias = _sysfs_text(d / "events" / key)
                used.append(f"alias {key} = {alias.strip()}")
                apply(alias, depth + 1)
                continue
            put(key, _num(val.strip(), f"{pmu}/{key}") if eq else 1)

    apply(terms)
    return EventSpec(name, type_, cfg["config"], cfg["config1"], cfg["config2"], source="pmu",
                     why=f"PMU {pmu} type {type_} from {d}/type; " + "; ".join(used))


def _bits_text(bits: list[int]) -> str:
    out, start = [], bits[0]
    for a, b in zip(bits, bits[1:] + [None]):
        if b != a + 1:
            out.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ",".join(out)


# AMD's names (the PPR mnemonics as perf writes them) -> libpfm4's names for
# the same counters.  libpfm4 spells some unit masks differently per model
# (Zen 3: MEM_IO_RMT, Zen 4: DRAM_IO_FAR for the same bit 6), so each AMD
# unit mask lists the spellings to try.
_FILL_UMASKS = {"local_l2": ("LCL_L2",), "local_ccx": ("LOCAL_CCX", "INT_CACHE"),
                "near_cache": ("NEAR_CACHE_NEAR_FAR", "EXT_CACHE_LCL"),
                "dram_io_near": ("DRAM_IO_NEAR", "MEM_IO_LCL"),
                "far_cache": ("FAR_CACHE_NEAR_FAR", "EXT_CACHE_RMT"),
                "dram_io_far": ("DRAM_IO_FAR", "MEM_IO_RMT"), "alt_mem": ("ALT_MEM_NEAR_FAR",)}
_TLB_UMASKS = {n.lower(): (n,) for n in (
    "TLB_RELOAD_4K_L2_HIT", "TLB_RELOAD_COALESCED_PAGE_HIT", "TLB_RELOAD_2M_L2_HIT",
    "TLB_RELOAD_1G_L2_HIT", "TLB_RELOAD_4K_L2_MISS", "TLB_RELOAD_COALESCED_PAGE_MISS",
    "TLB_RELOAD_2M_L2_MISS", "TLB_RELOAD_1G_L2_MISS")}
AMD_NAMES = {
    "ls_dmnd_fills_from_sys": ("DEMAND_DATA_CACHE_FILLS_FROM_SYSTEM", _FILL_UMASKS),
    "ls_any_fills_from_sys": ("ANY_DATA_CACHE_FILLS_FROM_SYSTEM", _FILL_UMASKS),
    "ls_l1_d_tlb_miss": ("L1_DTLB_MISS", _TLB_UMASKS),
}


def _libpfm_names(name: str) -> list[str]:
    """The names to ask libpfm4 for: the name itself, or for AMD's lower-case
    names libpfm4's own spellings (`.all` of the TLB event = every unit mask)."""
    ev, _, um = name.partition(".")
    if ev not in AMD_NAMES:
        return [name]
    pfm_ev, umasks = AMD_NAMES[ev]
    if not um:
        return [pfm_ev]
    if um == "all" and umasks is _TLB_UMASKS:
        return [pfm_ev + ":" + ":".join(v[0] for v in umasks.values())]
    if um in umasks:
        return [f"{pfm_ev}:{u}" for u in umasks[um]]
    return [name]


def resolve_libpfm(name: str) -> EventSpec:
    from . import pfm

    if not pfm.available():
        raise UsageError(f"unknown event {name!r}: not a perf name, and vendor names need "
                         "libpfm4 (Debian package libpfm4), which is not installed; allowed "
                         "are " + allowed_text())
    errs = []
    for n in _libpfm_names(name):
        try:
            e = pfm.encode(n)
        except pfm.PfmError as err:
            errs.append(str(err))
            continue
        forced = os.environ.get("LIBPFM_FORCE_PMU")
        model = (f"PMU model {e['pmu']} forced by LIBPFM_FORCE_PMU" if forced else
                 f"PMU model {e['pmu']} (libpfm4's choice from this CPU's CPUID)")
        return EventSpec(name, e["type"], e["config"], e["config1"], e["config2"],
                         source="libpfm4",
                         why=f"libpfm4 {pfm.version()}, {model}: {e['fstr']}")
    raise UsageError(f"unknown event {name!r}: {errs[-1]}; allowed are " + allowed_text())


_VENDOR = re.compile(r"[A-Za-z][A-Za-z0-9_]*([.:][A-Za-z0-9_=]+)*")


def resolve(name: str) -> EventSpec:
    """The EventSpec of one event name; UsageError (one line) otherwise."""
    if not isinstance(name, str):
        raise UsageError(f"bad event {name!r}: an event name is a string; allowed: "
                         + allowed_text())
    if name in HARDWARE:
        return EventSpec(name, PERF_TYPE_HARDWARE, HARDWARE[name], source="hardware",
                         why=f"perf generic hardware event, PERF_TYPE_HARDWARE id {HARDWARE[name]}")
    if name in SOFTWARE:
        return EventSpec(name, PERF_TYPE_SOFTWARE, SOFTWARE[name], source="software",
                         why=f"perf software event, PERF_TYPE_SOFTWARE id {SOFTWARE[name]}")
    if name in HW_CACHE:
        c = HW_CACHE[name]
        return EventSpec(name, PERF_TYPE_HW_CACHE, c, source="hw-cache",
                         why=f"perf generic cache event: cache {c & 0xff} | op {c >> 8 & 0xff}"
                             f" << 8 | result {c >> 16 & 0xff} << 16")
    if name in HW_CACHE_INVALID:
        raise UsageError(f"event {name!r}: perf has no such cache/op pair (invalid "
                         "combination); allowed are " + allowed_text())
    m = _RAW.fullmatch(name)
    if m:
        return EventSpec(name, PERF_TYPE_RAW, int(m.group(1), 16), source="raw",
                         why="raw event: config is the hex after 'r', PERF_TYPE_RAW")
    if _PMU.fullmatch(name):
        return resolve_pmu(name)
    if _VENDOR.fullmatch(name):
        return resolve_libpfm(name)
    raise UsageError(f"unknown event {name!r}: allowed are " + allowed_text())


def split_events(text: str) -> list[str]:
    """A comma-separated event list, as perf splits it: a comma between the
    slashes of pmu/term=..,term=../ separates terms, not events."""
    out, cur, inside = [], "", False
    for ch in text:
        if ch == "/":
            inside = not inside
        if ch == "," and not inside:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def resolve_list(names) -> list[tuple[str, int, int]]:
    """Resolve a list of names, or one comma-separated string; no duplicates."""
    given = names
    if isinstance(names, str):
        names = split_events(names)
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


# -- the attr the suite opens, and `rmapbench events` --------------------------

READ_FORMAT_BITS = {"TOTAL_TIME_ENABLED": 1, "TOTAL_TIME_RUNNING": 2, "ID": 4, "GROUP": 8}
EXCLUDE_BITS = ("exclude_user", "exclude_kernel", "exclude_hv", "exclude_idle",
                "exclude_host", "exclude_guest")
ATTR_FIELDS = ("type", "config", "config1", "config2", *EXCLUDE_BITS, "read_format")


def read_format_text(v: int) -> str:
    """perf's spelling of a read_format value (its -vv order)."""
    return "|".join(k for k, b in READ_FORMAT_BITS.items() if v & b) or "0"


def opened_attr(spec: EventSpec, leader: bool = True, user_only: bool | None = None) -> dict:
    """The perf_event_attr fields counters.c opens for spec, built by
    counters.c itself (rb_counters_fill_attr).  user_only None: the C group's
    first choice (hardware user only; software user and kernel)."""
    import ctypes

    from .native import _measure_lib, load
    from .pfm import ATTR_BITS, PerfEventAttr
    from .variants import builtin_names, default_ext

    first = builtin_names()[0]
    lib = _measure_lib(load(first, default_ext(first)))
    if user_only is None:
        user_only = spec[1] != PERF_TYPE_SOFTWARE
    attr = PerfEventAttr()
    assert lib.rb_counters_sizeof_attr() <= ctypes.sizeof(attr)
    lib.rb_counters_fill_attr(ctypes.byref(attr), spec[1], spec[2],
                              getattr(spec, "config1", 0), getattr(spec, "config2", 0),
                              int(leader), int(user_only))
    out = {"type": attr.type, "config": attr.config, "config1": attr.config1,
           "config2": attr.config2}
    for b in EXCLUDE_BITS:
        out[b] = attr.flags >> ATTR_BITS[b] & 1
    out["read_format"] = read_format_text(attr.read_format)
    out["size"] = attr.size
    return out


def describe(name: str) -> dict:
    """What `rmapbench events` prints for one name."""
    spec = resolve(name)
    sw = spec[1] == PERF_TYPE_SOFTWARE
    attr = opened_attr(spec)
    why = [spec.why]
    if sw:
        why.append("software event: counted in user and kernel (exclude_kernel 0), as "
                   "`perf stat -e NAME`; where perf_event_paranoid refuses that, task-clock, "
                   "cpu-clock and the page faults are reopened user-only (exclude_kernel and "
                   "exclude_hv 1), the others are reported unsupported")
    else:
        why.append("hardware event: user space only (exclude_kernel, exclude_hv 1), as "
                   "`perf stat -e NAME:u`: the measured code is user space and "
                   "perf_event_paranoid=2 allows nothing else unprivileged")
    why.append("exclude_guest 1 as perf's default; read_format: one group read gives every "
               "value with its id and the group's time enabled and running (multiplexing "
               "scale)")
    return {"name": name, "source": spec.source, "attr": attr,
            "user_only_fallback": opened_attr(spec, user_only=True)
            if sw and spec[2] in SW_USER_COUNTABLE else None,
            "why": why}


def _hex(d: dict) -> dict:
    return {k: (f"{v:#x}" if k.startswith("config") else v) for k, v in d.items()}


def cmd_events(args) -> int:
    names = DEFAULT_EVENTS + SOFTWARE_EVENTS if not args.names else \
        [n for a in args.names for n in split_events(a)]
    resolve_list(names)                 # bad names: one line, nothing printed before
    out = [describe(n) for n in names]
    if args.json:
        for d in out:
            d["attr"] = _hex(d["attr"])
            if d["user_only_fallback"]:
                d["user_only_fallback"] = _hex(d["user_only_fallback"])
        print(json.dumps(out, indent=2))
        return 0
    for d in out:
        a = d["attr"]
        excl = " ".join(f"{b}={a[b]}" for b in EXCLUDE_BITS)
        print(f"{d['name']}  [{d['source']}]")
        print(f"  type {a['type']}  config {a['config']:#x}  config1 {a['config1']:#x}  "
              f"config2 {a['config2']:#x}")
        print(f"  {excl}")
        print(f"  read_format {a['read_format']}")
        for w in d["why"]:
            print(f"  why: {w}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("events", help="the perf_event_attr each event is opened with, and why")
    p.add_argument("--json", action="store_true", help="print JSON instead")
    p.add_argument("names", nargs="*", metavar="EVENT[,EVENT...]",
                   help="events (default: the default and software sets)")
    p.set_defaults(func=cmd_events)
