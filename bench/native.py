"""Load a kernel library with ctypes and give it a Python face.

Only trace, tests and check call through here op by op; measured loops run
inside C (one crossing per timing value).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from . import isolate
from .build import build_library, build_source
from .errors import UsageError

# The interface version this package speaks (RB_IFACE_VERSION, native/iface.h).
IFACE_VERSION = 4
RMAP_STATUS = {0: None, 1: "WARN", 2: "BUG"}
WALK_KINDS = ("fwd-null", "fwd-count", "rev-count")    # enum pte_list_walk_kind
HEAD_LOCK = 1                                           # PTE_LIST_HEAD_LOCK
NAME_TABLES = ("workload", "phase", "order", "alloc")  # rb_iface_name() tables

_u64 = ctypes.c_ulonglong
_ul = ctypes.c_ulong


class _Closing:
    """A handle on a C object: close() frees it; with-blocks and the garbage
    collector close it too."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


@dataclass(frozen=True)
class Field:
    off: int        # -1: none
    size: int


@dataclass(frozen=True)
class Layout:
    """What the variant declares with PTE_LIST_DECLARE (native/rmap.h)."""
    ext: int
    desc_size: int
    sptes: Field
    more: Field
    count: Field
    tail: Field
    walk: str               # one of WALK_KINDS
    head_lock: bool         # bit 1 of the head is a lock walkers take

    def as_dict(self) -> dict:
        f = lambda x: None if x.off < 0 else {"offset": x.off, "size": x.size}  # noqa: E731
        return {"ext": self.ext, "desc_size": self.desc_size, "sptes": f(self.sptes),
                "more": f(self.more), "count": f(self.count), "tail": f(self.tail),
                "walk": self.walk, "head_lock": self.head_lock}


def _open(path: Path, what: str):
    """Load a library and check that it speaks our interface: one line if not."""
    lib = ctypes.CDLL(str(path), use_errno=True)
    try:
        fn = lib.rb_iface_version
    except AttributeError:
        raise UsageError(f"library {str(path)!r} of {what} exports no interface version: "
                         f"version {IFACE_VERSION} is needed; rebuild it from this tree") from None
    fn.restype, fn.argtypes = ctypes.c_int, []
    v = fn()
    if v != IFACE_VERSION:
        raise UsageError(f"library {str(path)!r} of {what} has interface version {v}: "
                         f"this rmapbench knows version {IFACE_VERSION} only")
    return lib


def _read_layout(lib, what: str) -> Layout:
    lib.rb_layout.restype = ctypes.c_int
    lib.rb_layout.argtypes = [ctypes.POINTER(ctypes.c_long), ctypes.c_int]
    buf = (ctypes.c_long * 16)()
    n = lib.rb_layout(buf, 16)
    if n != 12:
        raise UsageError(f"{what}: rb_layout() gave {n} words: 12 expected")
    w = list(buf[:n])
    lay = Layout(ext=w[0], desc_size=w[1], sptes=Field(w[2], w[3]), more=Field(w[4], w[5]),
                 count=Field(w[6], w[7]), tail=Field(w[8], w[9]),
                 walk=WALK_KINDS[w[10]] if 0 <= w[10] < len(WALK_KINDS) else str(w[10]),
                 head_lock=bool(w[11] & HEAD_LOCK))
    bad = None
    if lay.walk not in WALK_KINDS:
        bad = f"walk kind {w[10]}: allowed are 0..{len(WALK_KINDS) - 1} (PTE_LIST_WALK_*)"
    elif w[11] & ~HEAD_LOCK:
        bad = f"flags {w[11]:#x}: allowed are 0 and PTE_LIST_HEAD_LOCK"
    elif lay.sptes.size != 8 * lay.ext or lay.more.size != 8:
        bad = "sptes must be u64 *sptes[PTE_LIST_EXT] and more a pointer"
    elif lay.count.off >= 0 and lay.count.size not in (4, 8):
        bad = f"count of {lay.count.size} bytes: 4 or 8 are allowed"
    elif lay.tail.off >= 0 and lay.tail.size not in (4, 8):
        bad = f"tail count of {lay.tail.size} bytes: 4 or 8 are allowed"
    elif lay.walk != "fwd-null" and lay.count.off < 0:
        bad = f"walk {lay.walk} needs a count: declare PTE_LIST_FIELD(<count member>)"
    if bad:
        raise UsageError(f"{what}: PTE_LIST_DECLARE does not hold: {bad}")
    return lay


