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


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: str | Path, flag: str = "--out", empty: bool = True) -> Path:
    """Before anything runs: path can become an output directory (absent, or a
    directory, and empty unless empty=False) in a place this process may write.
    Creates nothing."""
    if str(path) == "":
        raise UsageError(f"{flag} '': a directory path is allowed")
    p = Path(path)
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
    return p


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """Before anything runs: path can be written as a file. Creates nothing."""
    if str(path) == "":
        raise UsageError(f"{flag} '': a file path is allowed")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {str(p)!r} is a directory: a file path is allowed")
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
        atomic_write(self.path / "meta.json", json.dumps(meta, indent=2, default=str))

    def read_meta(self) -> dict:
        p = self.path / "meta.json"
        try:
            meta = json.loads(p.read_text())
        except FileNotFoundError:
            raise UsageError(f"{str(self.path)!r} is not a run directory (no meta.json)") from None
        except IsADirectoryError:
            raise UsageError(f"{str(p)!r} is a directory: a run's meta.json file is "
                             "needed") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UsageError(f"{str(p)!r} is corrupt: not valid JSON") from None
        except OSError as e:
            raise UsageError(f"{str(p)!r} cannot be read: {e.strerror}") from None
        if not isinstance(meta, dict):
            raise UsageError(f"{str(p)!r} is corrupt: a JSON object is allowed")
        return meta

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
        return {p.name[: -len(".parquet")] for p in self.parts.glob("*.parquet")
                if not p.name.startswith(".")}

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
        atomic_write(self.path / "results.parquet", df.to_parquet(index=False))
        pyperf_parts = [p for p in (self.parts / f"{k}.pyperf.json" for k in keys)
                        if p.is_file()]
        if pyperf_parts:
            atomic_write(self.path / "pyperf.json", merge_pyperf(pyperf_parts))
        self.write_meta({**meta, "status": "complete", "cases": len(frames)})


def merge_pyperf(paths: list[Path]) -> str:
    """One pyperf suite from several files (benchmark names are unique per case)."""
    import pyperf

    benchmarks = []
    for p in paths:
        benchmarks.extend(pyperf.BenchmarkSuite.load(str(p)).get_benchmarks())
    suite = pyperf.BenchmarkSuite(benchmarks)
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        suite.dump(tmp, replace=True)
        return Path(tmp).read_text()
    finally:
        os.unlink(tmp)
