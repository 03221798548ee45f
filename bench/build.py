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
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, asdict
from pathlib import Path

from .errors import UsageError
from .variants import VARIANTS, check_ext, check_variant

ROOT = Path(__file__).resolve().parent.parent
NATIVE_DIR = ROOT / "native"
DEFAULT_CFLAGS = "-O2"
# Pieces every kernel library links, besides its variant's file.
COMMON_SOURCES = ("alloc.c", "api.c", "workloads.c", "harness.c", "counters.c")
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
    return Path(os.environ.get("RMAPBENCH_BUILD_DIR") or ROOT / "build")


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


def _compile(kind: str, name: str, sources: list[Path], variant: str, ext: int,
             cflags: str | None, extra: tuple[str, ...] = ()) -> Artifact:
    check_variant(variant)
    ext = check_ext(ext)
    cflags = resolve_cflags(cflags)
    cc = find_compiler()
    version = compiler_version(cc)
    key_src = json.dumps([source_digest(), [str(s) for s in sources], cc, version,
                          cflags, variant, ext, kind, list(extra)])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    out_dir = build_dir() / "native"
    suffix = ".so" if kind == "shared" else ""
    out = out_dir / f"{name}-{variant}-ext{ext}-{key}{suffix}"
    argv = [cc, *shlex.split(cflags), *BASE_FLAGS, f"-DPTE_LIST_EXT={ext}",
            f"-I{NATIVE_DIR}", *extra]
    if kind == "shared":
        argv += ["-fPIC", "-shared"]
    argv += [str(s) for s in sources]
    art = Artifact(out, kind, variant, ext, cc, version, cflags,
                   shlex.join(argv + ["-o", str(out)]), key)
    if out.exists() and out.with_suffix(out.suffix + ".json").exists():
        return art
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-", suffix=suffix)
    except OSError as e:
        raise UsageError(f"build directory {str(out_dir)!r} cannot be written ({e.strerror}): "
                         "a writable directory is needed; set RMAPBENCH_BUILD_DIR to "
                         "one") from None
    os.close(fd)
    try:
        proc = subprocess.run(argv + ["-o", tmp], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln),
                         proc.stderr.strip().splitlines()[0] if proc.stderr.strip()
                         else f"{cc} exited with status {proc.returncode} and no message")
            raise UsageError(
                f"compiling {variant} at EXT {ext} with flags {cflags!r} failed: {first}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    sidecar = out.with_suffix(out.suffix + ".json")
    tmp_meta = sidecar.with_name(sidecar.name + f".{os.getpid()}.tmp")
    tmp_meta.write_text(json.dumps(art.meta(), indent=2))
    os.replace(tmp_meta, sidecar)
    return art


def variant_source(variant: str) -> Path:
    return NATIVE_DIR / VARIANTS[check_variant(variant)][0]


def build_library(variant: str, ext: int, cflags: str | None = None) -> Artifact:
    """The kernel library for one variant and EXT: the variant, the allocator
    models and the exported API (plus workloads and counters)."""
    sources = [variant_source(variant)] + [NATIVE_DIR / s for s in COMMON_SOURCES]
    return _compile("shared", "librmap", sources, variant, ext, cflags)


def build_program(name: str, sources: list[Path], variant: str, ext: int,
                  cflags: str | None = None, extra: tuple[str, ...] = ()) -> Artifact:
    """An executable linking one variant with the given extra sources."""
    srcs = [variant_source(variant)] + [Path(s) for s in sources]
    return _compile("program", name, srcs, variant, ext, cflags, extra)