def name_tables(lib) -> dict[str, dict[str, int]]:
    """The C name tables: {"workload": {"fork": 0, ...}, "phase": ..., ...}."""
    lib.rb_iface_name.restype = ctypes.c_char_p
    lib.rb_iface_name.argtypes = [ctypes.c_int, ctypes.c_int]
    out: dict[str, dict[str, int]] = {}
    for t, table in enumerate(NAME_TABLES):
        ids, i = {}, 0
        while (nm := lib.rb_iface_name(t, i)) is not None:
            ids[nm.decode()] = i
            i += 1
        out[table] = ids
    return out


def declared_name(path: Path, ext: int, cflags: str | None = None) -> str | None:
    """The name a variant file declares (None: it declares NULL).  The
    library is a user's: it is loaded in a child process (bench.isolate)."""
    from .errors import shown_path

    art = build_source(path, ext, cflags)
    what = f"variant file {shown_path(path)}"

    def read() -> str | None:
        lib = _open(art.path, what)
        _read_layout(lib, what)
        lib.rb_variant.restype = ctypes.c_char_p
        name = lib.rb_variant()
        return name.decode("utf-8", "replace") if name else None

    return isolate.call(read, label=what, timeout=isolate.LOAD_S,
                        describe=lambda i, text: "while its library was "
                        "loaded and its declaration read",
                        allowed="a variant whose library loads is allowed (docs/variants.md)")


def trusted(variant: str) -> bool:
    """A built-in: its C code runs in this process.  A user's variant file
    (or an imported one) runs its native work in a child (bench.isolate)."""
    from .variants import VARIANTS
    v = VARIANTS.get(variant)
    return v is not None and not v.user


class Kernel:
    """One compiled variant at one EXT."""

    def __init__(self, variant: str, ext: int, cflags: str | None = None,
                 check_stores: bool = False):
        self.artifact = build_library(variant, ext, cflags, check_stores)
        self.check_stores = check_stores
        lib = _open(self.artifact.path, f"variant {variant!r}")
        sig = {
            "rb_variant": (ctypes.c_char_p, []),
            "rb_ext": (ctypes.c_int, []),
            "rb_desc_size": (_ul, []),
            "rb_ctx_new": (ctypes.c_void_p, [ctypes.c_int, _ul, _ul, _u64]),
            "rb_ctx_free": (None, [ctypes.c_void_p]),
            "rb_add": (ctypes.c_int, [ctypes.c_void_p, _ul, _u64]),
            "rb_remove": (ctypes.c_int, [ctypes.c_void_p, _ul, _u64]),
            "rb_walk": (ctypes.c_int, [ctypes.c_void_p, _ul, ctypes.POINTER(_u64), ctypes.c_int]),
            "rb_count": (ctypes.c_uint, [ctypes.c_void_p, _ul]),
            "rb_head_val": (_ul, [ctypes.c_void_p, _ul]),
            "rb_dump": (ctypes.c_int, [ctypes.c_void_p, _ul, ctypes.POINTER(_ul), ctypes.c_int]),
            "rb_live_descs": (ctypes.c_long, [ctypes.c_void_p]),
            "rb_peak_descs": (ctypes.c_long, [ctypes.c_void_p]),
            "rb_iface_name": (ctypes.c_char_p, [ctypes.c_int, ctypes.c_int]),
            "rb_sizeof_phase_result": (_ul, []),
            "rb_max_events": (ctypes.c_int, []),
            "rb_state_apply": (ctypes.c_long, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_longlong),
                                               ctypes.c_long, ctypes.c_int, _u64,
                                               ctypes.POINTER(ctypes.c_longlong), ctypes.c_long]),
            "rb_state_apply_stop": (ctypes.c_long, [ctypes.c_void_p,
                                                    ctypes.POINTER(ctypes.c_longlong),
                                                    ctypes.c_long, ctypes.c_int, _u64, ctypes.c_long,
                                                    ctypes.POINTER(ctypes.c_longlong), ctypes.c_long,
                                                    ctypes.POINTER(ctypes.c_longlong)]),
        }
        for name, (res, args) in sig.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        self.lib = lib
        self.variant = variant
        self.ext = lib.rb_ext()
        self.desc_size = lib.rb_desc_size()
        self.layout = _read_layout(lib, f"variant {variant!r}")
        self.ids = name_tables(lib)
        if lib.rb_sizeof_phase_result() != ctypes.sizeof(_CPhaseResult) or \
                lib.rb_max_events() != MAX_EVENTS:
            raise UsageError(
                f"library {str(self.artifact.path)!r}: struct rb_phase_result is "
                f"{lib.rb_sizeof_phase_result()} bytes with {lib.rb_max_events()} events, "
                f"Python mirrors {ctypes.sizeof(_CPhaseResult)} bytes with {MAX_EVENTS}: "
                "rebuild from this tree")


