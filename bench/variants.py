"""The variants: one record each (DESIGN.md section 3), built-in or a user's C file.

Everything the suite knows about a variant comes from here: its name, its C
source, its default EXT, the kernel releases it stands for and how plots
draw it.  What a lockless walker needs (descriptor layout, walk order, head
lock) is what the compiled library declares (`layout()`, from
PTE_LIST_DECLARE in native/rmap.h).  No other module names a variant.

Wherever a variant is named, a path to a `.c` file is accepted too
(docs/variants.md): it is compiled, named by its declaration or its stem,
and registered for this process and the processes it starts (through
RMAPBENCH_USER_VARIANTS), so that workers and the sim driver find it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

from .paths import native_dir

NATIVE_DIR = native_dir()
EXT_MIN, EXT_MAX = 2, 64
USER_DEFAULT_EXT = 14           # a user's file: the kernel's EXT since 2021
ENV = "RMAPBENCH_USER_VARIANTS"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


@dataclass(frozen=True)
class Variant:
    name: str
    source: Path
    ext: int                    # default PTE_LIST_EXT
    kernels: str                # the kernel releases it stands for ("" for none)
    style: tuple[str, str]      # plot colour and marker
    summary: str = ""
    user: bool = False


def _b(name, file, ext, kernels, style, summary) -> Variant:
    return Variant(name, NATIVE_DIR / file, ext, kernels, style, summary)


# The built-ins, in the order commands list them.
BUILTINS: tuple[Variant, ...] = (
    _b("old", "pte_list_old.c", 3, "v3.x-v5.14", ("#444444", "o"),
       "mainline before the 2013 redesign: tail append, hole filled in the same descriptor"),
    _b("new", "pte_list_new.c", 3, "", ("#d62728", "s"),
       "the 2013 seed patch as posted: head-only add, WARNs, count after the add"),
    _b("new-fixed", "pte_list_new_fixed.c", 3, "", ("#ff7f0e", "D"),
       "the seed patch with the review's two behavioural points applied"),
    _b("kvm-2021", "pte_list_kvm2021.c", 14, "v5.15-v6.3", ("#1f77b4", "^"),
       "EXT 14 with a per-descriptor count"),
    _b("kvm-2023", "pte_list_kvm2023.c", 14, "v6.4-v6.14", ("#2ca02c", "v"),
       "head-only add and remove, tail counts: O(1) add and count"),
    _b("kvm-2023-lf", "pte_list_kvm2023_lf.c", 14, "", ("#9467bd", "P"),
       "rmapbench's own: kvm-2023 walked top down in each descriptor, miss-free lockless"),
    _b("kvm-2025", "pte_list_kvm2025.c", 14, "v6.15+", ("#8c564b", "X"),
       "kvm-2023 plus the per-head lock bit (KVM_RMAP_LOCKED) for walkers without mmu_lock"),
)

# The roles the analysis and the report give variants (by what they show,
# so that no other module spells a name).
ROLES = {
    "baseline": "old",          # the report's default baseline
    "seed": "new",              # the patch the review was about
    "counted": "kvm-2021",      # the per-descriptor counter
    "head-only": "kvm-2023",    # O(1) add and count
    "miss-free": "kvm-2023-lf",  # a lockless walker cannot miss
}

VARIANTS: dict[str, Variant] = {v.name: v for v in BUILTINS}
_USER_PATHS: dict[Path, str] = {}
# names whose file in the build cache's imported/ is not a regular file (a
# FIFO, a device, a directory): never opened, refused where the name is used
BROKEN_IMPORTS: dict[str, str] = {}

_FALLBACK_STYLES = [("#17becf", "*"), ("#bcbd22", "h"), ("#e377c2", "p"), ("#7f7f7f", "8"),
                    ("#aec7e8", "<"), ("#98df8a", ">")]


def _user_style(name: str) -> tuple[str, str]:
    return _FALLBACK_STYLES[sum(name.encode()) % len(_FALLBACK_STYLES)]


def role(what: str) -> str:
    return ROLES[what]


def names() -> list[str]:
    return list(VARIANTS)


def builtin_names() -> list[str]:
    return [v.name for v in BUILTINS]


def is_path(spec: str) -> bool:
    return spec.endswith(".c") or "/" in spec or os.sep in spec


def _allowed() -> str:
    return (f"{', '.join(VARIANTS)}, or a path to a variant's .c file "
            "(docs/variants.md)")


def register_user(rec: Variant, path: Path) -> None:
    """Make a user's variant record known by name, here and to worker processes."""
    VARIANTS[rec.name] = rec
    _USER_PATHS[path] = rec.name
    env = json.loads(os.environ.get(ENV) or "{}")
    env[rec.name] = [str(path), rec.ext]
    os.environ[ENV] = json.dumps(env, sort_keys=True)


