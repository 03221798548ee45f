"""Run directories: the tidy results table, pyperf JSON and meta, on disk.

A run directory is written so that an interrupted run loses nothing already
measured and never holds a file that looks complete but is not:

  parts/<case>.parquet       one per finished case, written atomically
  parts/<case>.pyperf.json   that case's pyperf benchmarks (written first)
  meta.json                  always present; "status" is "incomplete" until
                             finalize() has written everything below
  results.parquet            all parts concatenated   (written by finalize)
  pyperf.json                all pyperf parts merged  (written by finalize)

A case's parquet part is the last file written for it, so its presence is
the mark that the case is finished.  begin() removes a stale results.parquet
and pyperf.json before anything is measured, so the only complete-looking
results are those of a finalized run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import UsageError

# DESIGN.md section 8, in order; then what rmapbench adds.
COLUMNS = ["run_id", "host", "backend", "workload", "phase", "variant", "ext", "n",
           "heads", "order", "alloc", "seed", "cpu", "metric", "value", "unit", "ops",
           "loops", "process", "sample", "enabled_ratio"]
EXTRA_COLUMNS = ["simulated", "footprint"]
CASE_KEYS = ["workload", "variant", "ext", "n", "heads", "order", "alloc", "seed"]


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write to a temporary file beside path, fsync, then rename over it.

    An output that cannot be written (no permission, a directory or a file in
    the way, a full or read-only file system) is a UsageError naming it."""
    path = Path(path)
    _regular_or_absent(path, "cannot write")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.chmod(f.fileno(), 0o666 & ~_umask())   # mkstemp makes 0600
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write {str(path)!r}: {e.strerror or e}: a writable "
                         "file path (in a writable directory) is needed") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _regular_or_absent(path: Path, what: str) -> None:
    """An output path may be absent or a regular file: a device, FIFO or socket
    there is never replaced by a rename (nor written through)."""
    import stat

    try:
        st = path.stat()
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{what} {str(path)!r}: it is a device, FIFO or socket: a regular "
                         "file path is allowed")


def parse_json(text: str, where: str, allowed: str):
    """JSON text of a file in a run directory (meta.json, check.json, a pyperf
    part): any way it is not valid JSON, nested too deeply or holds an integer
    longer than Python converts (sys.get_int_max_str_digits()) is one
    UsageError naming where."""
    import sys

    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{where} is corrupt: not valid JSON ({e.msg} at line "
                         f"{e.lineno}): {allowed} is allowed") from None
    except RecursionError:
        raise UsageError(f"{where} is corrupt: values nested too deeply: {allowed} is "
                         "allowed") from None
    except ValueError:
        raise UsageError(f"{where} is corrupt: it holds an integer of more than "
                         f"{sys.get_int_max_str_digits()} digits: {allowed} is "
                         "allowed") from None


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def path_problem(path: str | Path) -> str | None:
    """Why path cannot be reached, naming the component at fault: a symbolic
    link loop, a dangling symbolic link, a file where a directory is needed, a
    directory that may not be searched; None when path exists or is simply
    absent (its missing components can be created).  The text follows the
    path as the caller names it: "is a symbolic link loop ..." for path
    itself, ": '/x/l' is a symbolic link loop ..." for a component."""
    import errno

    p = Path(os.path.abspath(path))

    def at(q: Path, what: str) -> str:
        return f" {what}" if q == p else f": {str(q)!r} {what}"

    for q in [*reversed(p.parents), p]:
        try:
            os.stat(q)
        except FileNotFoundError:
            if os.path.lexists(q):
                return at(q, f"is a dangling symbolic link (to {os.readlink(q)!r})")
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                return at(q, "is a symbolic link loop (too many levels of symbolic links)")
            if e.errno == errno.EACCES:
                return at(q, "cannot be reached: permission denied")
            return at(q, f"cannot be reached: {e.strerror or e}")
        if q != p and not os.path.isdir(q):
            return at(q, "is not a directory")
    return None