@functools.lru_cache(maxsize=None)
def load(variant: str, ext: int, cflags: str | None = None,
         check_stores: bool = False) -> Kernel:
    """check_stores: check's build, where every RMAP_STORE() of the variant
    calls the store hook (native/rmap.h, api.c); benchmarks never load it."""
    return Kernel(variant, ext, cflags, check_stores)


class Rmap(_Closing):
    """A set of rmap heads over one kernel, addressed by head index, with
    sptes given as ids >= 1 (stored as the aligned pointer value id << 3)."""

    # the methods that call into the variant's code
    NATIVE_CALLS = ("add", "remove", "walk", "count", "layout", "live_descs", "state_apply",
                    "state_apply_stop")

    def __init__(self, kernel: Kernel, nheads: int, alloc: str = "slab",
                 expected: int = 0, seed: int = 0):
        self.k = kernel
        self.nheads = nheads
        new = kernel.lib.rb_ctx_new
        if isolate.ACTIVE:
            # a user's variant in a child (bench.isolate): each call is marked
            # for the watchdog that stops one that does not return; the
            # suite's own variants, in-process, call the plain methods
            new = isolate.guarded(new)
            for name in self.NATIVE_CALLS:
                setattr(self, name, isolate.guarded(getattr(self, name)))
        self.ctx = new(kernel.ids["alloc"][alloc], nheads, expected, seed)
        if not self.ctx:
            raise MemoryError("rb_ctx_new failed")

    def close(self) -> None:
        if self.ctx:
            self.k.lib.rb_ctx_free(self.ctx)
            self.ctx = None

    def add(self, head: int, spte: int) -> int:
        return self.k.lib.rb_add(self.ctx, head, spte << 3)

    def remove(self, head: int, spte: int) -> str | None:
        return RMAP_STATUS[self.k.lib.rb_remove(self.ctx, head, spte << 3)]

    def walk(self, head: int) -> list[int]:
        cap = 64
        while True:
            buf = (_u64 * cap)()
            n = self.k.lib.rb_walk(self.ctx, head, buf, cap)
            if n <= cap:
                return [buf[i] >> 3 for i in range(n)]
            cap = n

    def count(self, head: int) -> int:
        return self.k.lib.rb_count(self.ctx, head)

    def layout(self, head: int) -> dict:
        """The head's slot-exact layout in the form `trace` prints."""
        val = self.k.lib.rb_head_val(self.ctx, head)
        if val == 0:
            return {"head": head, "form": "empty", "descs": []}
        if not val & 1:
            return {"head": head, "form": "single", "single": val >> 3, "descs": []}
        cap = 1 + self.k.ext * 8
        while True:
            buf = (_ul * cap)()
            w = self.k.lib.rb_dump(self.ctx, head, buf, cap)
            if w >= 0:
                break
            cap *= 4
        ext = self.k.ext
        descs = []
        for d in range(buf[0]):
            slots = buf[1 + d * ext: 1 + (d + 1) * ext]
            descs.append([s >> 3 if s else None for s in slots])
        return {"head": head, "form": "many", "descs": descs}

    def live_descs(self) -> int:
        return self.k.lib.rb_live_descs(self.ctx)

    def state_apply(self, state: list[int], op: str, spte: int) -> tuple[int, list[int]]:
        """rb_state_apply() on head 0 (an Rmap made with alloc="track"): the
        op's return value and the flat state after it (native/api.c)."""
        n = len(state)
        cap = n + 8 * (4 + self.k.ext) + 8
        inp = (ctypes.c_longlong * n)(*state)
        out = (ctypes.c_longlong * cap)()
        w = self.k.lib.rb_state_apply(self.ctx, inp, n, 0 if op == "add" else 1, spte, out, cap)
        if w < 0:
            raise RuntimeError(f"{self.k.variant}: rb_state_apply {op}: {os.strerror(-w)}")
        return out[0], out[1:w]

    STORE_WORDS = ("head", "slot", "more", "count", "tail", "other")

    def state_apply_stop(self, state: list[int], op: str, spte: int,
                         stop_at: int) -> tuple[int, list[int], dict]:
        """rb_state_apply_stop(): as state_apply(), with the op stopped right
        after its stop_at-th RMAP_STORE() (a kernel loaded with check_stores);
        the third value says how many stores it made, whether it was
        stopped, whether the head is locked, and where the stopping store
        went and what it stored."""
        n = len(state)
        cap = n + 8 * (4 + self.k.ext) + 8
        inp = (ctypes.c_longlong * n)(*state)
        out = (ctypes.c_longlong * cap)()
        info = (ctypes.c_longlong * 8)()
        w = self.k.lib.rb_state_apply_stop(self.ctx, inp, n, 0 if op == "add" else 1, spte,
                                           stop_at, out, cap, info)
        if w < 0:
            raise RuntimeError(f"{self.k.variant}: rb_state_apply_stop {op}: {os.strerror(-w)}")
        where = self.STORE_WORDS[info[3]] if 0 <= info[3] < len(self.STORE_WORDS) else "other"
        return out[0], out[1:w], {"stores": info[0], "stopped": bool(info[1]),
                                  "locked": bool(info[2]), "word": where, "desc": info[4],
                                  "slot": info[5], "value": info[6], "value_desc": info[7]}


