"""Vendor event names through libpfm4 (libpfm.so.4), with a small ctypes
binding of our own: no maintained Python binding of libpfm4 exists in
Debian, and the suite needs four calls of it.

- pfm_initialize() once per process.  libpfm4 picks the host's PMU models
  from CPUID; the environment variable LIBPFM_FORCE_PMU (read at
  initialisation) makes it use one named model instead ("skl", "icl",
  "amd64_fam17h_zen2", "amd64_fam19h_zen3", "amd64_fam19h_zen4", ...), which
  is how the tests check Intel and AMD encodings on any machine.
- pfm_get_os_event_encoding(name, PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg)
  fills a struct perf_event_attr (type, config, config1, config2, and the
  exclude bits for "user level only": the suite counts user space only).
- pfm_get_pmu_info() / pfm_get_event_next() / pfm_get_event_info() list the
  events of the PMU models present (doctor's cache and TLB list).

CPUID is not the PMU: inside a guest without a virtual PMU libpfm4 still
reports the host CPU's model, whose events this guest cannot count; doctor
says so next to the list.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re

PFM_SUCCESS = 0
PFM_PLM3 = 0x08                 # user level (x86 rings 1-3)
PFM_OS_PERF_EVENT_EXT = 2       # pfm_os_t: perf_events, all attributes + PMU
PFM_PMU_MAX_SCAN = 2048         # pfm_pmu_t ids are scanned up to this
PMU_TYPE_CORE = 1               # pfm_pmu_type_t: processor core PMU

_ERRORS = {-1: "not supported", -2: "invalid parameters", -3: "library not initialized",
           -4: "event not found", -5: "invalid combination of features",
           -6: "invalid or missing unit mask", -7: "out of memory",
           -8: "invalid event attribute", -9: "invalid event attribute value",
           -10: "attribute value already set", -11: "too many parameters",
           -12: "parameter too small"}


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr up to config2 (linux/perf_event.h); libpfm4
    writes at most its own sizeof, the buffer is padded well beyond it."""
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("config", ctypes.c_uint64), ("sample_period", ctypes.c_uint64),
                ("sample_type", ctypes.c_uint64), ("read_format", ctypes.c_uint64),
                ("flags", ctypes.c_uint64),          # the bit-field word
                ("wakeup_events", ctypes.c_uint32), ("bp_type", ctypes.c_uint32),
                ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
                ("_rest", ctypes.c_uint8 * 192)]


# bit numbers in the flags word of perf_event_attr
ATTR_BITS = {"disabled": 0, "inherit": 1, "pinned": 2, "exclusive": 3,
             "exclude_user": 4, "exclude_kernel": 5, "exclude_hv": 6, "exclude_idle": 7,
             "exclude_host": 19, "exclude_guest": 20}


class _PerfEncodeArg(ctypes.Structure):     # pfm_perf_encode_arg_t
    _fields_ = [("attr", ctypes.POINTER(PerfEventAttr)),
                ("fstr", ctypes.POINTER(ctypes.c_char_p)),
                ("size", ctypes.c_size_t), ("idx", ctypes.c_int), ("cpu", ctypes.c_int),
                ("flags", ctypes.c_int), ("pad0", ctypes.c_int)]


class _PmuInfo(ctypes.Structure):           # pfm_pmu_info_t
    _fields_ = [("name", ctypes.c_char_p), ("desc", ctypes.c_char_p),
                ("size", ctypes.c_size_t), ("pmu", ctypes.c_int), ("type", ctypes.c_int),
                ("nevents", ctypes.c_int), ("first_event", ctypes.c_int),
                ("max_encoding", ctypes.c_int), ("num_cntrs", ctypes.c_int),
                ("num_fixed_cntrs", ctypes.c_int), ("flags", ctypes.c_uint)]


class _EventInfo(ctypes.Structure):         # pfm_event_info_t
    _fields_ = [("name", ctypes.c_char_p), ("desc", ctypes.c_char_p),
                ("equiv", ctypes.c_char_p), ("size", ctypes.c_size_t),
                ("code", ctypes.c_uint64), ("pmu", ctypes.c_int), ("dtype", ctypes.c_int),
                ("idx", ctypes.c_int), ("nattrs", ctypes.c_int), ("reserved", ctypes.c_int),
                ("flags", ctypes.c_uint)]


class PfmError(Exception):
    """libpfm4 is missing, or refused a name; str() is one line."""


_LIB = None
_INIT_FORCE = None


def _lib():
    """libpfm.so.4, initialised.  LIBPFM_FORCE_PMU is read by libpfm4 once, at
    initialisation: a process that changes it afterwards gets the first model
    (the tests run each forced model in its own process)."""
    global _LIB, _INIT_FORCE
    if _LIB is not None:
        return _LIB
    path = ctypes.util.find_library("pfm") or "libpfm.so.4"
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise PfmError(f"libpfm4 not available ({e}); install Debian's libpfm4") from None
    lib.pfm_initialize.restype = ctypes.c_int
    lib.pfm_strerror.restype = ctypes.c_char_p
    lib.pfm_strerror.argtypes = [ctypes.c_int]
    lib.pfm_get_os_event_encoding.restype = ctypes.c_int
    lib.pfm_get_os_event_encoding.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                              ctypes.c_void_p]
    lib.pfm_get_pmu_info.argtypes = [ctypes.c_int, ctypes.POINTER(_PmuInfo)]
    lib.pfm_get_event_next.argtypes = [ctypes.c_int]
    lib.pfm_get_event_info.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_EventInfo)]
    lib.pfm_get_version.restype = ctypes.c_int
    rc = lib.pfm_initialize()
    if rc != PFM_SUCCESS:
        forced = os.environ.get("LIBPFM_FORCE_PMU")
        raise PfmError(f"libpfm4 initialisation failed: {_err(lib, rc)}"
                       + (f" (LIBPFM_FORCE_PMU={forced!r}: is that a libpfm4 model name?)"
                          if forced else ""))
    _LIB, _INIT_FORCE = lib, os.environ.get("LIBPFM_FORCE_PMU")
    return lib