_ENV_PROBLEM: list[str] = []     # what is wrong with RMAPBENCH_USER_VARIANTS, if anything


def _env_entries(text: str) -> dict[str, tuple[str, int]]:
    """RMAPBENCH_USER_VARIANTS as rmapbench writes it: a JSON object, each
    variant name to [path, default EXT]; a UsageError naming the variable
    and the bad part otherwise."""
    allowed = ("a JSON object of variant names to [path of a .c file, default EXT], "
               "as rmapbench sets it for its worker processes (unset it)")
    try:
        env = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"environment variable {ENV} {text[:80]!r} is not JSON: "
                         f"{allowed}") from None
    if not isinstance(env, dict):
        raise UsageError(f"environment variable {ENV}: {type(env).__name__} "
                         f"{json.dumps(env)[:60]}: {allowed}")
    out = {}
    for name, rec in env.items():
        ok = (NAME_RE.fullmatch(name) and isinstance(rec, list) and len(rec) == 2
              and isinstance(rec[0], str) and rec[0] and isinstance(rec[1], int)
              and not isinstance(rec[1], bool) and EXT_MIN <= rec[1] <= EXT_MAX)
        if not ok:
            raise UsageError(f"environment variable {ENV}: entry {name[:64]!r}: "
                             f"{json.dumps(rec)[:60]}: {allowed}; names are letters, digits "
                             f"and ._+-, EXT {EXT_MIN} to {EXT_MAX}")
        out[name] = (rec[0], rec[1])
    return out


def env_problem() -> str | None:
    """What was wrong with RMAPBENCH_USER_VARIANTS when this module was
    loaded (None: nothing); the CLI refuses to start with it."""
    return _ENV_PROBLEM[0] if _ENV_PROBLEM else None


def _from_env() -> None:
    """Variants a parent process registered (workers, sim runs).  A malformed
    value registers nothing and is remembered (env_problem), never raised
    while this module is being imported."""
    try:
        env = _env_entries(os.environ.get(ENV) or "{}")
    except UsageError as e:
        _ENV_PROBLEM[:] = [str(e)]
        return
    for name, (path, ext) in env.items():
        if name not in VARIANTS:
            p = Path(path)
            VARIANTS[name] = Variant(name, p, ext, "", _user_style(name), str(p), True)
            _USER_PATHS[p] = name


_from_env()


def forget_user_variants() -> None:
    """Back to the built-ins only (a command's start: the files it names are
    its own, not an earlier command's in the same environment)."""
    for name in [n for n, v in VARIANTS.items() if v.user]:
        del VARIANTS[name]
    _USER_PATHS.clear()
    BROKEN_IMPORTS.clear()
    os.environ.pop(ENV, None)


DEFAULT_EXT_RE = re.compile(rb"rmapbench(?:-import)?: default-ext (\d+)")


def declared_default_ext(path: Path, spec: str) -> int:
    """A file's default EXT: a comment `rmapbench: default-ext N` in its
    first 4 KiB (`rmapbench import` writes one), else USER_DEFAULT_EXT."""
    with open(path, "rb") as f:
        m = DEFAULT_EXT_RE.search(f.read(4096))
    if not m:
        return USER_DEFAULT_EXT
    try:
        return check_ext(m.group(1).decode())
    except UsageError as e:
        from .errors import shown_path
        raise UsageError(f"variant file {shown_path(spec)}: its default-ext comment: {e}") from None


def _same_content(a: Path, b: Path) -> bool:
    from .errors import read_user_bytes

    try:
        return read_user_bytes(a, "variant file", 4 << 20) == \
            read_user_bytes(b, "variant file", 4 << 20)
    except UsageError:
        return False