# -- measured runs (internals.md section 2) -----------------------------------

MAX_EVENTS = 32  # RB_MAX_EVENTS in native/counters.h; the library's is checked on load

_HIST_NAME = "rmap_count_histogram_6G_guest.csv"
# the copy shipped with the package, then the shared reference beside the project
_HIST_PLACES = (Path(__file__).resolve().parent / "data" / _HIST_NAME,
                Path(__file__).resolve().parents[2] / "shared" / "reference" / _HIST_NAME)


class _CPhaseResult(ctypes.Structure):
    _fields_ = [("ns", _u64), ("ops", _u64), ("loops", _u64), ("footprint", _u64),
                ("peak_descs", ctypes.c_longlong), ("bad", ctypes.c_longlong),
                ("live_after", ctypes.c_longlong), ("time_enabled", _u64),
                ("time_running", _u64), ("nvalues", ctypes.c_int),
                ("counters_ok", ctypes.c_int), ("values", _u64 * MAX_EVENTS),
                ("cpu_ns", _u64), ("nivcsw", ctypes.c_longlong), ("nvcsw", ctypes.c_longlong),
                ("minflt", ctypes.c_longlong), ("majflt", ctypes.c_longlong),
                ("migrations", ctypes.c_int), ("cpu", ctypes.c_int)]


def _bind(lib, sig: dict) -> None:
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


_vp = ctypes.c_void_p
_P64 = ctypes.POINTER(_u64)
_MEASURE_SIG = {
    "rb_work_create": (_vp, [ctypes.c_int, ctypes.c_int, ctypes.c_int, _ul, _ul, _u64,
                             ctypes.c_int, ctypes.POINTER(ctypes.c_uint),
                             ctypes.POINTER(ctypes.c_uint), _P64]),
    "rb_work_destroy": (None, [_vp]),
    "rb_work_ops": (_ul, [_vp, ctypes.c_int]),
    "rb_work_sptes": (_ul, [_vp]),
    "rb_work_footprint": (_u64, [_vp]),
    "rb_work_peak_descs": (ctypes.c_long, [_vp]),
    "rb_work_live_after_undo": (ctypes.c_long, [_vp]),
    "rb_work_heads_left": (ctypes.c_long, [_vp]),
    "rb_work_arena_grew": (ctypes.c_int, [_vp]),
    "rb_work_chain_len": (_ul, [_vp, _ul]),
    "rb_work_checksum": (_u64, [_vp]),
    "rb_run_phase": (ctypes.c_int, [_vp, ctypes.c_int, _ul, _vp,
                                    ctypes.POINTER(_CPhaseResult)]),
    "rb_run_empty": (ctypes.c_int, [_ul, _vp, ctypes.POINTER(_CPhaseResult)]),
    "rb_run_sequence": (ctypes.c_int, [_vp, _ul, _vp, ctypes.POINTER(_CPhaseResult),
                                       ctypes.c_int]),
    "rb_work_sequence": (ctypes.c_int, [_vp, ctypes.POINTER(ctypes.c_int), ctypes.c_int]),
    "rb_work_fingerprint": (_u64, [_vp]),
    "rb_work_prepare": (ctypes.c_int, [_vp, ctypes.c_int]),
    "rb_work_populate": (ctypes.c_int, [_vp]),
    "rb_kmem_huge": (ctypes.c_int, [ctypes.c_int]),
    "rb_kmem_huge_bytes": (ctypes.c_ulonglong, []),
    "rb_work_phase": (ctypes.c_long, [_vp, ctypes.c_int]),
    "rb_inject_chain": (ctypes.c_int, []),
    "rb_counters_open": (_vp, [ctypes.c_int, ctypes.POINTER(ctypes.c_uint), _P64]),
    "rb_counters_open_ext": (_vp, [ctypes.c_int, ctypes.POINTER(ctypes.c_uint), _P64, _P64,
                                   _P64]),
    "rb_counters_fill_attr": (None, [_vp, ctypes.c_uint, _u64, _u64, _u64, ctypes.c_int,
                                     ctypes.c_int]),
    "rb_counters_sizeof_attr": (ctypes.c_uint, []),
    "rb_counters_set_fake_reads": (ctypes.c_int, [_vp, ctypes.c_int, _P64]),
    "rb_counters_set_control": (None, [_vp, ctypes.c_int, ctypes.c_int]),
    "rb_counters_close": (None, [_vp]),
    "rb_counters_nevents": (ctypes.c_int, [_vp]),
    "rb_counters_nopen": (ctypes.c_int, [_vp]),
    "rb_counters_errno": (ctypes.c_int, [_vp, ctypes.c_int]),
    "rb_counters_exclude_kernel": (ctypes.c_int, [_vp, ctypes.c_int]),
    "rb_touch_pages": (ctypes.c_long, [_vp, ctypes.c_long, ctypes.c_int, _P64, _P64, _P64]),
}


