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

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UsageError


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


# keys of a check entry (rmapbench check --json) that the report reads as
# objects: {can_miss, bounds, counterexample, ...} or null
CHECK_RACE_KEYS = ("race", "race_without_lock", "race_stores")


def check_entries(data, where: str) -> list:
    """check.json's structure as the report reads it: a list of objects, each
    with a 'variant' string, its race results objects (or null) whose
    can_miss is true, false or null.  Anything else is one UsageError naming
    where, the entry and the key."""
    allowed = "(rmapbench check --json)"
    if not isinstance(data, list):
        raise UsageError(f"{where} is malformed: a JSON list of objects with a 'variant' "
                         f"key {allowed} is allowed")
    for i, d in enumerate(data):
        if not isinstance(d, dict) or "variant" not in d:
            raise UsageError(f"{where} is malformed: entry [{i}] is not an object with a "
                             f"'variant' key: a JSON list of such objects {allowed} is allowed")
        if not isinstance(d["variant"], str):
            raise UsageError(f"{where} is malformed: [{i}].variant is {_json_shown(d['variant'])}:"
                             f" a variant name (a string) {allowed} is allowed")
        for k in CHECK_RACE_KEYS:
            r = d.get(k)
            if r is not None and not isinstance(r, dict):
                raise UsageError(f"{where} is malformed: [{i}].{k} is {_json_shown(r)}: an "
                                 "object {can_miss, bounds, counterexample} or null "
                                 f"{allowed} is allowed")
            if isinstance(r, dict) and r.get("can_miss") not in (True, False, None):
                raise UsageError(f"{where} is malformed: [{i}].{k}.can_miss is "
                                 f"{_json_shown(r['can_miss'])}: true, false or null "
                                 f"{allowed} is allowed")
    return data


def _json_shown(v) -> str:
    from bench.meta import json_text

    t = json_text(v)
    return t if len(t) <= 60 else t[:57] + "..."


def _read_check(path: Path, meta: dict) -> list | None:
    p = path / "check.json"
    if p.exists() or p.is_symlink():
        from bench.errors import decode_text, read_user_bytes
        from bench.results import parse_json

        where = repr(str(p))
        data = parse_json(decode_text(read_user_bytes(p, "check.json"), where), where,
                          "the JSON rmapbench check --json writes")
    elif "check" in meta:
        data, where = meta["check"], f"{str(path / 'meta.json')!r} key 'check'"
    else:
        return None
    return check_entries(data, where)


def load_run(path: str | Path) -> Run:
    """Load one complete run directory; UsageError if it is missing, partial or corrupt."""
    from bench.results import RunDir, load_results

    from bench.results import path_problem

    path = Path(path)
    why = path_problem(path)
    if why is not None:
        raise UsageError(f"run directory {str(path)!r}{why}: a run directory is needed")
    if not path.exists():
        raise UsageError(f"run directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise UsageError(f"{str(path)!r} is not a run directory (not a directory)")
    rundir = RunDir(path)
    meta = rundir.read_meta()           # bounded, migrated, checked (bench.meta)
    status = meta.get("status")
    if status != "complete":
        raise UsageError(f"run {str(path)!r} is {status} (meta.json status "
                         f"{status!r}): only complete runs are allowed; finish or resume it first")
    res = path / "results.parquet"
    if not res.exists() and not res.is_symlink():
        raise UsageError(f"run {str(path)!r} has no results.parquet: only finalized runs are "
                         "allowed (a run marked complete without it is not complete)")
    df = load_results(res)              # the schema, checked (bench.results)
    if "simulated" not in df.columns:
        # internals.md section 4: simulated is true exactly for backend sim.
        df["simulated"] = df["backend"].astype(str) == "sim"
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
