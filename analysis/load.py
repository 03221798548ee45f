"""Load finished run directories into one tidy pandas DataFrame.

Only complete runs are accepted (docs/internals.md sections 4 and 5): a run
directory must hold a meta.json whose status is "complete" and a readable
results.parquet with every column of the schema.  Anything else is refused
with a one-line bench.errors.UsageError naming the bad input, so a report is
never built from a partial or corrupt run.

Columns added here (not in the stored schema):
  run_dir  the directory the row came from (str)
  label    the series name used by the analysis: the variant, or
           "variant@EXT" when the row's EXT is not the variant's default
           (the sweep config's notation, e.g. old@14)
  size     which working-set size of a case this is, comparable across series:
           0 for the smallest heads of its (workload, phase, n, order, alloc,
           seed, series), 1 for the next, ...  A sweep may size heads from a
           footprint target ("l2", "llc"), which gives each variant and n its
           own head count; the rank lines the series up again.  With a plain
           head count every series has the same heads at the same rank.
  size_label  plain words for a size: "heads=1000" when every series and n
           had that count, else "footprint ~512.0 KiB" (the cases' median)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UsageError
from bench.results import COLUMNS, EXTRA_COLUMNS

# Columns whose values must be numbers.
NUMERIC_COLUMNS = ["ext", "n", "heads", "seed", "cpu", "value", "ops", "loops",
                   "process", "sample", "enabled_ratio"]
# ... and those no row may leave missing or non-finite (a corrupt or hand-made
# file would otherwise give a report of NaNs, or a traceback).
REQUIRED_NUMERIC = ["ext", "n", "heads", "seed", "value", "ops", "loops"]


@dataclass
class Run:
    """One loaded run directory."""
    path: Path
    meta: dict
    df: "object"  # pandas.DataFrame
    check: list | None = None  # contents of check.json (or meta["check"]), if any


@dataclass
class Loaded:
    """Several runs merged: df is the concatenation, host is a column."""
    runs: list[Run]
    df: "object" = field(repr=False)  # pandas.DataFrame

    @property
    def hosts(self) -> list[str]:
        return sorted(self.df["host"].astype(str).unique())

    def meta_for_host(self, host: str) -> list[dict]:
        return [r.meta for r in self.runs if host in set(r.df["host"].astype(str))]


def series_label(variant: str, ext: int) -> str:
    """The variant's name if ext is its default EXT, else "variant@EXT"."""
    from bench.variants import VARIANTS

    rec = VARIANTS.get(variant)
    default = rec.ext if rec else None
    return variant if default == int(ext) else f"{variant}@{int(ext)}"


SIZE_RANK_KEYS = ["run_id", "host", "backend", "workload", "phase", "n", "order", "alloc",
                  "seed", "label"]
SIZE_LABEL_KEYS = ["run_id", "host", "backend", "workload", "phase", "order", "alloc", "size"]


def add_size_keys(df):
    """Add the size and size_label columns (see the module docstring)."""
    from .fmt import human_bytes

    df["size"] = (df.groupby(SIZE_RANK_KEYS, dropna=False)["heads"]
                  .rank(method="dense").astype(int) - 1)
    labels = {}
    for key, g in df.groupby(SIZE_LABEL_KEYS, dropna=False):
        heads = g["heads"].unique()
        if len(heads) == 1:
            labels[key] = f"heads={int(heads[0])}"
        else:
            fp = g["footprint"].dropna()
            labels[key] = (f"footprint ~{human_bytes(float(fp.median()))}" if len(fp)
                           else f"heads {int(heads.min())}..{int(heads.max())}")
    idx = list(df[SIZE_LABEL_KEYS].itertuples(index=False, name=None))
    df["size_label"] = [labels[k] for k in idx]
    return df


def _read_check(path: Path, meta: dict) -> list | None:
    p = path / "check.json"
    if p.exists():
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            raise UsageError(f"{str(p)!r} is corrupt: not valid JSON") from None
        where = str(p)
    elif "check" in meta:
        data, where = meta["check"], f"{str(path / 'meta.json')!r} key 'check'"
    else:
        return None
    if not isinstance(data, list) or not all(isinstance(d, dict) and "variant" in d for d in data):
        raise UsageError(f"{where} is malformed: a JSON list of objects with a 'variant' "
                         "key (rmapbench check --json) is allowed")
    return data