def _measure_lib(kernel: Kernel):
    if not getattr(kernel, "_measure_bound", False):
        _bind(kernel.lib, _MEASURE_SIG)
        kernel._measure_bound = True
    return kernel.lib


def guest_histogram(path: str | Path | None = None) -> list[tuple[int, int, int]]:
    """The 4K-level rows (lo, hi, heads) of the measured chain-length
    histogram of an idle 6 GiB guest (DESIGN.md section 5)."""
    places = [Path(path)] if path else list(_HIST_PLACES)
    for p in places:
        if p.is_file():
            break
    else:
        raise UsageError(f"guest histogram not found: looked for {', '.join(map(str, places))}")
    rows = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("level"):
            continue
        level, lo, hi, heads = [f.strip() for f in line.split(",")]
        if level == "4K":
            rows.append((int(lo), int(hi), int(heads)))
    if not rows:
        raise UsageError(f"guest histogram {p}: no 4K rows (level,bucket_lo,bucket_hi,heads)")
    return rows


@dataclass
class PhaseResult:
    """One rb_run_phase() call: `loops` repetitions of one phase."""
    phase: str
    ns: int                 # total ns of the measured regions, all loops
    ops: int                # ops per repetition
    loops: int
    counts: dict            # {event: (raw_value, time_enabled, time_running)}, opened events only
    footprint: int          # bytes touched by the case
    peak_descs: int
    bad: int = 0            # BUG/WARN statuses seen in the measured regions
    live_after: int = 0     # descriptors left after the last undo (always 0)
    checksum: int = 0       # add phases: sum of add's returns; walk: sptes write-protected
    evidence: dict | None = None  # of the measured regions, summed (harness.c, evidence())

    @property
    def ns_per_op(self) -> float:
        return self.ns / (self.ops * self.loops)

    def per_op(self, event: str) -> float:
        """The event's count per op, scaled by time_enabled/time_running."""
        value, enabled, running = self.counts[event]
        if running == 0:
            raise ValueError(f"event {event} never ran (multiplexed out)")
        return value * (enabled / running) / (self.ops * self.loops)

    def enabled_ratio(self) -> float | None:
        """time_running / time_enabled of the group (1.0 = never multiplexed)."""
        for _, enabled, running in self.counts.values():
            return running / enabled if enabled else None
        return None


def _evidence(res) -> dict:
    """What happened during the measured regions of one rb_run_phase() call."""
    return {"wall_ns": int(res.ns), "cpu_ns": int(res.cpu_ns), "nivcsw": int(res.nivcsw),
            "nvcsw": int(res.nvcsw), "faults": int(res.minflt + res.majflt),
            "migrations": int(res.migrations), "cpu": int(res.cpu)}


def run_empty(kernel: Kernel, loops: int, counters: "CounterGroup | None" = None) -> PhaseResult:
    """The harness's fixed cost per repetition: `loops` empty regions bracketed
    as a phase is (rb_run_empty); ns is summed over them, ops is 1."""
    lib = _measure_lib(kernel)
    res = _CPhaseResult()
    cg = counters.cg if counters is not None else None
    rc = lib.rb_run_empty(loops, cg, ctypes.byref(res))
    if rc < 0:
        raise OSError(-rc, f"rb_run_empty: {os.strerror(-rc)}")
    counts = (counters._counts(res.values, res.time_enabled, res.time_running)
              if counters is not None else {})
    return PhaseResult(phase="empty", ns=res.ns, ops=1, loops=res.loops, counts=counts,
                       footprint=0, peak_descs=0, evidence=_evidence(res))


