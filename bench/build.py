"""Compile the native kernels: one shared object per (variant, EXT, flags).

Builds are cached under build/ (or $RMAPBENCH_BUILD_DIR), keyed by a hash of
every native source, the compiler and its version, the flags, the variant
and EXT, so a change to any of them rebuilds and nothing stale is loaded.
Each artifact has a JSON sidecar recording how it was built.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, asdict
from pathlib import Path

from .errors import UsageError, shown_path
from . import variants
from .variants import check_ext

from . import paths

ROOT = paths.ROOT
NATIVE_DIR = paths.native_dir()
DEFAULT_CFLAGS = "-O2"
# Pieces every kernel library links, besides its variant's file.
COMMON_SOURCES = ("alloc.c", "api.c", "iface.c", "workloads.c", "harness.c", "counters.c")
# Flags the build always adds after the user's.
BASE_FLAGS = ("-std=gnu11", "-Wall", "-fno-strict-aliasing")


@dataclass(frozen=True)
class Artifact:
    path: Path
    kind: str  # "shared" or "program"
    variant: str
    ext: int
    compiler: str
    compiler_version: str
    cflags: str
    command: str
    key: str

    def meta(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def build_dir() -> Path:
    # an empty RMAPBENCH_BUILD_DIR is unset (not ".", which would be the cwd)
    return Path(os.environ.get("RMAPBENCH_BUILD_DIR") or paths.default_build_dir())


def find_compiler() -> str:
    cc = os.environ.get("CC", "cc")
    path = shutil.which(cc)
    if not path:
        raise UsageError(
            f"no C compiler: {cc!r} not found on PATH; install gcc "
            "(apt-get install gcc) or set CC to a C compiler")
    return path


@functools.lru_cache(maxsize=None)
def compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except OSError as e:
        raise UsageError(f"C compiler {cc!r} cannot run: {e.strerror}") from None
    return out.splitlines()[0].strip() if out else "unknown"


def source_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(NATIVE_DIR.glob("*.[ch]")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def resolve_cflags(cflags: str | None) -> str:
    if cflags is None:
        cflags = os.environ.get("RMAPBENCH_CFLAGS", DEFAULT_CFLAGS)
    try:
        shlex.split(cflags)
    except ValueError as e:
        raise UsageError(f"bad compiler flags {cflags!r}: {e}") from None
    return cflags


# -fsanitize= values whose runtime can be loaded into a running Python (UBSan
# and its checks); every other sanitizer's runtime must come first in the
# program (ASan, TSan, LSan, MSan, HWASan): a library built with it aborts
# the process that loads it.  Programs (build_program) take any.
LOADABLE_SANITIZERS = {
    "undefined", "shift", "shift-exponent", "shift-base", "integer-divide-by-zero",
    "unreachable", "vla-bound", "null", "return", "signed-integer-overflow", "bounds",
    "bounds-strict", "alignment", "object-size", "float-divide-by-zero",
    "float-cast-overflow", "nonnull-attribute", "returns-nonnull-attribute", "bool", "enum",
    "vptr", "pointer-overflow", "builtin",
}
# Flags that make the compiler stop before it links a library.
NO_OUTPUT_FLAGS = ("-fsyntax-only", "-E", "-S", "-c", "-M", "-MM", "--help", "--version",
                   "-###", "-dumpversion", "-dumpmachine", "-print-search-dirs")


def check_library_flags(cflags: str) -> None:
    """Flags whose library cannot be loaded into this process are refused
    before anything is compiled (nothing is left in the build cache)."""
    for flag in shlex.split(cflags):
        if flag.startswith("-o") and not flag.startswith("-open"):
            raise UsageError(f"compiler flag {flag!r} (in flags {cflags!r}): the suite names "
                             "each library it builds itself (in its build cache): allowed "
                             "are flags without -o")
        if flag in NO_OUTPUT_FLAGS:
            raise UsageError(f"compiler flag {flag!r} (in flags {cflags!r}) stops the "
                             "compiler before it links a library: allowed are flags that "
                             "build a shared library")
        if flag.startswith("-fsanitize="):
            bad = [s for s in flag.split("=", 1)[1].split(",") if s not in LOADABLE_SANITIZERS]
            if bad:
                raise UsageError(
                    f"compiler flag {flag!r} (in flags {cflags!r}): the {bad[0]!r} sanitizer's "
                    "runtime must be loaded first in a program, so a kernel library built "
                    "with it cannot be loaded into rmapbench: allowed are -fsanitize=undefined "
                    "and its checks (the C tests run ASan on programs: make test)")


def _user_sources(sources: list[Path]) -> list[Path]:
    return [Path(s) for s in sources if Path(s).parent.resolve() != NATIVE_DIR.resolve()]


def _content_digest(sources: list[Path]) -> str:
    """The contents of every source outside native/ (a user's variant file):
    native/ itself is in source_digest()."""
    h = hashlib.sha256()
    for p in _user_sources(sources):
        try:
            h.update(os.fsencode(p) + b"\0" + p.read_bytes() + b"\0")
        except OSError as e:
            raise UsageError(f"source {shown_path(p)} cannot be read: {e.strerror}") from None
    return h.hexdigest()


def _compile(kind: str, name: str, sources: list[Path], variant: str, ext: int,
             cflags: str | None, extra: tuple[str, ...] = ()) -> Artifact:
    ext = check_ext(ext)
    cflags = resolve_cflags(cflags)
    if kind == "shared":
        check_library_flags(cflags)
    cc = find_compiler()
    version = compiler_version(cc)
    key_src = json.dumps([source_digest(), _content_digest(sources),
                          [str(s) for s in sources], cc, version,
                          cflags, variant, ext, kind, list(extra)])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    out_dir = build_dir() / "native"
    suffix = ".so" if kind == "shared" else ""
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", variant)
    out = out_dir / f"{name}-{safe}-ext{ext}-{key}{suffix}"
    argv = [cc, *shlex.split(cflags), *BASE_FLAGS, f"-DPTE_LIST_EXT={ext}",
            f"-I{NATIVE_DIR}", *extra]
    if kind == "shared":
        argv += ["-fPIC", "-shared"]
    argv += [str(s) for s in sources]
    art = Artifact(out, kind, variant, ext, cc, version, cflags,
                   shlex.join(argv + ["-o", str(out)]), key)
    if out.exists() and out.with_suffix(out.suffix + ".json").exists():
        if _is_elf(out):
            return art
        out.unlink(missing_ok=True)         # damaged in the cache: built again below
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-", suffix=suffix)
    except OSError as e:
        raise UsageError(f"build directory {str(out_dir)!r} cannot be written ({e.strerror}): "
                         "a writable directory is needed; set RMAPBENCH_BUILD_DIR to "
                         "one") from None
    os.close(fd)
    try:
        try:
            proc = subprocess.run(argv + ["-o", tmp], capture_output=True, text=True,
                                  check=False, timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise UsageError(f"compiling {variant} at EXT {ext} with {cc!r} did not finish "
                             f"within {COMPILE_TIMEOUT} s: a working C compiler (CC) is "
                             "needed") from None
        except OSError as e:
            raise UsageError(f"C compiler {cc!r} cannot run ({e.strerror}): set CC to a "
                             "working C compiler") from None
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            first = next((i for i, ln in enumerate(lines) if "error" in ln), 0)
            msg = (lines[first].strip() if lines else
                   f"{cc} exited with status {proc.returncode} and no message")
            user = _user_sources(sources)
            if user:
                # a user's variant file: the compiler's first lines as they
                # are, then the one line naming the file and the first error
                raise UsageError(f"variant file {shown_path(user[0])} does not compile: "
                                 f"{msg} (at EXT {ext} with flags {cflags!r})",
                                 context="\n".join(lines[:6]) if len(lines) > 1 else "")
            raise UsageError(
                f"compiling {variant} at EXT {ext} with flags {cflags!r} failed: {msg}")
        os.chmod(tmp, 0o755)
        # a compiler that "succeeds" without a usable result must not leave
        # it in the cache: checked before it is renamed into place
        _verify(kind, Path(tmp), cc, variant, ext, cflags, _user_sources(sources))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    sidecar = out.with_suffix(out.suffix + ".json")
    tmp_meta = sidecar.with_name(sidecar.name + f".{os.getpid()}.tmp")
    tmp_meta.write_text(json.dumps(art.meta(), indent=2))
    os.replace(tmp_meta, sidecar)
    return art


COMPILE_TIMEOUT = 600       # seconds one compiler run may take


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _verify(kind: str, path: Path, cc: str, variant: str, ext: int, cflags: str = "",
            user: list[Path] = ()) -> None:
    """The compiler's output is an ELF file and, for a library, one that loads
    and states the interface version this tree speaks.  The library is
    loaded in a child process (bench.isolate): one that aborts or faults
    while loading (a sanitizer's runtime, a user's constructor) ends the
    child, not rmapbench."""
    what = f"compiling {variant} at EXT {ext} with {cc!r}"
    stops = [f for f in shlex.split(cflags) if f in NO_OUTPUT_FLAGS]
    if not _is_elf(path):
        if stops:
            raise UsageError(f"compiler flag {stops[0]!r} (in flags {cflags!r}) stops the "
                             "compiler before it links a library: flags that build a "
                             "shared library are allowed")
        raise UsageError(f"{what} reported success but wrote no ELF {'library' if kind == 'shared' else 'program'}: "
                         "a working C compiler (CC) is needed")
    if kind != "shared":
        return
    from . import isolate
    from .native import IFACE_VERSION

    def load() -> tuple[str, int | None]:
        import ctypes

        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            return str(e).splitlines()[0] if str(e) else "OSError", None
        try:
            fn = lib.rb_iface_version
        except AttributeError as e:
            return str(e).splitlines()[0] if str(e) else "AttributeError", None
        fn.restype, fn.argtypes = ctypes.c_int, []
        return "", fn()

    label = (f"the library of variant file {shown_path(user[0])}" if user else
             f"the library of {variant} at EXT {ext}")
    problem, version = isolate.call(
        load, label=label, describe=lambda i, text: "while being loaded", timeout=isolate.LOAD_S,
        capture_stderr=True,
        allowed=f"a library that loads into rmapbench is needed (flags {cflags!r})")
    if problem:
        first = problem[:160]
        sym = re.search(r"undefined symbol: (\w+)", problem)
        if user and sym:
            raise UsageError(f"variant file {shown_path(user[0])} declares no rmapbench "
                             f"variant interface: undefined symbol {sym.group(1)!r}: a file "
                             "that includes rmap.h, implements pte_list_add and "
                             "pte_list_remove and ends with PTE_LIST_DECLARE(...) is allowed "
                             "(docs/variants.md)")
        raise UsageError(f"{what} reported success but the library does not load or lacks "
                         f"rb_iface_version ({first}): a working C compiler (CC) is "
                         "needed")
    if version != IFACE_VERSION:
        raise UsageError(f"{what} gave a library of interface version {version}: version "
                         f"{IFACE_VERSION} is needed; rebuild from this tree")


def variant_source(variant: str) -> Path:
    return variants.source(variant)


# check's build of a variant: every RMAP_STORE() calls the store hook (rmap.h)
CHECK_STORES_FLAGS = ("-DRMAP_CHECK_STORES",)


def build_library(variant: str, ext: int, cflags: str | None = None,
                  check_stores: bool = False) -> Artifact:
    """The kernel library for one variant and EXT: the variant, the allocator
    models and the exported API (plus workloads and counters).  check_stores:
    check's build, whose stores the race explorer can stop after."""
    return build_source(variant_source(variant), ext, cflags, variants.check_variant(variant),
                        check_stores)


def build_source(path: Path, ext: int, cflags: str | None = None,
                 label: str | None = None, check_stores: bool = False) -> Artifact:
    """The kernel library for one variant file (registered or not yet)."""
    sources = [Path(path)] + [NATIVE_DIR / s for s in COMMON_SOURCES]
    return _compile("shared", "librmap-check" if check_stores else "librmap", sources,
                    label or Path(path).stem, ext, cflags,
                    CHECK_STORES_FLAGS if check_stores else ())


def build_program(name: str, sources: list[Path], variant: str, ext: int,
                  cflags: str | None = None, extra: tuple[str, ...] = ()) -> Artifact:
    """An executable linking one variant with the given extra sources."""
    srcs = [variant_source(variant)] + [Path(s) for s in sources]
    return _compile("program", name, srcs, variant, ext, cflags, extra)