def add_user_variant(spec: str, cflags: str | None = None) -> str:
    """Register a user's variant file; returns its name.  The file is
    compiled once here (cached by content) to read its declared name.  A
    file whose content is the same as the registered file of that name
    (an import registered in the build cache, or another path to the same
    text) is that variant; a different file of that name is refused."""
    from .errors import read_user_bytes, shown_path

    shown = shown_path(spec)
    path = Path(spec).expanduser()
    if not path.suffix == ".c":
        raise UsageError(f"variant file {shown} is not a .c file: a variant is one C file "
                         "(docs/variants.md)")
    if path.exists():
        read_user_bytes(path, "variant file", 4 << 20)    # a regular, readable, bounded file
    try:
        path = path.resolve(strict=True)
    except (OSError, RuntimeError) as e:
        raise UsageError(f"variant file {shown} cannot be read ({getattr(e, 'strerror', None) or e}): "
                         "give the path of an existing .c file") from None
    if not path.is_file():
        raise UsageError(f"variant file {shown} is not a file: give the path of a .c file")
    if path in _USER_PATHS:
        return _USER_PATHS[path]
    from .native import declared_name
    name = declared_name(path, USER_DEFAULT_EXT, cflags) or path.stem
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"variant file {shown}: name {shown_path(name)} is not allowed: "
                         "letters, digits and ._+- (at most 64), declared with "
                         "PTE_LIST_DECLARE or taken from the file's stem")
    if name in VARIANTS:
        other = VARIANTS[name]
        if other.user and _same_content(path, other.source):
            _USER_PATHS[path] = name        # the same text: the same variant
            return name
        what = ("a built-in variant" if not other.user else
                f"the variant file {shown_path(other.source)}, whose content differs")
        raise UsageError(f"variant file {shown} is named {name!r}, the name of {what}: "
                         "declare another name (PTE_LIST_DECLARE(\"...\", ...)) or rename the file")
    register_user(Variant(name, path, declared_default_ext(path, spec), "", _user_style(name),
                          str(path), True), path)
    return name


def describe(name: str) -> str:
    """How an error names a user's variant: its name and its file."""
    from .errors import shown_path

    v = VARIANTS.get(name)
    if v is None or not v.user:
        return f"variant {name!r}"
    return f"variant {name!r} (file {shown_path(v.source)})"


def check_variant(name: str) -> str:
    """A variant's name from a name or a path (registering the file)."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"bad variant {name!r}: allowed are {_allowed()}")
    if name in VARIANTS:
        return name
    if is_path(name):
        return add_user_variant(name)
    if name in BROKEN_IMPORTS:
        raise UsageError(BROKEN_IMPORTS[name])
    raise UsageError(f"unknown variant {name!r}: allowed are {_allowed()}")


def parse_variants(text: str) -> list[str]:
    names_ = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in names_):
        raise UsageError(
            f"bad variant list {text!r}: give names separated by commas, from {_allowed()}")
    out = [check_variant(v) for v in names_]
    for i, v in enumerate(out):
        if v in out[:i]:
            raise UsageError(f"bad variant list {text!r}: {names_[i]!r} names {v!r} a second "
                             "time: each variant once is allowed")
    return out


_EXT_SUFFIX = re.compile(r"(.*)@([0-9]{1,20})", re.S)


def split_ext(spec: str) -> tuple[str, str, str]:
    """A sweep config's 'V@EXT' as (V, '@', EXT); only a trailing '@' and 1
    to 20 ASCII digits is an EXT, so a path with '@' in it ('./my@v.c')
    stays whole: (spec, '', '')."""
    m = _EXT_SUFFIX.fullmatch(spec)
    return (m.group(1), "@", m.group(2)) if m else (spec, "", "")


def get(name: str) -> Variant:
    return VARIANTS[check_variant(name)]


def default_ext(name: str) -> int:
    return get(name).ext


def source(name: str) -> Path:
    return get(name).source


def style(name: str) -> tuple[str, str]:
    v = VARIANTS.get(name)
    return v.style if v else _user_style(name)


_USER_LAYOUTS: dict = {}


def layout(name: str, ext: int | None = None):
    """The descriptor layout and walk the compiled library declares
    (bench.native.Layout).  A user's library is loaded in a child process
    (bench.isolate), once per file, EXT and content."""
    from .native import load

    ext = ext if ext is not None else default_ext(name)
    v = get(name)
    if not v.user:
        return load(name, ext).layout
    from . import isolate
    from .build import build_library

    art = build_library(name, ext)          # compiled here, loaded in the child
    key = (name, ext, art.key)
    if key not in _USER_LAYOUTS:
        _USER_LAYOUTS[key] = isolate.call(
            lambda: load(name, ext).layout, label=describe(name), timeout=isolate.LOAD_S,
            describe=lambda i, text: "while its library was loaded and its layout read",
            allowed="a variant whose library loads is allowed (docs/variants.md)")
    return _USER_LAYOUTS[key]


def check_ext(ext: int | str) -> int:
    """EXT as given (an int, or a string typed by the user: bench.values.parse_int)."""
    from .values import parse_int

    return parse_int("EXT", ext, EXT_MIN, EXT_MAX)