class CounterGroup(_Closing):
    """One perf_event_open group opened by this (the measured) process.

    events: (name, type, config) tuples, or perf-list names.  The first
    event that opens leads the group; one that fails stays out with its
    reason in `failed` and is never reported as 0.  The group is plain
    data shared by every kernel library (one counters.c), so one group
    serves runs of any variant.
    """

    def __init__(self, events, kernel: Kernel | None = None):
        from .events import errno_reason, resolve
        evs = [resolve(e) if isinstance(e, str) else e if hasattr(e, "config1") else tuple(e)
               for e in events]
        if len(evs) > MAX_EVENTS:
            raise UsageError(f"{len(evs)} events requested: at most {MAX_EVENTS} are allowed")
        names = [e[0] for e in evs]
        if len(set(names)) != len(names):
            raise UsageError(f"event list {names}: an event is given twice")
        if kernel is None:
            from .variants import builtin_names, default_ext
            first = builtin_names()[0]
            kernel = load(first, default_ext(first))
        self.kernel = kernel
        self.lib = _measure_lib(self.kernel)
        self.events = evs
        n = len(evs)
        types = (ctypes.c_uint * max(n, 1))(*[e[1] for e in evs])
        configs = (_u64 * max(n, 1))(*[e[2] for e in evs])
        c1 = (_u64 * max(n, 1))(*[getattr(e, "config1", 0) for e in evs])
        c2 = (_u64 * max(n, 1))(*[getattr(e, "config2", 0) for e in evs])
        self.cg = self.lib.rb_counters_open_ext(n, types, configs, c1, c2)
        if not self.cg:
            raise MemoryError("rb_counters_open failed")
        self.opened: list[str] = []
        self.failed: dict[str, str] = {}
        self.errnos: dict[str, int] = {}
        self.exclude_kernel: dict[str, bool] = {}
        for i, (name, _, _) in enumerate(evs):
            err = self.lib.rb_counters_errno(self.cg, i)
            if err:
                self.failed[name] = errno_reason(err)
                self.errnos[name] = err
            else:
                self.opened.append(name)
                self.exclude_kernel[name] = bool(self.lib.rb_counters_exclude_kernel(self.cg, i))

    def _counts(self, values, enabled: int, running: int) -> dict:
        return {name: (int(values[i]), int(enabled), int(running))
                for i, (name, _, _) in enumerate(self.events) if name not in self.failed}

    def set_control(self, ctl_fd: int = -1, ack_fd: int = -1) -> None:
        """perf stat's control/ack FIFO fds: enable and disable switch it too
        (bench.perfstat); -1, -1 detaches."""
        self.lib.rb_counters_set_control(self.cg, ctl_fd, ack_fd)

    def set_fake_reads(self, reads) -> None:
        """Tests: the group's next reads return these instead of the kernel's.
        reads: [(values for every requested event, time_enabled, time_running)],
        one per read, going round (a phase reads at its start and its end);
        [] switches back to real reads."""
        n = len(self.events)
        flat = []
        for values, enabled, running in reads:
            if len(values) != n:
                raise ValueError(f"a fake read needs {n} values, got {len(values)}")
            flat += [*values, enabled, running]
        arr = (_u64 * max(len(flat), 1))(*flat)
        rc = self.lib.rb_counters_set_fake_reads(self.cg, len(reads), arr)
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))

    def touch_pages(self, npages: int, enable: bool = True) -> dict:
        """Test hook: first-touch npages fresh pages with the group enabled
        around the touching (or left disabled); returns the counts."""
        n = len(self.events)
        vals, en, run = (_u64 * max(n, 1))(), _u64(), _u64()
        r = self.lib.rb_touch_pages(self.cg, npages, int(enable), vals,
                                    ctypes.byref(en), ctypes.byref(run))
        if r < 0:
            raise OSError(-r, os.strerror(-r))
        return self._counts(vals, en.value, run.value)

    def close(self) -> None:
        if getattr(self, "cg", None):
            self.lib.rb_counters_close(self.cg)
            self.cg = None


# The page size of the kernel memory a Workload models (descriptor arenas,
# shadow pages; native/alloc.c, "Page size"): rb_kmem_huge()'s argument.
# The heads are on 4 KiB pages either way.
KMEM_PAGES = {"4K": 0, "2M": 1}


