"""The `sim` backend: the compiled kernels under valgrind's cache simulator.

One valgrind run per (variant, EXT) covers a whole list of (case, phase)
items: native/sim_main.c reads them from a case file, and for each one
prepares the phase with collection off, zeroes the counters, collects
around the phase alone and dumps the counters under the item's tag
(`callgrind --cache-sim=yes --collect-atstart=no`).  Each dump's `events:`
and `summary:`/`totals:` lines give the raw totals of the measured region:
Ir, Dr, Dw, D1mr, D1mw, DLmr, DLmw.  The caller divides by `ops`.

Cache state at the start of a measured region.  Collection is off outside
the phase but instrumentation is on from the start, so the simulated
caches see every access of prepare and of earlier items too: the region
starts with the caches as prepare left them, like the hardware does.
Measured (walk of 64 heads x 4 sptes, 10.7 KB, after prepare built the
rmap and set every spte writable): D1mr = 2 for the first item, and for
the same item again; I1mr = 10 for the first item (walk code not yet run)
and 0 for the second.  So a footprint that fits a simulated level starts
warm in it, and one that does not starts with whatever part of it prepare
touched last.  Instruction caches carry over between items of one run.
The results are deterministic: the same item list gives the same counts, from
whatever directory, checkout and environment rmapbench runs (run(), below).

Geometry.  valgrind needs a power-of-two number of sets, so a host level
whose size/(assoc*line) is not one (e.g. a 480 MiB 16-way L3) keeps its
size and line and gets the nearest associativity that makes the set count
a power of two (there: 15); `geometry()` records both.

Profiles: `host` (I1 = L1i, D1 = L1d, LL = the last level, from sysfs),
`host-l2` (LL = the host's L2: what fits in L2 versus beyond it),
`skylake-sp` (32 KiB 8-way L1s; LL = its 1 MiB 16-way private L2, since
Skylake-SP's L3 is a non-inclusive victim cache that callgrind's inclusive
LL cannot model) and `zen3` (32 KiB 8-way L1s, LL = 32 MiB 16-way L3).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .build import NATIVE_DIR, build_program, find_compiler
from .errors import UsageError

SIM_METRICS = ("Ir", "Dr", "Dw", "D1mr", "D1mw", "DLmr", "DLmw")
SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
SOURCES = ("alloc.c", "workloads.c", "counters.c", "iface.c", "sim_main.c")
FIX_VALGRIND = "install valgrind and its headers (apt-get install valgrind)"
SIM_ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}   # the sim driver's whole environment (run)


@dataclass(frozen=True)
class Level:
    size: int           # bytes
    assoc: int          # as simulated
    line: int           # bytes
    host_assoc: int     # as the host (or profile) has it

    def arg(self) -> str:
        return f"{self.size},{self.assoc},{self.line}"


_FIXED = {
    "skylake-sp": {"I1": (32768, 8, 64), "D1": (32768, 8, 64), "LL": (1 << 20, 16, 64)},
    "zen3": {"I1": (32768, 8, 64), "D1": (32768, 8, 64), "LL": (32 << 20, 16, 64)},
}
PROFILES = ["host", "host-l2", *_FIXED]


def _pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


def fit_assoc(size: int, assoc: int, line: int) -> int:
    """The associativity nearest `assoc` (ties: the larger) for which
    size / (assoc * line) is a whole power of two."""
    if size <= 0 or line <= 0 or size % line:
        raise UsageError(f"cache of {size} bytes with {line}-byte lines: "
                         "the size must be a positive multiple of the line size")
    lines = size // line
    if assoc > 0 and lines % assoc == 0 and _pow2(lines // assoc):
        return assoc
    cands = [lines >> k for k in range(lines.bit_length()) if lines % (1 << k) == 0]
    return min(cands, key=lambda a: (abs(a - assoc), -a))


def _level(size: int, assoc: int, line: int) -> Level:
    return Level(size, fit_assoc(size, assoc, line), line, assoc)


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip())
    if not m:
        raise ValueError(text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def host_caches(root: Path = SYSFS_CACHE) -> dict[str, tuple[int, int, int]]:
    """{"L1i"|"L1d"|"L2"|"L3"...: (size, assoc, line)} from sysfs."""
    out = {}
    try:
        for d in sorted(root.glob("index*")):
            level = (d / "level").read_text().strip()
            kind = (d / "type").read_text().strip()
            size = _parse_size((d / "size").read_text())
            ways = int((d / "ways_of_associativity").read_text().strip() or 0)
            line = int((d / "coherency_line_size").read_text().strip())
            name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
            out[name] = (size, ways, line)
    except (OSError, ValueError):
        pass
    return out


def geometry(profile: str = "host") -> dict:
    """{"profile", "I1", "D1", "LL"}: each level a Level (size, simulated
    assoc, line, host assoc)."""
    if profile in _FIXED:
        g = {k: _level(*v) for k, v in _FIXED[profile].items()}
        return {"profile": profile, **g}
    if profile not in ("host", "host-l2"):
        raise UsageError(f"unknown sim profile {profile!r}: allowed are {', '.join(PROFILES)}")
    c = host_caches()
    unified = sorted((k for k in c if k[-1].isdigit()), key=lambda k: int(k[1:]))
    if "L1d" not in c or "L1i" not in c or not unified:
        raise UsageError(f"sim profile {profile!r}: cannot read the host's caches from "
                         f"{SYSFS_CACHE}; use a named profile: {', '.join(_FIXED)}")
    if profile == "host-l2":
        if "L2" not in c:
            raise UsageError("sim profile 'host-l2': this host reports no L2 cache; "
                             f"use one of {', '.join(p for p in PROFILES if p != 'host-l2')}")
        ll = c["L2"]
    else:
        ll = c[unified[-1]]
    return {"profile": profile, "I1": _level(*c["L1i"]), "D1": _level(*c["L1d"]),
            "LL": _level(*ll)}


def geometry_meta(geo: dict) -> dict:
    """For meta.json: {I1, D1, LL: [size, assoc, line]}, host assoc too."""
    out = {"profile": geo["profile"]}
    for k in ("I1", "D1", "LL"):
        lv = geo[k]
        out[k] = [lv.size, lv.assoc, lv.line]
        if lv.assoc != lv.host_assoc:
            out[k + "_host_assoc"] = lv.host_assoc
    return out


@functools.lru_cache(maxsize=None)
def valgrind_version() -> str:
    vg = shutil.which("valgrind")
    if not vg:
        raise UsageError(f"valgrind not found on PATH: {FIX_VALGRIND}")
    out = subprocess.run([vg, "--version"], capture_output=True, text=True,
                         check=False).stdout.strip()
    return out or "unknown"


@functools.lru_cache(maxsize=None)
def _check_header(cc: str) -> None:
    proc = subprocess.run([cc, "-E", "-x", "c", "-"], input="#include <valgrind/callgrind.h>\n",
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UsageError(f"valgrind/callgrind.h not found by {cc}: {FIX_VALGRIND}")


def check_tools() -> str:
    """The valgrind version; UsageError when valgrind or callgrind.h is missing."""
    version = valgrind_version()
    _check_header(find_compiler())
    return version


def build_driver(variant: str, ext: int, cflags: str | None = None):
    check_tools()
    return build_program("sim_driver", [NATIVE_DIR / s for s in SOURCES], variant, ext, cflags)


def _case_line(tag: str, case: dict, phase: str) -> str:
    from .native import guest_histogram
    fields = [tag, case["workload"], phase, case.get("order", "fifo"),
              case.get("alloc", "bump"), int(case.get("n", 0)), int(case["heads"]),
              int(case.get("seed", 0))]
    if case["workload"] == "guest":
        rows = case.get("histogram") or guest_histogram()
        fields.append("hist=" + ",".join(f"{lo}:{hi}:{w}" for lo, hi, w in rows))
    return " ".join(map(str, fields))


_TRIGGER = "desc: Trigger: Client Request: "


def parse_dump(text: str) -> tuple[str | None, dict[str, int]]:
    """(tag, {event: total}) of one callgrind dump file."""
    tag, events, totals = None, None, None
    for line in text.splitlines():
        if line.startswith(_TRIGGER):
            tag = line[len(_TRIGGER):].strip()
        elif line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:") or (line.startswith("totals:") and totals is None):
            totals = [int(x) for x in line.split()[1:]]
    if events is None or totals is None:
        return tag, {}
    totals += [0] * (len(events) - len(totals))   # trailing zeros are left out
    return tag, dict(zip(events, totals))


class SimError(RuntimeError):
    """valgrind ran but gave no usable result: the message names what failed
    and what to do."""


_WHAT_TO_DO = "check `valgrind --version` and the sim driver, or use --backend time"


def _status(code: int) -> str:
    import signal

    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit status {code}"


def _last_line(stderr: str) -> str:
    """The last line of valgrind's stderr, in parentheses (its own ==PID==
    lines skipped when the program said something)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    own = [ln for ln in lines if not ln.startswith(("==", "--"))]
    last = (own or lines or [""])[-1]
    return f" ({last[:200]})" if last else " (no message on stderr)"