def load_run(path: str | Path) -> Run:
    """Load one complete run directory; UsageError if it is missing, partial or corrupt."""
    import numpy as np
    import pandas as pd
    import pyarrow

    from bench.results import RunDir

    path = Path(path)
    if not path.exists():
        raise UsageError(f"run directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise UsageError(f"{str(path)!r} is not a run directory (not a directory)")
    meta = RunDir(path).read_meta()
    if not isinstance(meta, dict):
        raise UsageError(f"{str(path / 'meta.json')!r} is corrupt: a JSON object is allowed")
    status = meta.get("status")
    if status != "complete":
        raise UsageError(f"run {str(path)!r} is {status or 'without status'} (meta.json status "
                         f"{status!r}): only complete runs are allowed; finish or resume it first")
    res = path / "results.parquet"
    if not res.exists():
        raise UsageError(f"run {str(path)!r} has no results.parquet: only finalized runs are allowed")
    if not res.is_file():
        raise UsageError(f"{str(res)!r} is not a file: a parquet file is allowed")
    try:
        df = pd.read_parquet(res)
    except (OSError, ValueError, pyarrow.ArrowException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{str(res)!r} is not readable parquet: {first}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise UsageError(f"{str(res)!r} lacks column(s) {', '.join(missing)}: "
                         f"the schema needs {', '.join(COLUMNS + EXTRA_COLUMNS)}")
    if df.empty:
        raise UsageError(f"{str(res)!r} has no rows: a run with at least one measured value is needed")
    for c in NUMERIC_COLUMNS:
        if not pd.api.types.is_numeric_dtype(df[c]):
            coerced = pd.to_numeric(df[c], errors="coerce")
            if coerced.isna().any() and not df[c].isna().all():
                bad = df[c][coerced.isna()].iloc[0]
                raise UsageError(f"{str(res)!r} column {c!r} holds {bad!r}: numbers are allowed")
            df[c] = coerced
    for c in REQUIRED_NUMERIC:
        bad = ~np.isfinite(df[c].astype(float))
        if bad.any():
            raise UsageError(f"{str(res)!r} column {c!r} holds {float(df[c][bad].iloc[0])!r}: "
                             "finite numbers are allowed")
    is_sim = df["backend"].astype(str) == "sim"
    if "simulated" not in df.columns:
        # internals.md section 4: simulated is true exactly for backend sim.
        df["simulated"] = is_sim
    else:
        df["simulated"] = df["simulated"].astype(bool)
        wrong = df["simulated"] != is_sim
        if wrong.any():
            row = df[wrong].iloc[0]
            raise UsageError(f"{str(res)!r} row has backend {row['backend']!r} with simulated="
                             f"{bool(row['simulated'])}: simulated must be true exactly for backend sim")
    if "footprint" not in df.columns:
        df["footprint"] = float("nan")
    df["run_dir"] = str(path)
    df["host"] = df["host"].astype(str)
    df["label"] = [series_label(v, e) for v, e in zip(df["variant"], df["ext"])]
    add_size_keys(df)
    return Run(path=path, meta=meta, df=df, check=_read_check(path, meta))


def load_runs(paths) -> Loaded:
    """Load several run directories into one DataFrame (host is a column)."""
    import pandas as pd

    paths = [Path(p) for p in paths]
    if not paths:
        raise UsageError("no run directory given: at least one is needed")
    runs: list[Run] = []
    seen: dict[str, Path] = {}
    for p in paths:
        r = load_run(p)
        for rid in sorted(r.df["run_id"].astype(str).unique()):
            if rid in seen:
                raise UsageError(f"run_id {rid!r} is in both {str(seen[rid])!r} and {str(p)!r}: "
                                 "each run may be given once")
            seen[rid] = p
        runs.append(r)
    df = pd.concat([r.df for r in runs], ignore_index=True)
    return Loaded(runs=runs, df=df)