def check_pages(pages) -> str:
    """pages, when it is one of KMEM_PAGES; else a UsageError naming it."""
    if pages not in KMEM_PAGES:
        raise UsageError(f"unknown pages {pages!r}: allowed are {', '.join(KMEM_PAGES)}")
    return pages


def kmem_huge_bytes(kernels) -> int:
    """Bytes of live kernel memory the libraries of kernels placed for 2 MiB
    pages (what a process's AnonHugePages can reach at most from them)."""
    libs = {id(k.lib): _measure_lib(k) for k in kernels}
    return sum(int(lib.rb_kmem_huge_bytes()) for lib in libs.values())


class Workload(_Closing):
    """One case of a workload over one kernel, ready to run its phases.

    Everything random (exit order, churn sequence, guest chain lengths,
    scatter placement) comes from `seed` inside C.  For `guest`, n is
    ignored and `histogram` gives (lo, hi, weight) rows (default: the 4K
    rows of the reference histogram); heads scales it.  pages: the page
    size of its kernel memory (KMEM_PAGES; "2M" is what the timing
    workers use, "4K" what sim and the tests see).
    """

    def __init__(self, kernel: Kernel, workload: str, n: int, heads: int,
                 order: str = "fifo", alloc: str = "bump", seed: int = 0,
                 histogram=None, pages: str = "4K"):
        from .workloads import PHASES
        if workload not in PHASES:
            raise UsageError(f"unknown workload {workload!r}: allowed are {', '.join(PHASES)}")
        if order not in kernel.ids["order"]:
            raise UsageError(f"unknown order {order!r}: allowed are {', '.join(kernel.ids['order'])}")
        if alloc not in ("bump", "slab", "scatter"):
            raise UsageError(f"unknown alloc {alloc!r}: allowed are bump, slab, scatter")
        for key, value, low in (("heads", heads, 1), ("seed", seed, 0),
                                ("n", n, 0 if workload == "guest" else 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UsageError(f"bad {key} {value!r}: an integer >= {low} is allowed")
        check_pages(pages)
        self.k = kernel
        self.lib = _measure_lib(kernel)
        self.workload, self.n, self.heads = workload, n, heads
        self.order, self.alloc, self.seed = order, alloc, seed
        self.phases = list(PHASES[workload])
        lo = hi = wt = None
        nb = 0
        if workload == "guest":
            rows = histogram if histogram is not None else guest_histogram()
            nb = len(rows)
            lo = (ctypes.c_uint * nb)(*[int(r[0]) for r in rows])
            hi = (ctypes.c_uint * nb)(*[int(r[1]) for r in rows])
            wt = (_u64 * nb)(*[int(r[2]) for r in rows])
            self.histogram = [tuple(map(int, r)) for r in rows]
        ids = kernel.ids
        self.pages = pages
        self.lib.rb_kmem_huge(KMEM_PAGES[pages])
        self.w = self.lib.rb_work_create(ids["workload"][workload], ids["order"][order],
                                         ids["alloc"][alloc], n, heads, seed, nb, lo, hi, wt)
        if not self.w:
            err = ctypes.get_errno() or 0
            raise UsageError(
                f"cannot set up {workload} n={n} heads={heads}: "
                + ("out of memory" if err != 22 else "parameters out of range "
                   "(n up to 2^24, heads up to 2^32, guest buckets lo <= hi <= 2^20)"))

    def _phase(self, phase: str) -> int:
        if phase not in self.phases:
            raise UsageError(f"workload {self.workload} has no phase {phase!r}: "
                             f"allowed are {', '.join(self.phases)}")
        return self.k.ids["phase"][phase]

    def ops(self, phase: str) -> int:
        return self.lib.rb_work_ops(self.w, self._phase(phase))

    @property
    def sptes(self) -> int:
        return self.lib.rb_work_sptes(self.w)

    @property
    def footprint(self) -> int:
        """Bytes touched (heads + sptes + peak descriptors); the descriptor
        part is known once a phase has run."""
        return self.lib.rb_work_footprint(self.w)

    @property
    def peak_descs(self) -> int:
        return self.lib.rb_work_peak_descs(self.w)

    @property
    def live_descs(self) -> int:
        """Descriptors still allocated after the last undo (must be 0)."""
        return self.lib.rb_work_live_after_undo(self.w)

    @property
    def arena_grew(self) -> bool:
        """Whether a run outgrew the allocator's first arena (then a measured
        region may have paid for arena set-up: a sizing bug)."""
        return bool(self.lib.rb_work_arena_grew(self.w))

    def chain_lengths(self) -> list[int]:
        return [self.lib.rb_work_chain_len(self.w, h) for h in range(self.heads)]

    @property
    def sequence(self) -> list[str]:
        """The phases one repetition may run back to back (rb_run_sequence;
        workloads.c states the invariant that makes it measure what run()
        measures); [] when the workload has none."""
        n = self.lib.rb_work_sequence(self.w, None, 0)
        arr = (ctypes.c_int * max(n, 1))()
        self.lib.rb_work_sequence(self.w, arr, n)
        names = {v: k for k, v in self.k.ids["phase"].items()}
        return [names[arr[i]] for i in range(n)]

    def fingerprint(self) -> int:
        """A hash of the rmap as the walks see it (tests)."""
        return self.lib.rb_work_fingerprint(self.w)

    def populate(self) -> None:
        """Fault in the descriptor arena and the heads now, untimed (the
        worker, after building a layout), instead of a page at a time in
        the first repetition."""
        rc = self.lib.rb_work_populate(self.w)
        if rc < 0:
            raise MemoryError(f"rb_work_populate {self.workload}: {os.strerror(-rc)}")

    def prepare(self, phase: str) -> None:
        """Build the start state of phase, untimed (tests).  Only from an empty
        case (new, after run(), or after a phase_once() that emptied it):
        prepare rewinds the descriptor cache."""
        rc = self.lib.rb_work_prepare(self.w, self._phase(phase))
        if rc < 0:
            raise OSError(-rc, f"rb_work_prepare {self.workload}/{phase}: {os.strerror(-rc)}")

    def phase_once(self, phase: str) -> int:
        """The measured region of phase once, unclocked (tests): its BUG/WARN count."""
        return self.lib.rb_work_phase(self.w, self._phase(phase))

    def _check_rc(self, rc: int, call: str, what: str) -> None:
        if rc == -errno.EIO:
            raise RuntimeError(
                f"{self.k.variant} {self.workload}/{what}: undo left "
                f"{self.lib.rb_work_live_after_undo(self.w)} descriptors and "
                f"{self.lib.rb_work_heads_left(self.w)} heads behind")
        if rc < 0:
            raise OSError(-rc, f"{call} {self.workload}/{what}: {os.strerror(-rc)}")

    def _result(self, phase: str, res, counters, checksum: int | None = None) -> PhaseResult:
        counts = (counters._counts(res.values, res.time_enabled, res.time_running)
                  if counters is not None else {})
        return PhaseResult(phase=phase, ns=res.ns, ops=res.ops, loops=res.loops,
                           counts=counts, footprint=res.footprint,
                           peak_descs=res.peak_descs, bad=res.bad,
                           live_after=res.live_after,
                           checksum=(self.lib.rb_work_checksum(self.w)
                                     if checksum is None else checksum),
                           evidence=_evidence(res))

    @staticmethod
    def _check_loops(loops) -> None:
        if not isinstance(loops, int) or loops < 1:
            raise UsageError(f"bad loops {loops!r}: an integer >= 1 is allowed")

    @staticmethod
    def _cg(counters):
        cg = counters.cg if counters is not None else None
        if counters is not None and not cg:
            raise ValueError("counter group is closed")
        return cg

    def run(self, phase: str, loops: int = 1, counters: CounterGroup | None = None) -> PhaseResult:
        ph = self._phase(phase)
        self._check_loops(loops)
        cg = self._cg(counters)
        res = _CPhaseResult()
        rc = self.lib.rb_run_phase(self.w, ph, loops, cg, ctypes.byref(res))
        self._check_rc(rc, "rb_run_phase", phase)
        return self._result(phase, res, counters)

    def run_sequence(self, loops: int = 1,
                     counters: CounterGroup | None = None) -> list[PhaseResult]:
        """`loops` repetitions of the phase sequence (rb_run_sequence): one
        PhaseResult per phase, in sequence order.  Checksums as run() gives
        them: add's (the sum of add's returns) on add, 0 on remove."""
        seq = self.sequence
        if not seq:
            raise UsageError(f"workload {self.workload} has no phase sequence: "
                             "fork and guest have one")
        self._check_loops(loops)
        cg = self._cg(counters)
        res = (_CPhaseResult * len(seq))()
        rc = self.lib.rb_run_sequence(self.w, loops, cg, res, len(seq))
        self._check_rc(rc, "rb_run_sequence", "+".join(seq))
        total = self.lib.rb_work_checksum(self.w)
        return [self._result(ph, res[i], counters, total if ph == "add" else 0)
                for i, ph in enumerate(seq)]

    def close(self) -> None:
        if getattr(self, "w", None):
            self.lib.rb_work_destroy(self.w)
            self.w = None