# Where the driver runs.  The length of valgrind's working directory, of the
# driver's arguments and of its environment move the driver's stack, in
# 16-byte steps, and with it the simulated cache sets of its locals: fork
# n = 1024 at 17 heads, the 2021 kernel's add, gave D1mw 2520, 3424, 2579 and 2580 as
# the working directory's path grew from 14 to 58 bytes, and the caller's
# TMPDIR, the checkout's path (the driver is built under it) and the
# environment all used to reach it.  So valgrind runs in a scratch directory of
# fixed length (/tmp/rmapbench-sim-XXXXXXXX, whatever TMPDIR says; TMPDIR only
# where /tmp cannot be written, and then the counts depend on its length), on a
# copy of the driver, as "./driver cases.txt", with SIM_ENV as its whole
# environment.  tests/test_sim.py runs a case from two TMPDIRs, caller
# directories and environments and asks for the same counts.
SIM_SCRATCH = Path("/tmp")


def _scratch() -> Path:
    root = SIM_SCRATCH if os.access(SIM_SCRATCH, os.W_OK | os.X_OK) else None
    return Path(tempfile.mkdtemp(prefix="rmapbench-sim-", dir=root))


def run(variant: str, ext: int, items: list[tuple[dict, str]], profile: str = "host",
        cflags: str | None = None, timeout: float | None = None) -> list[dict]:
    """Run every (case, phase) item of one variant/EXT in one valgrind run.

    Returns, per item in order, {Ir, Dr, Dw, D1mr, D1mw, DLmr, DLmw, ops,
    footprint, peak_descs, bad}: raw totals of the measured region."""
    if not items:
        return []
    geo = geometry(profile)
    art = build_driver(variant, ext, cflags)
    tmp = _scratch()
    try:
        tags = [f"i{i}" for i in range(len(items))]
        casefile = tmp / "cases.txt"
        casefile.write_text("".join(_case_line(t, c, p) + "\n" for t, (c, p) in zip(tags, items)))
        shutil.copyfile(art.path, tmp / "driver")
        (tmp / "driver").chmod(0o700)
        argv = ["--tool=callgrind", "--cache-sim=yes", "--collect-atstart=no",
                "--callgrind-out-file=cg.%p",
                f"--I1={geo['I1'].arg()}", f"--D1={geo['D1'].arg()}", f"--LL={geo['LL'].arg()}",
                "./driver", "cases.txt"]
        try:
            # looked up on the caller's PATH: SIM_ENV's is the driver's
            vg = shutil.which("valgrind")
            if vg is None:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
            proc = subprocess.run([vg, *argv], capture_output=True, text=True, timeout=timeout,
                                  check=False, cwd=tmp, env=SIM_ENV)
        except (FileNotFoundError, PermissionError, NotADirectoryError) as e:
            # found when the run was planned, gone (or no longer runnable) now
            raise UsageError(f"valgrind (callgrind) cannot be started for {variant} EXT {ext}: "
                             f"{e.strerror or e}: {FIX_VALGRIND}, check `valgrind --version`, "
                             "or use --backend time") from None
        except subprocess.TimeoutExpired:
            raise SimError("valgrind (callgrind) did not finish "
                           f"within {timeout:g} s and was stopped; {_WHAT_TO_DO}") from None
        if proc.returncode != 0:
            raise SimError("valgrind (callgrind) failed: "
                           f"{_status(proc.returncode)}{_last_line(proc.stderr)}; {_WHAT_TO_DO}")
        try:
            info = {}
            for line in proc.stdout.splitlines():
                parts = line.split()
                if parts and parts[0] in tags:
                    info[parts[0]] = {k: int(v) for k, v in (p.split("=") for p in parts[1:])}
        except ValueError:
            raise SimError("valgrind (callgrind): the driver's output "
                           f"line {line[:80]!r} is not TAG KEY=INTEGER...; {_WHAT_TO_DO}") from None
        dumps = {}
        files = sorted(tmp.glob("cg.*.*"))
        for f in files:
            try:
                tag, counts = parse_dump(f.read_text(errors="replace"))
            except ValueError:
                raise SimError("valgrind (callgrind): its output file "
                               f"{f.name} has a summary line that is not integers; "
                               f"{_WHAT_TO_DO}") from None
            if tag is not None:
                dumps[tag] = counts
        out = []
        for t, (case, phase) in zip(tags, items):
            if t not in info or t not in dumps:
                what = ("no output file" if not files else
                        f"no dump tagged {t} in its {len(files)} output file(s)"
                        if t not in dumps else f"no driver line for {t}")
                raise SimError("valgrind (callgrind) exited 0 but left "
                               f"no result for {case['workload']}/{phase} ({what}); "
                               f"{_WHAT_TO_DO}")
            row = {m: dumps[t].get(m, 0) for m in SIM_METRICS}
            row.update(info[t])
            out.append(row)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def meta(profile: str = "host") -> dict:
    """meta.json's `sim` entry: valgrind version, geometry, profile."""
    return {"valgrind": check_tools(), "geometry": geometry_meta(geometry(profile)),
            "profile": profile}


__all__ = ["SIM_METRICS", "SimError", "PROFILES", "Level", "geometry", "geometry_meta", "host_caches",
           "fit_assoc", "check_tools", "valgrind_version", "build_driver", "run",
           "parse_dump", "meta"]
