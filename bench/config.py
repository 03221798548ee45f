"""Sweep configs: TOML grids over the case parameters, validated, expanded.

A config is a union of grids; each `[[grid]]` table is a cartesian product
over its keys (docs/sweep.md has the format, the default grids and why).
Everything is checked before anything runs: a bad key or value becomes one
UsageError line `config KEY: bad value VALUE: allowed ...`.

    cfg = load_config(path)            # or load_builtin("default"|"quick")
    planned = expand(cfg, caches, cpu) # list[Planned], one per distinct case

`caches` is what footprint targets ("l1", "l2", "llc", "64MiB") are sized
against: plan.caches of bench.runner, {"L1d", "L2", "LLC": bytes}.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .backends import NAMES, get as get_backend
from .errors import UsageError, read_user_text
from . import values as _values
from .values import BUDGET_MAX
from . import variants as _variants
from .variants import EXT_MAX, EXT_MIN
from .workloads import ALLOCS, ORDERS, WORKLOADS

BACKENDS = NAMES
BUILTIN = ["default", "quick"]

N_MAX = 1 << 20          # as `rmapbench run`
HEADS_MAX = 1 << 26
CACHELINE = 64

# footprint targets: name -> (cache, factor, what it means)
TARGETS = {
    "l1": ("L1d", 0.5, "inside L1d (half of it)"),
    "l2": ("L2", 0.5, "inside L2 (half of it)"),
    "llc": ("LLC", 2.0, "beyond the LLC (twice it)"),
}

TOP_KEYS = ["description", "options", "defaults", "grid"]
GRID_KEYS = ["name", "workload", "variant", "ext", "n", "heads", "order", "alloc", "seed"]
DEFAULTS_KEYS = [k for k in GRID_KEYS if k != "name"]
OPTION_KEYS = ["backend", "events", "cpu", "sim_profile", "cflags", "max_sptes",
               "max_footprint", "sim_max_sptes", "sim_max_footprint", "precision", "budget",
               "sim_beside", "pages", "pyperf"]
PYPERF_KEYS = ["fast", "rigorous", "processes", "values", "warmups", "loops", "min_time"]
RANGE_KEYS = ["from", "to", "times", "step"]

DEFAULT_MAX_SPTES = 1 << 22
DEFAULT_MAX_FOOTPRINT = 1 << 30
MAX_CASES = 20000        # a config's cases (every grid's product of axes), at most
MAX_RANGE = 10000        # values of one range table, at most
MAX_DEPTH = 8            # tables and arrays nested in a config, at most

# Chain lengths of the 4K rmaps of an idle 6 GiB guest (the `guest` workload's
# distribution, /work/shared/reference/rmap_count_histogram_6G_guest.csv):
# (lo, hi, heads).  Only used to estimate a guest case's footprint per head.
GUEST_HISTOGRAM = [(0, 0, 3089171), (1, 1, 49005), (2, 3, 14016), (4, 7, 1363),
                   (8, 15, 235), (16, 31, 212), (32, 63, 15), (64, 127, 7)]


# -- small helpers ----------------------------------------------------------

def _show(value) -> str:
    """A value as the user wrote it, on one short line."""
    import datetime

    if isinstance(value, (datetime.date, datetime.time)):
        text = value.isoformat()            # a TOML date or time, as written
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    text = text.replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(key: str, value, allowed: str) -> UsageError:
    return UsageError(f"config {key}: bad value {_show(value)}: allowed {allowed}")


def _unknown(key: str, allowed: list[str]) -> UsageError:
    return UsageError(f"config {key}: unknown key: allowed keys are {', '.join(allowed)}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_size(text) -> int | None:
    """'64MiB', '512K', '1GiB', 4096 -> bytes (binary units); None if not a
    size (bench.values: exact, bounded, ASCII digits only)."""
    return _values.parse_size(text)


def fmt_size(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v >= 100 or v == int(v) else f"{v:.1f} {unit}"
    return f"{int(n)} B"


# -- the parsed config ------------------------------------------------------

@dataclass
class Options:
    backend: str = "auto"
    events: list[str] | None = None
    cpu: int | None = None
    sim_profile: str | None = None
    cflags: str | None = None
    max_sptes: int = DEFAULT_MAX_SPTES
    max_footprint: int = DEFAULT_MAX_FOOTPRINT
    sim_max_sptes: int | None = None        # tighter caps when the backend is sim
    sim_max_footprint: int | None = None
    precision: float | None = None          # target ratio CI half-width (timing)
    budget: float | None = None             # seconds of timing per case group
    sim_beside: bool | None = None          # valgrind on the other CPUs during the timing
    pages: str | None = None                # page size of the timed kernel memory (2M, 4K)
    pyperf: dict = field(default_factory=dict)

    def pyperf_args(self) -> list[str]:
        """The pyperf command-line options these settings stand for."""
        args = []
        if self.pyperf.get("fast"):
            args.append("--fast")
        if self.pyperf.get("rigorous"):
            args.append("--rigorous")
        for k in ("processes", "values", "warmups", "loops", "min_time"):
            if k in self.pyperf:
                args.append(f"--{k.replace('_', '-')}={self.pyperf[k]}")
        return args


# what a target asks for before any cap (shared_heads compares against it)
_UNCAPPED = Options(max_sptes=1 << 62, max_footprint=1 << 62)


@dataclass
class Grid:
    index: int               # 1-based position among the [[grid]] tables
    name: str
    axes: dict               # key -> list of values (variant: list of (name, ext|None))

    @property
    def key(self) -> str:
        return f"grid[{self.index}]"


@dataclass
class SweepConfig:
    source: str              # a path, or "builtin:default" / "builtin:quick"
    text: str                # the TOML as read (stored in meta.json; --resume reuses it)
    description: str
    options: Options
    grids: list[Grid]

    def meta(self) -> dict:
        return {"source": self.source, "text": self.text,
                "grids": [g.name for g in self.grids],
                "options": {**self.options.__dict__, "pyperf_args": self.options.pyperf_args()}}


@dataclass
class Planned:
    """One case to measure, and how its heads were chosen."""
    case: dict
    grid: str
    target: str | None       # footprint target ("l2", "llc", "64MiB") or None for a count
    target_bytes: int | None
    footprint: int           # estimated bytes touched (see estimate_footprint)
    capped: str | None = None  # why heads is smaller than the target asked for

    def label(self) -> str:
        c = self.case
        return (f"{c['workload']} {c['variant']}@{c['ext']} n={c['n']} heads={c['heads']} "
                f"{c['order']} {c['alloc']}")


# -- loading ----------------------------------------------------------------

def load_builtin(name: str) -> SweepConfig:
    if name not in BUILTIN:
        raise UsageError(f"unknown built-in sweep {name!r}: allowed are {', '.join(BUILTIN)}")
    text = resources.files("bench").joinpath("sweeps", f"{name}.toml").read_text()
    return parse_config(text, f"builtin:{name}")


def load_config(path: str | Path) -> SweepConfig:
    return parse_config(read_user_text(path, "config"), str(path))


def parse_config(text: str, source: str = "<string>") -> SweepConfig:
    # variant file paths are relative to the config's directory
    where = Path(source).resolve().parent if source and Path(source).is_file() else None
    _CONFIG_DIR.append(where or Path.cwd())
    try:
        return _parse_config(text, source)
    finally:
        _CONFIG_DIR.pop()


def _parse_config(text: str, source: str = "<string>") -> SweepConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config {source}: not valid TOML: {e}") from None
    except RecursionError:
        raise UsageError(f"config {source}: arrays or tables nested too deeply: at most "
                         f"{MAX_DEPTH} levels are allowed") from None
    _check_depth(doc, source)
    for k in doc:
        if k not in TOP_KEYS:
            raise _unknown(k, TOP_KEYS)
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise _bad("description", description, "a string")
    options = _parse_options(doc.get("options", {}))
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _bad("defaults", defaults, "a table of grid keys")
    for k in defaults:
        if k not in DEFAULTS_KEYS:
            raise _unknown(f"defaults.{k}", DEFAULTS_KEYS)
    raw_grids = doc.get("grid")
    if raw_grids is None or raw_grids == []:
        raise _bad("grid", raw_grids if raw_grids is not None else "(none)",
                   "one or more [[grid]] tables")
    if not isinstance(raw_grids, list) or not all(isinstance(g, dict) for g in raw_grids):
        raise _bad("grid", raw_grids, "[[grid]] tables (an array of tables)")
    grids = []
    names = set()
    for i, g in enumerate(raw_grids, 1):
        grid = _parse_grid(i, g, defaults, options)
        if grid.name in names:
            raise _bad(f"{grid.key}.name", grid.name, "a name no other grid has")
        names.add(grid.name)
        grids.append(grid)
    total = sum(grid_cases(g) for g in grids)
    if total > MAX_CASES:
        big = max(grids, key=grid_cases)
        raise _bad("grid", f"{total} cases ({big.key} alone {grid_cases(big)})",
                   f"at most {MAX_CASES} cases in one config (the product of each grid's "
                   "lists, summed over the grids): split it into several sweeps")
    return SweepConfig(source=source, text=text, description=description,
                       options=options, grids=grids)


def _check_depth(doc, source: str) -> None:
    """No value nested deeper than MAX_DEPTH (checked without recursion)."""
    todo = [(doc, 1)]
    while todo:
        v, d = todo.pop()
        if d > MAX_DEPTH:
            raise UsageError(f"config {source}: arrays or tables nested {d} levels deep: "
                             f"at most {MAX_DEPTH} levels are allowed")
        if isinstance(v, dict):
            todo.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            todo.extend((x, d + 1) for x in v)


def grid_cases(grid: "Grid") -> int:
    """How many cases a grid expands to at most (before duplicates are dropped)."""
    n = 1
    for k, vals in grid.axes.items():
        n *= len(vals)
    return n


def _parse_options(raw) -> Options:
    if not isinstance(raw, dict):
        raise _bad("options", raw, "a table")
    o = Options()
    for k, v in raw.items():
        key = f"options.{k}"
        if k not in OPTION_KEYS:
            raise _unknown(key, OPTION_KEYS)
        if k == "backend":
            if v not in BACKENDS:
                raise _bad(key, v, ", ".join(BACKENDS))
            o.backend = v
        elif k == "events":
            if isinstance(v, str):
                from .events import split_events
                v = split_events(v)
            if not isinstance(v, list) or not v:
                raise _bad(key, v, "a non-empty list of perf event names "
                           "(e.g. [\"cycles\", \"LLC-load-misses\"])")
            from . import events as evmod

            for e in v:
                try:
                    evmod.resolve(e)
                except UsageError:
                    raise _bad(key, e, evmod.allowed_text()) from None
            if len(set(v)) != len(v):
                dup = next(e for e in v if v.count(e) > 1)
                raise _bad(key, dup, "each event once")
            o.events = v
        elif k == "cpu":
            allowed = sorted(os.sched_getaffinity(0))
            if not _is_int(v) or v not in allowed:
                raise _bad(key, v, f"one of the CPUs this process may run on, {allowed}")
            o.cpu = v
        elif k in ("sim_profile", "cflags"):
            if not isinstance(v, str) or (k == "sim_profile" and not v.strip()):
                raise _bad(key, v, "a string" + (" naming a cache profile" if k == "sim_profile" else ""))
            if k == "sim_profile":
                from .sim import PROFILES

                if v not in ("auto", *PROFILES):
                    raise _bad(key, v, ", ".join(("auto", *PROFILES)))
            if k == "cflags":
                try:
                    shlex.split(v)
                except ValueError as e:
                    raise _bad(key, v, f"compiler flags as a shell would split them ({e})") from None
            setattr(o, k, v)
        elif k in ("max_sptes", "sim_max_sptes"):
            if not _is_int(v) or not 1 <= v <= 1 << 30:
                raise _bad(key, v, f"an integer from 1 to {1 << 30}")
            setattr(o, k, v)
        elif k in ("max_footprint", "sim_max_footprint"):
            size = parse_size(v)
            if size is None or size < 4096:
                raise _bad(key, v, "a size of at least 4KiB, like \"1GiB\" or \"256MiB\"")
            setattr(o, k, size)
        elif k == "precision":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise _bad(key, v, "a fraction above 0 and below 1 (0.01 = 1%)")
            o.precision = float(v)
        elif k == "budget":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= BUDGET_MAX:
                raise _bad(key, v, "seconds of timing per case group, above 0 and at most "
                           f"{BUDGET_MAX:g}")
            o.budget = float(v)
        elif k == "sim_beside":
            if not isinstance(v, bool):
                raise _bad(key, v, "true or false")
            o.sim_beside = v
        elif k == "pages":
            from .native import KMEM_PAGES

            if not isinstance(v, str) or v not in KMEM_PAGES:
                raise _bad(key, v, "one of " + ", ".join(f'"{p}"' for p in KMEM_PAGES)
                           + " (the page size of a timed case's descriptor arena and "
                           "shadow pages)")
            o.pages = v
        elif k == "pyperf":
            o.pyperf = _parse_pyperf(v)
    return o


def _parse_pyperf(raw) -> dict:
    if not isinstance(raw, dict):
        raise _bad("options.pyperf", raw, "a table of pyperf options")
    out = {}
    for k, v in raw.items():
        key = f"options.pyperf.{k}"
        if k not in PYPERF_KEYS:
            raise _unknown(key, PYPERF_KEYS)
        if k in ("fast", "rigorous"):
            if not isinstance(v, bool):
                raise _bad(key, v, "true or false")
        elif k == "min_time":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 60:
                raise _bad(key, v, "seconds, a number above 0 and at most 60")
        else:
            from .values import PYPERF_INT_RANGES

            lo, hi = PYPERF_INT_RANGES[k]         # as run's --NAME
            if not _is_int(v) or not lo <= v <= hi:
                raise _bad(key, v, f"an integer from {lo} to {hi}")
        out[k] = v
    if out.get("fast") and out.get("rigorous"):
        raise _bad("options.pyperf.rigorous", True, "at most one of fast and rigorous")
    return out


# -- grids ------------------------------------------------------------------

def _as_list(key: str, v, what: str) -> list:
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise _bad(key, v, f"a non-empty list of {what}")
    return vals


def _int_range(key: str, table: dict, lo_ok: int, hi_ok: int) -> list[int]:
    """A range table's values; its bounds and its length are checked before
    any value is made."""
    for k in table:
        if k not in RANGE_KEYS:
            raise _unknown(f"{key}.{k}", RANGE_KEYS)
    for k in ("from", "to"):
        if k not in table:
            raise _bad(key, table, "a range table with from, to and times or step")
        if not _is_int(table[k]) or not lo_ok <= table[k] <= hi_ok:
            raise _bad(f"{key}.{k}", table[k], f"an integer from {lo_ok} to {hi_ok}")
    lo, hi = table["from"], table["to"]
    if hi < lo:
        raise _bad(f"{key}.to", hi, f"an integer >= from ({lo})")
    if ("times" in table) == ("step" in table):
        raise _bad(key, table, "exactly one of times (geometric) or step (arithmetic)")
    if "times" in table:
        t = table["times"]
        if not _is_int(t) or t < 2:
            raise _bad(f"{key}.times", t, "an integer >= 2")
        if lo < 1:
            raise _bad(f"{key}.from", lo, "an integer >= 1 with times (a geometric range "
                       "cannot start at 0)")
        vals, x = [], lo
        while x <= hi:          # at most log2(hi) + 1 values
            vals.append(x)
            x *= t
    else:
        s = table["step"]
        if not _is_int(s) or s < 1:
            raise _bad(f"{key}.step", s, "an integer >= 1")
        count = (hi - lo) // s + 1
        if count > MAX_RANGE:
            raise _bad(key, table, f"a range of at most {MAX_RANGE} values (this one has "
                       f"{count})")
        vals = list(range(lo, hi + 1, s))
    if len(vals) > MAX_RANGE:
        raise _bad(key, table, f"a range of at most {MAX_RANGE} values")
    return vals


def _ints(key: str, v, lo: int, hi: int) -> list[int]:
    if isinstance(v, dict):
        vals = _int_range(key, v, lo, hi)
    else:
        vals = _as_list(key, v, f"integers from {lo} to {hi}")
    for x in vals:
        if not _is_int(x) or not lo <= x <= hi:
            raise _bad(key, x, f"integers from {lo} to {hi}")
    _no_twice(key, vals)
    return vals


def _no_twice(key: str, vals: list, shown=None) -> None:
    """A list naming a value twice is refused (it would be measured twice)."""
    seen = []
    for i, x in enumerate(vals):
        if x in seen:
            raise _bad(key, (shown or vals)[i], "each value once in the list")
        seen.append(x)


def _choices(key: str, v, allowed: list[str]) -> list[str]:
    vals = _as_list(key, v, ", ".join(allowed))
    for x in vals:
        if not isinstance(x, str) or x not in allowed:
            raise _bad(key, x, ", ".join(allowed))
    _no_twice(key, vals)
    return vals


_CONFIG_DIR: list[Path] = []     # the directory of the config being parsed


def parse_variant(key: str, spec) -> tuple[str, int | None]:
    """'V' -> ('V', None); 'V@14' -> ('V', 14); a path to a variant's
    .c file (relative to the config's directory), optionally with @EXT ->
    (its registered name, EXT)."""
    allowed = (f"a variant ({', '.join(_variants.names())}) or a path to a variant's .c "
               f"file, optionally with @EXT ({EXT_MIN}..{EXT_MAX})")
    if not isinstance(spec, str):
        raise _bad(key, spec, allowed)
    name, sep, ext = _variants.split_ext(spec)
    if _variants.is_path(name):
        p = Path(name).expanduser()
        if not p.is_absolute() and _CONFIG_DIR and (_CONFIG_DIR[-1] / p).exists():
            p = _CONFIG_DIR[-1] / p
        name = _variants.add_user_variant(str(p))
    elif name not in _variants.VARIANTS:
        raise _bad(key, spec, allowed)
    if not sep:
        return name, None
    if not re.fullmatch(r"[0-9]+", ext or ""):
        raise _bad(key, spec, allowed)
    if not EXT_MIN <= int(ext) <= EXT_MAX:
        raise _bad(key, spec, f"EXT from {EXT_MIN} to {EXT_MAX} (\"{name}@{EXT_MIN}\" ... "
                   f"\"{name}@{EXT_MAX}\")")
    return name, int(ext)


def _heads(key: str, v) -> list:
    allowed = (f"integers from 1 to {HEADS_MAX}, or footprint targets "
               f"{', '.join(json.dumps(t) for t in TARGETS)} or a size like \"64MiB\"")
    vals = _as_list(key, v, allowed)
    out = []
    for x in vals:
        if _is_int(x):
            if not 1 <= x <= HEADS_MAX:
                raise _bad(key, x, allowed)
            out.append(x)
        elif isinstance(x, str) and x.lower() in TARGETS:
            out.append(x.lower())
        elif isinstance(x, str) and parse_size(x) is not None:
            out.append(x)
        else:
            raise _bad(key, x, allowed)
    _no_twice(key, [x.lower() if isinstance(x, str) else x for x in out], vals)
    return out


def _parse_grid(index: int, raw: dict, defaults: dict, options: Options) -> Grid:
    gkey = f"grid[{index}]"
    for k in raw:
        if k not in GRID_KEYS:
            raise _unknown(f"{gkey}.{k}", GRID_KEYS)
    merged = {**defaults, **raw}

    def where(k):  # name the table the value came from
        return f"{gkey}.{k}" if k in raw else f"defaults.{k}"

    name = raw.get("name", f"grid{index}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _bad(f"{gkey}.name", name, "a name of letters, digits, '_', '.', '-'")
    if "workload" not in merged:
        raise _bad(f"{gkey}.workload", "(missing)", ", ".join(WORKLOADS))
    axes: dict = {}
    axes["workload"] = _choices(where("workload"), merged["workload"], WORKLOADS)

    variants = _as_list(where("variant"), merged.get("variant", _variants.builtin_names()),
                        "variant names")
    axes["variant"] = [parse_variant(where("variant"), s) for s in variants]
    _no_twice(where("variant"), axes["variant"], variants)

    ext = merged.get("ext", "default")
    ext_vals = _as_list(where("ext"), ext, "integers or \"default\"")
    for x in ext_vals:
        if x != "default" and not (_is_int(x) and EXT_MIN <= x <= EXT_MAX):
            raise _bad(where("ext"), x, f"integers from {EXT_MIN} to {EXT_MAX}, or \"default\" "
                       "(the variant's own)")
    _no_twice(where("ext"), ext_vals)
    axes["ext"] = ext_vals

    only_guest = set(axes["workload"]) == {"guest"}
    if "n" not in merged:
        if not only_guest:
            raise _bad(f"{gkey}.n", "(missing)", "integers >= 1 (sptes per head)")
        axes["n"] = [0]
    else:
        axes["n"] = _ints(where("n"), merged["n"], 0, N_MAX)
        if "guest" in axes["workload"] and any(x != 0 for x in axes["n"]):
            raise _bad(where("n"), merged["n"], "only 0 with workload guest (its chain lengths "
                       "come from the guest histogram); put guest in a grid of its own")
        if not only_guest and 0 in axes["n"]:
            raise _bad(where("n"), 0, f"integers from 1 to {N_MAX} for "
                       f"{', '.join(w for w in axes['workload'] if w != 'guest')}")
    axes["heads"] = _heads(where("heads"), merged.get("heads", "l2"))
    axes["order"] = _choices(where("order"), merged.get("order", "fifo"), ORDERS)
    axes["alloc"] = _choices(where("alloc"), merged.get("alloc", "bump"), ALLOCS)
    axes["seed"] = _ints(where("seed"), merged.get("seed", 1), 0, (1 << 63) - 1)

    # explicit head counts must fit the per-case cap at the grid's largest n
    nmax = max(max(axes["n"]), 1)
    for h in axes["heads"]:
        if _is_int(h) and h * nmax > options.max_sptes:
            raise _bad(where("heads"), h, f"heads * n <= options.max_sptes ({options.max_sptes}) "
                       f"at the grid's largest n ({nmax}): at most {options.max_sptes // nmax}")
    return Grid(index=index, name=name, axes=axes)


# -- footprints and expansion ------------------------------------------------

def desc_stride(variant: str, ext: int) -> int:
    """Bytes one descriptor takes in the arena: struct size rounded up to a
    line.  The size is the compiled library's at the variant's default EXT
    (its fixed part, plus 8 bytes per slot)."""
    return -(-_desc_size(variant, ext) // CACHELINE) * CACHELINE


@functools.lru_cache(maxsize=None)
def _desc_fixed(variant: str) -> int:
    lay = _variants.layout(variant)
    return lay.desc_size - 8 * lay.ext


def _desc_size(variant: str, ext: int) -> int:
    return _desc_fixed(variant) + 8 * ext


def descs_for(n: int, ext: int) -> int:
    """Descriptors one head of n sptes needs (none for 0 or 1: the head holds it)."""
    return 0 if n < 2 else -(-n // ext)


def bytes_per_head(workload: str, variant: str, ext: int, n: int) -> float:
    """Estimated bytes one head brings: its word, its sptes, its descriptors."""
    stride = desc_stride(variant, ext)
    if workload == "guest":
        total = sum(h for _, _, h in GUEST_HISTOGRAM)
        per = 0.0
        for lo, hi, h in GUEST_HISTOGRAM:
            length = round((lo + hi) / 2)
            per += h / total * (length * 8 + descs_for(length, ext) * stride)
        return 8 + per
    return 8 + n * 8 + descs_for(n, ext) * stride


def sptes_per_head(workload: str, n: int) -> float:
    """sptes one head holds: n, or the guest histogram's mean chain length."""
    if workload == "guest":
        total = sum(h for _, _, h in GUEST_HISTOGRAM)
        return sum(round((lo + hi) / 2) * h for lo, hi, h in GUEST_HISTOGRAM) / total
    return n


def estimate_footprint(case: dict) -> int:
    return int(case["heads"] * bytes_per_head(case["workload"], case["variant"],
                                              case["ext"], case["n"]))


def target_bytes(target: str, caches: dict) -> int:
    if target in TARGETS:
        cache, factor, _ = TARGETS[target]
        size = caches.get(cache)
        if not size:
            raise UsageError(f"footprint target {target!r} needs the {cache} size, which this "
                             f"host does not report: give heads as a count or a size like \"1MiB\"")
        return int(size * factor)
    return parse_size(target)


def caps_for(options: Options, backend: str | None) -> tuple[int, int, str]:
    """(max sptes, max bytes, key prefix) one case may use under this backend."""
    return get_backend(backend).caps(options)


def head_limit(workload: str, variant: str, ext: int, n: int, options: Options,
               backend: str | None = None) -> tuple[int, str]:
    """The most heads one case may have under the caps, and which cap that is."""
    max_sptes, max_bytes, prefix = caps_for(options, backend)
    per = bytes_per_head(workload, variant, ext, n)
    # the sptes a case adds (guest: heads x the histogram's mean chain length)
    limit_sptes = max(1, int(max_sptes // max(sptes_per_head(workload, n), 1e-6)))
    limit_bytes = max(1, int(max_bytes // per))
    if limit_sptes <= min(limit_bytes, HEADS_MAX):
        return limit_sptes, f"sptes capped at {prefix}max_sptes={max_sptes}"
    if limit_bytes <= HEADS_MAX:
        return limit_bytes, f"footprint capped at {prefix}max_footprint={fmt_size(max_bytes)}"
    return HEADS_MAX, f"heads capped at {HEADS_MAX}"


def resolve_heads(target, workload: str, variant: str, ext: int, n: int, caches: dict,
                  options: Options, backend: str | None = None
                  ) -> tuple[int, int | None, str | None]:
    """(heads, target bytes or None, why capped or None)."""
    if _is_int(target):
        return target, None, None
    want = target_bytes(target, caches)
    per = bytes_per_head(workload, variant, ext, n)
    heads = max(1, int(want // per))
    capped = None
    if heads == 1 and per > want:
        capped = f"one head ({fmt_size(per)}) is already larger than the target"
    limit, why = head_limit(workload, variant, ext, n, options, backend)
    if heads > limit:
        heads, capped = limit, why
    return heads, want, capped


def shared_heads(target, workload: str, pairs: list[tuple[str, int]], n: int, caches: dict,
                 options: Options, backend: str | None = None
                 ) -> tuple[int, int | None, str | None]:
    """One heads count for every variant of a grid point, so that variants are
    compared on the same workload (same guest pages, same sptes): for a target
    inside a cache the largest variant must fit (the smallest count), for
    "llc" the smallest variant must exceed it (the largest count); and no
    variant's cap is exceeded (the smallest limit)."""
    if _is_int(target):
        return target, None, None
    resolved = [resolve_heads(target, workload, v, e, n, caches, _UNCAPPED)
                for v, e in pairs]
    beyond = target in TARGETS and TARGETS[target][1] > 1
    heads = max(r[0] for r in resolved) if beyond else min(r[0] for r in resolved)
    capped = next((r[2] for r in resolved if r[2] and r[0] == heads), None)
    for v, e in pairs:
        limit, why = head_limit(workload, v, e, n, options, backend)
        if heads > limit:
            heads, capped = limit, why
    return heads, resolved[0][1], capped


def check_case(case: dict, options: Options | None = None, backend: str | None = None,
               bad=None) -> None:
    """The one validator of a case's parameters, for `run` and `sweep` alike:
    every value in its range, n as its workload allows, and the heads within
    the per-case caps (sptes and estimated footprint) of the backend.

    bad(key, value, allowed) makes the UsageError (default: the config's form
    `config KEY: bad value ...`)."""
    from .variants import EXT_MAX, EXT_MIN

    options = options or Options()
    bad = bad or _bad
    c = case
    if c.get("workload") not in WORKLOADS:
        raise bad("workload", c.get("workload"), ", ".join(WORKLOADS))
    for k, allowed in (("order", ORDERS), ("alloc", ALLOCS)):
        if c.get(k) not in allowed:
            raise bad(k, c.get(k), ", ".join(allowed))
    if not _is_int(c.get("ext")) or not EXT_MIN <= c["ext"] <= EXT_MAX:
        raise bad("ext", c.get("ext"), f"an integer from {EXT_MIN} to {EXT_MAX}")
    n, w = c.get("n"), c["workload"]
    if not _is_int(n) or not 0 <= n <= N_MAX:
        raise bad("n", n, f"an integer from 0 to {N_MAX}")
    if w == "guest" and n != 0:
        raise bad("n", n, "only 0 with workload guest (its chain lengths come from the "
                  "guest histogram)")
    if w != "guest" and n == 0:
        raise bad("n", n, f"an integer from 1 to {N_MAX} for workload {w}")
    heads = c.get("heads")
    if not _is_int(heads) or not 1 <= heads <= HEADS_MAX:
        raise bad("heads", heads, f"an integer from 1 to {HEADS_MAX}")
    seed = c.get("seed")
    if not _is_int(seed) or not 0 <= seed <= (1 << 63) - 1:
        raise bad("seed", seed, f"an integer from 0 to {(1 << 63) - 1}")
    max_sptes, max_bytes, prefix = caps_for(options, backend)
    if w != "guest" and heads * max(n, 1) > max_sptes:    # guest: head_limit's histogram mean
        raise bad("heads", heads, f"heads * n <= {prefix}max_sptes ({max_sptes}) at n = {n}: "
                  f"at most {max_sptes // max(n, 1)}")
    limit, why = head_limit(w, c["variant"], c["ext"], n, options, backend)
    if heads > limit:
        raise bad("heads", heads, f"at most {limit} heads for {c['variant']}@{c['ext']} at "
                  f"n = {n} ({why})")


def expand(cfg: SweepConfig, caches: dict, cpu: int, backend: str | None = None
           ) -> list[Planned]:
    """Every distinct case of the union of the grids, in grid order.

    backend: the plan's chosen backend; "sim" applies the sim_max_* caps."""
    from .results import case_key

    out: list[Planned] = []
    seen: set[str] = set()
    for g in cfg.grids:
        a = g.axes
        pairs = []          # (variant, ext) of this grid, in order
        for (variant, pinned), ext_spec in itertools.product(a["variant"], a["ext"]):
            if pinned is not None:
                ext = pinned
            else:
                ext = _variants.default_ext(variant) if ext_spec == "default" else ext_spec
            if (variant, ext) not in pairs:
                pairs.append((variant, ext))
        for workload, n, target, order, alloc, seed in itertools.product(
                a["workload"], a["n"], a["heads"], a["order"], a["alloc"], a["seed"]):
            heads, want, capped = shared_heads(target, workload, pairs, n, caches,
                                               cfg.options, backend)
            for variant, ext in pairs:
                case = {"workload": workload, "variant": variant, "ext": ext, "n": n,
                        "heads": heads, "order": order, "alloc": alloc, "seed": seed,
                        "cpu": cpu}
                key = case_key(case)
                if key in seen:
                    continue
                check_case(case, cfg.options, backend,
                           lambda k, v, a: _bad(f"{g.key}.{k} (at {variant}@{ext} n={n})",
                                                v, a))
                seen.add(key)
                out.append(Planned(case=case, grid=g.name,
                                   target=None if _is_int(target) else target,
                                   target_bytes=want, footprint=estimate_footprint(case),
                                   capped=capped))
    return out


def describe_caps(planned: list[Planned]) -> list[str]:
    """One line per (grid, target, reason) whose heads were capped."""
    seen = {}
    for p in planned:
        if p.capped:
            k = (p.grid, p.target, p.capped)
            seen.setdefault(k, []).append(p)
    lines = []
    for (grid, target, why), ps in seen.items():
        lo = min(p.footprint for p in ps)
        hi = max(p.footprint for p in ps)
        lines.append(f"grid {grid}: {len(ps)} case(s) with target {target!r} "
                     f"({fmt_size(ps[0].target_bytes)}) {why}: estimated footprint "
                     f"{fmt_size(lo)} .. {fmt_size(hi)}")
    return lines