def _probe_dir(base: Path) -> str | None:
    """Create (and remove) a directory in base: None if that works, else why
    not (a read-only file system, /proc, no permission)."""
    try:
        d = tempfile.mkdtemp(prefix=".rmapbench-probe-", dir=base)
    except OSError as e:
        return e.strerror or str(e)
    try:
        os.rmdir(d)
    except OSError:
        pass
    return None


def check_output_dir(path: str | Path, flag: str = "--out", empty: bool = True) -> Path:
    """Before anything runs: path can become an output directory (absent, or a
    directory, and empty unless empty=False) in a place this process may write.
    Creates nothing."""
    if str(path) == "":
        raise UsageError(f"{flag} '': a directory path is allowed")
    p = Path(path)
    why = path_problem(p)
    if why is not None:
        raise UsageError(f"{flag} {str(p)!r}{why}: a new or empty directory in a writable "
                         "place is allowed")
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {str(p)!r} exists and is not a directory: a new or "
                         "empty directory is allowed")
    if empty and p.is_dir() and any(p.iterdir()):
        raise UsageError(f"{flag} {str(p)!r} is not empty: a new or empty directory is "
                         "allowed (a run directory holds one run)")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise UsageError(f"{flag} {str(p)!r}: {str(base)!r} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {str(p)!r}: {str(base)!r} is not writable by this user")
    # permissions are not the whole story (/proc, a read-only file system, root):
    # one directory made and removed there, before anything is measured
    why = _probe_dir(base)
    if why is not None:
        raise UsageError(f"{flag} {str(p)!r}: a directory cannot be created in "
                         f"{str(base)!r} ({why}): a new or empty directory in a writable "
                         "place is allowed")
    return p


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """Before anything runs: path can be written as a file. Creates nothing."""
    if str(path) == "":
        raise UsageError(f"{flag} '': a file path is allowed")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {str(p)!r} is a directory: a file path is allowed")
    _regular_or_absent(p, flag)
    base = _nearest_existing(p.parent)      # written by a rename beside it
    if not base.is_dir():
        raise UsageError(f"{flag} {str(p)!r}: {str(base)!r} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {str(p)!r}: {str(base)!r} is not writable by this user")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def case_key(case: dict) -> str:
    """A stable, file-name-safe key for one case's parameters."""
    parts = [f"{k}={case[k]}" for k in CASE_KEYS if k in case]
    text = ",".join(parts)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    readable = "-".join(str(case.get(k, "")) for k in ("workload", "variant", "ext", "n"))
    return f"{readable}-{digest}".replace("/", "_")


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.parts = self.path / "parts"

    # -- writing ---------------------------------------------------------
    def begin(self, meta: dict) -> None:
        """Start (or resume) a run: mark it incomplete, drop stale outputs."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"output {str(self.path)!r} exists and is not a directory")
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create run directory {str(self.path)!r}: {e.strerror}") from None
        for name in ("results.parquet", "pyperf.json"):
            (self.path / name).unlink(missing_ok=True)
        self.write_meta({**meta, "status": "incomplete"})

    def write_meta(self, meta: dict) -> None:
        """meta.json at the current format version (bench.meta.FORMAT_VERSION),
        checked against its schema before it is written."""
        from .meta import MetaError, current

        try:
            meta = current(json.loads(json.dumps(meta, default=str)))
        except MetaError as e:
            raise ValueError(f"meta.json for {str(self.path)!r} would not hold: {e}") from None
        atomic_write(self.path / "meta.json", json.dumps(meta, indent=2))

    def read_meta(self) -> dict:
        """meta.json, bounded, parsed, migrated to the current format version
        and checked against its schema: any fault is one UsageError naming
        the field and what is allowed."""
        from .errors import decode_text, read_user_bytes
        from .meta import MetaError, current

        p = self.path / "meta.json"
        if not p.exists() and not p.is_symlink():
            raise UsageError(f"{str(self.path)!r} is not a run directory (no meta.json)")
        if p.is_dir():
            raise UsageError(f"{str(p)!r} is a directory: a run's meta.json file is needed")
        text = decode_text(read_user_bytes(p, "meta.json"), f"{str(p)!r}")
        meta = parse_json(text, repr(str(p)), "the meta.json rmapbench writes")
        if not isinstance(meta, dict):
            raise UsageError(f"{str(p)!r} is corrupt: a JSON object is allowed")
        try:
            return current(meta)
        except MetaError as e:
            raise UsageError(f"{str(p)!r} is corrupt: {e}") from None
        except RecursionError:
            raise UsageError(f"{str(p)!r} is corrupt: values nested too deeply") from None

    def is_complete(self) -> bool:
        """A finalized run: meta.json says complete AND results.parquet is there
        (a complete run whose results were deleted is not complete)."""
        try:
            meta = self.read_meta()
        except UsageError:
            return False
        return meta.get("status") == "complete" and (self.path / "results.parquet").is_file()

    def write_case(self, key: str, rows: list[dict], pyperf_json: str | None = None) -> None:
        """Persist one finished case; the parquet part goes last."""
        import pandas as pd

        if pyperf_json is not None:
            atomic_write(self.parts / f"{key}.pyperf.json", pyperf_json)
        df = pd.DataFrame(rows)
        for col in COLUMNS:
            if col not in df.columns:
                raise ValueError(f"result rows lack column {col!r}")
        # DESIGN.md section 8's columns in order, then rmapbench's, then any others
        order = COLUMNS + [c for c in EXTRA_COLUMNS if c in df.columns]
        df = df[order + [c for c in df.columns if c not in order]]
        buf = df.to_parquet(index=False)
        atomic_write(self.parts / f"{key}.parquet", buf)

    def finished_keys(self) -> set[str]:
        if not self.parts.is_dir():
            return set()
        # only regular files: a FIFO or device named like a part is never read
        return {p.name[: -len(".parquet")] for p in self.parts.glob("*.parquet")
                if not p.name.startswith(".") and p.is_file()}

    def finalize(self, meta: dict, keys: list[str] | None = None) -> None:
        """Concatenate the parts into results.parquet and pyperf.json, then
        mark meta.json complete (last).

        keys: the cases of the run, in the order their rows should appear
        (default: every finished part, sorted).  Every one must be finished.
        A pyperf part without its parquet part (a case interrupted while
        being written) is never merged."""
        import pandas as pd

        if keys is None:
            keys = sorted(self.finished_keys())
        missing = [k for k in keys if not (self.parts / f"{k}.parquet").is_file()]
        if missing:
            raise ValueError(f"cannot finalize {self.path}: {len(missing)} case(s) not "
                             f"finished, e.g. {missing[0]}")
        frames = [pd.read_parquet(self.parts / f"{k}.parquet") for k in keys]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
        pyperf_parts = [p for p in (self.parts / f"{k}.pyperf.json" for k in keys)
                        if p.is_file()]
        # everything made and checked before the first file is written: a table
        # the loader would refuse, or a pyperf part that cannot be read, leaves
        # the run as it was (incomplete), never half-finalized
        if frames:
            check_results(df.copy(), f"{str(self.parts)!r} (the run's parts together)")
        pyperf_text = merge_pyperf(pyperf_parts) if pyperf_parts else None
        atomic_write(self.path / "results.parquet", df.to_parquet(index=False))
        if pyperf_text is not None:
            atomic_write(self.path / "pyperf.json", pyperf_text)
        self.write_meta({**meta, "status": "complete", "cases": len(frames)})


# -- results.parquet: its schema, checked on load ------------------------------

RESULTS_LIMIT = 4 << 30      # bytes of one results.parquet, at most
UNITS = ["ns/op", "events/op"]
# columns whose values are whole numbers, with their allowed range
INT_COLUMNS = {"ext": (2, 64), "n": (0, 1 << 20), "heads": (1, 1 << 26),
               "seed": (0, (1 << 63) - 1), "cpu": (0, 1 << 16), "ops": (1, 1 << 62),
               "loops": (1, 1 << 62), "process": (0, 1 << 30), "sample": (0, 1 << 40)}
# a value per op beyond this (ns: 11 days) is no measurement; sums and means of
# many such values would overflow (a report of 1e308s is inf and warnings)
VALUE_MAX = 1e15
STR_COLUMNS = ["run_id", "host", "backend", "workload", "phase", "variant", "order", "alloc",
               "metric", "unit"]


def _results_bad(where: str, col: str, value, row: int, allowed: str) -> UsageError:
    if value is None or (isinstance(value, float) and value != value):
        return UsageError(f"{where} column {col!r} holds null (row {row}): {allowed} "
                          "is allowed")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()        # a numpy scalar, shown as the plain value
        except (ValueError, TypeError):
            pass
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return UsageError(f"{where} column {col!r} holds {shown} (row {row}): {allowed} "
                      "is allowed")


def check_results(df, where: str):
    """results.parquet's schema (docs/internals.md section 4) on a loaded
    DataFrame: every column present, no nulls where a value is needed,
    numbers finite and in range, names from their lists.  Returns df with
    the number columns as numbers."""
    import numpy as np
    import pandas as pd

    from .backends import NAMES as BACKENDS
    from .variants import NAME_RE
    from .workloads import ALLOCS, ORDERS, PHASES

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise UsageError(f"{where} lacks column(s) {', '.join(missing)}: the schema needs "
                         f"{', '.join(COLUMNS + EXTRA_COLUMNS)}")
    if df.empty:
        raise UsageError(f"{where} has no rows: a run with at least one measured value is "
                         "needed")

    def first_bad(col, mask, allowed):
        if mask.any():
            i = int(np.flatnonzero(np.asarray(mask))[0])
            raise _results_bad(where, col, df[col].iloc[i], i, allowed)

    for col in STR_COLUMNS:
        s = df[col]
        first_bad(col, ~s.map(lambda v: isinstance(v, str) and v != ""), "a non-empty string")
    first_bad("backend", ~df["backend"].isin(BACKENDS[1:]), ", ".join(BACKENDS[1:]))
    first_bad("workload", ~df["workload"].isin(list(PHASES)), ", ".join(PHASES))
    ok_phase = [ph in PHASES.get(w, ()) for w, ph in zip(df["workload"], df["phase"])]
    first_bad("phase", ~np.asarray(ok_phase, dtype=bool),
              "the phases of the row's workload (" +
              "; ".join(f"{w}: {', '.join(p)}" for w, p in PHASES.items()) + ")")
    first_bad("order", ~df["order"].isin(ORDERS), ", ".join(ORDERS))
    first_bad("alloc", ~df["alloc"].isin(ALLOCS), ", ".join(ALLOCS))
    first_bad("unit", ~df["unit"].isin(UNITS), ", ".join(UNITS))
    first_bad("variant", ~df["variant"].map(lambda v: bool(NAME_RE.fullmatch(v))),
              "a variant name (letters, digits and ._+-)")
    for col, (lo, hi) in INT_COLUMNS.items():
        s = df[col]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            num = pd.to_numeric(s.map(lambda v: v if isinstance(v, (int, float)) and
                                      not isinstance(v, bool) else None), errors="coerce")
        else:
            num = s.astype(float)
        f = num.astype(float)
        first_bad(col, ~np.isfinite(f) | (f != np.floor(f)) | (f < lo) | (f > hi),
                  f"whole numbers from {lo} to {hi}")
        df[col] = num.astype("int64")
    for col, ok, allowed in (("value", lambda f: np.isfinite(f) & (np.abs(f) <= VALUE_MAX),
                              f"finite numbers (of magnitude at most {VALUE_MAX:g} per op)"),
                             ("enabled_ratio", lambda f: np.isnan(f) | ((f >= 0) & (f <= 1.000001)),
                              "a fraction from 0 to 1, or null")):
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_numeric_dtype(s)
                                                   or s.isna().all()):
            first_bad(col, ~s.map(lambda v: v is None or (isinstance(v, (int, float))
                                                        and not isinstance(v, bool))),
                      allowed)
        f = pd.to_numeric(s, errors="coerce").astype(float)
        first_bad(col, ~ok(f), allowed)
        df[col] = f
    if "simulated" in df.columns:
        first_bad("simulated", ~df["simulated"].map(lambda v: isinstance(v, (bool, np.bool_))),
                  "true or false")
        wrong = df["simulated"].astype(bool) != (df["backend"] == "sim")
        if wrong.any():
            i = int(np.flatnonzero(np.asarray(wrong))[0])
            raise UsageError(f"{where} row {i} has backend {df['backend'].iloc[i]!r} with "
                             f"simulated={bool(df['simulated'].iloc[i])}: simulated must be "
                             "true exactly for backend sim")
    if "footprint" in df.columns:
        s = df["footprint"]
        f = pd.to_numeric(s, errors="coerce").astype(float) \
            if not pd.api.types.is_bool_dtype(s) else s.astype(float) * np.nan
        first_bad("footprint", (s.notna() & ~np.isfinite(f)) | (f < 0),
                  "a size in bytes (>= 0) or null")
        df["footprint"] = f
    _check_optional(df, first_bad)
    return df


# Columns a timed run adds (docs/internals.md section 4), each checked where
# present: (kind, low, high, allowed).  kind: "whole" numbers, "num" (finite
# numbers), "num+inf" (numbers, +inf allowed: an interval that never closed),
# "str", "bool", or a list of the allowed strings.  Null is allowed in every
# one (rows of another backend, runs from before a column), except where
# REQUIRED_WHEN_TIMED says.
OPTIONAL_COLUMNS = {
    "epoch": ("whole", 0, 1 << 40, "whole numbers from 0, or null"),
    "retries": ("whole", 0, 1 << 30, "whole numbers from 0, or null"),
    "disturbed": ("bool", None, None, "true or false, or null"),
    "reasons": ("str", None, None, "text, or null"),
    "wall_ns": ("num", 0, None, "numbers >= 0, or null"),
    "cpu_ns": ("num", 0, None, "numbers >= 0, or null"),
    "nivcsw": ("num", 0, None, "numbers >= 0, or null"),
    "faults": ("num", 0, None, "numbers >= 0, or null"),
    "migrations": ("num", 0, None, "numbers >= 0, or null"),
    "fixed_ns": ("num", None, None, "finite numbers, or null"),
    "null_ns_per_op": ("num", None, None, "finite numbers, or null"),
    "kmem_pages": (["2M", "4K"], None, None, "2M or 4K, or null"),
    "kmem_huge": ("num", 0, 1, "a fraction from 0 to 1, or null"),
    "halfwidth": ("num+inf", 0, 1e6, "a half-width from 0 to 1e6 (a fraction), inf (no "
                  "interval) or null"),
    "halfwidth_of": ("str", None, None, "text (\"mean\" or \"ratio to ...\"), or null"),
    "remeasured": ("whole", 0, 1 << 40, "whole numbers from 0"),
    "remeasure_reasons": ("str", None, None, "text (\"reason count, ...\"), or null"),
    "disturbed_kept": ("whole", 0, 1 << 40, "whole numbers from 0, or null"),
    "processes": ("whole", 1, 1 << 30, "whole numbers from 1"),
    "stopped": ("str", None, None, "text (precision, budget or processes), or null"),
    "timing_s": ("num", 0, 1e9, "seconds from 0 to 1e9, or null"),
}
# on the rows of a timed case (halfwidth_of set) these need a value: the
# report counts them per case
REQUIRED_WHEN_TIMED = {"remeasured", "processes"}


def _check_optional(df, first_bad) -> None:
    """The optional columns' types and ranges (OPTIONAL_COLUMNS); a number
    column stored as objects is left as floats.  Vectorized where the column's
    type says enough (a results table has rows by the hundred thousand); a
    value is looked at one by one only to find a bad one."""
    import numpy as np
    import pandas as pd

    def is_null(v) -> bool:
        return v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and v != v)

    def kind_of(s) -> str:
        return pd.api.types.infer_dtype(s, skipna=True)

    timed = (df["halfwidth_of"].notna() if "halfwidth_of" in df.columns
             else pd.Series(False, index=df.index))
    for col, (kind, lo, hi, allowed) in OPTIONAL_COLUMNS.items():
        if col not in df.columns:
            continue
        s = df[col]
        null = s.isna()
        if col in REQUIRED_WHEN_TIMED:
            first_bad(col, null & timed, allowed + " on the rows of a timed case")
            allowed += " (null on other rows)"
        if kind == "str" or isinstance(kind, list):
            if kind_of(s) not in ("string", "empty"):
                first_bad(col, ~s.map(lambda v: is_null(v) or isinstance(v, str)).astype(bool),
                          allowed)
            if isinstance(kind, list):
                first_bad(col, ~null & ~s.isin(kind), allowed)
            continue
        if kind == "bool":
            if kind_of(s) not in ("boolean", "empty"):
                first_bad(col, ~s.map(lambda v: is_null(v) or isinstance(v, (bool, np.bool_)))
                          .astype(bool), allowed)
            continue
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            if kind_of(s) not in ("integer", "floating", "mixed-integer-float", "empty"):
                first_bad(col, ~s.map(lambda v: is_null(v) or (
                    isinstance(v, (int, float, np.integer, np.floating))
                    and not isinstance(v, (bool, np.bool_)))).astype(bool), allowed)
        f = pd.to_numeric(s, errors="coerce").astype(float)
        bad = ~null & ~(np.isfinite(f) | ((kind == "num+inf") & (f == np.inf)))
        if lo is not None:
            bad |= ~null & (f < lo)
        if hi is not None:
            bad |= ~null & (f > hi) & np.isfinite(f)
        if kind == "whole":
            bad |= ~null & np.isfinite(f) & (f != np.floor(f))
        first_bad(col, bad, allowed)
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            df[col] = f


def load_results(path: str | Path):
    """A run's results.parquet as a DataFrame, bounded and checked against the
    schema: any fault is one UsageError naming the column, the value and what
    is allowed."""
    import stat

    import pandas as pd
    import pyarrow

    res = Path(path)
    where = repr(str(res))
    try:
        st = res.stat()
    except FileNotFoundError:
        raise UsageError(f"{where} is missing: a finalized run's results.parquet is "
                         "needed") from None
    except OSError as e:
        raise UsageError(f"{where} cannot be read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{where} is not a regular file: a parquet file is allowed")
    if st.st_size > RESULTS_LIMIT:
        raise UsageError(f"{where} is larger than {RESULTS_LIMIT >> 30} GiB: at most that "
                         "is allowed")
    try:
        df = pd.read_parquet(res)
    except (OSError, ValueError, TypeError, KeyError, IndexError,
            pyarrow.ArrowException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{where} is not readable parquet ({first[:120]}): the "
                         "results.parquet rmapbench writes is allowed") from None
    return check_results(df, where)


PYPERF_PART_LIMIT = 256 << 20     # bytes of one pyperf part, at most


def load_pyperf_part(path: Path):
    """One case's pyperf part as a pyperf.BenchmarkSuite: bounded, valid JSON,
    and a suite pyperf reads; anything else is one UsageError naming the file."""
    import io

    import pyperf

    from .errors import decode_text, read_user_bytes

    where = repr(str(path))
    allowed = "the pyperf JSON a sweep writes"
    text = decode_text(read_user_bytes(path, "pyperf part", PYPERF_PART_LIMIT), where)
    try:
        return pyperf.BenchmarkSuite.load(io.StringIO(text))
    except Exception as e:      # pyperf's own checks raise anything from KeyError to TypeError
        parse_json(text, where, allowed)        # not JSON at all: that message, parsed once more
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{where} is corrupt: not a pyperf suite ({first[:100]}): "
                         f"{allowed} is allowed") from None


def merge_pyperf(paths: list[Path]) -> str:
    """One pyperf suite from several files (benchmark names are unique per case)."""
    import pyperf

    benchmarks = []
    for p in paths:
        benchmarks.extend(load_pyperf_part(p).get_benchmarks())
    suite = pyperf.BenchmarkSuite(benchmarks)
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        suite.dump(tmp, replace=True)
        return Path(tmp).read_text()
    finally:
        os.unlink(tmp)