def _err(lib, rc: int) -> str:
    try:
        return lib.pfm_strerror(rc).decode()
    except Exception:  # noqa: BLE001 - the library's text is a nicety
        return _ERRORS.get(rc, f"error {rc}")


def available() -> bool:
    try:
        _lib()
        return True
    except PfmError:
        return False


def version() -> str | None:
    """The library's file version (libpfm.so.4.13.0 -> "4.13.0"): its API
    version (pfm_get_version) stays 4.0 across releases."""
    try:
        _lib()
    except PfmError:
        return None
    try:
        for ln in open("/proc/self/maps"):
            m = re.search(r"/libpfm\.so\.([0-9.]+)$", ln.strip())
            if m:
                return m.group(1)
    except OSError:
        pass
    v = _lib().pfm_get_version()
    return f"{v >> 16}.{v & 0xffff}"


# what a vendor name looks like: letters, digits, '_', '.', ':', '=', '-' (AMD's names
# are lower case with dots: ls_dmnd_fills_from_sys.dram_io_far; Intel's upper case)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:=\-]*")


def encode(name: str) -> dict:
    """The perf_event_attr libpfm4 gives `name` at user level:
    {type, config, config1, config2, exclude_*, fstr (libpfm4's fully
    qualified name), pmu}.  PfmError (one line) when it does not know it."""
    if not _NAME.fullmatch(name):
        raise PfmError(f"{name!r} is not an event name libpfm4 takes")
    lib = _lib()
    # libpfm4's own notation separates unit masks with ':'; Intel and AMD
    # tables (and perf) write EVENT.UMASK.  Try the name as given, then with
    # the last '.' as ':'.
    tries = [name]
    if "." in name and ":" not in name:
        head, _, tail = name.rpartition(".")
        tries.append(f"{head}:{tail}")
    last = None
    for t in tries:
        attr = PerfEventAttr()
        fstr = ctypes.c_char_p()
        arg = _PerfEncodeArg()
        arg.attr = ctypes.pointer(attr)
        arg.fstr = ctypes.pointer(fstr)
        arg.size = ctypes.sizeof(_PerfEncodeArg)
        rc = lib.pfm_get_os_event_encoding(t.encode(), PFM_PLM3, PFM_OS_PERF_EVENT_EXT,
                                           ctypes.byref(arg))
        if rc == PFM_SUCCESS:
            out = {"type": attr.type, "config": attr.config, "config1": attr.config1,
                   "config2": attr.config2,
                   "fstr": fstr.value.decode() if fstr.value else t}
            for bit, pos in ATTR_BITS.items():
                if bit.startswith("exclude_"):
                    out[bit] = (attr.flags >> pos) & 1
            out["pmu"] = out["fstr"].split("::")[0] if "::" in out["fstr"] else None
            _free(fstr)
            return out
        last = rc
    raise PfmError(f"libpfm4 does not know {name!r} on "
                   f"{', '.join(present_pmus()) or 'no PMU model'}: {_err(lib, last)}")


def _free(p: ctypes.c_char_p) -> None:
    """fstr is malloc()ed by libpfm4 and the caller's to free."""
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    addr = ctypes.cast(p, ctypes.c_void_p).value
    if addr:
        libc.free(addr)


def _pmus() -> list[_PmuInfo]:
    lib = _lib()
    out = []
    for i in range(PFM_PMU_MAX_SCAN):
        pi = _PmuInfo()
        pi.size = ctypes.sizeof(pi)
        if lib.pfm_get_pmu_info(i, ctypes.byref(pi)) == PFM_SUCCESS and pi.flags & 1:
            out.append(pi)
    return out


def present_pmus(core_only: bool = False) -> list[str]:
    """Names of the PMU models libpfm4 reports present (from CPUID, or forced)."""
    try:
        return [p.name.decode() for p in _pmus()
                if not core_only or p.type == PMU_TYPE_CORE]
    except PfmError:
        return []


# cache and TLB events: the words vendors use in their names
CACHE_TLB = re.compile(r"(L1D|L1I|L2|L3|LLC|CACHE|TLB|MEM_LOAD|LONGEST_LAT|FILL|MISS|DTLB|ITLB|"
                       r"_dc_|_ic_|_l2_|_l3_|dmnd|tlb|cache|miss|fills)", re.I)


def cache_tlb_events() -> dict[str, list[str]]:
    """{core PMU model: [event names about caches or TLBs]} for the models
    present (the generic `perf` pseudo-PMU is left out)."""
    lib = _lib()
    out = {}
    for p in _pmus():
        if p.type != PMU_TYPE_CORE:
            continue
        names = []
        idx = p.first_event
        while idx != -1:
            ei = _EventInfo()
            ei.size = ctypes.sizeof(ei)
            if lib.pfm_get_event_info(idx, PFM_OS_PERF_EVENT_EXT, ctypes.byref(ei)) == 0:
                n = ei.name.decode()
                if CACHE_TLB.search(n):
                    names.append(n)
            idx = lib.pfm_get_event_next(idx)
        out[p.name.decode()] = names
    return out
