"""`rmapbench report` and `rmapbench compare` (registered in bench/cli.py).

pandas, scipy and matplotlib are imported inside the commands only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from bench.errors import UsageError, print_result


def _out_dir(out, default) -> Path:
    target = Path(out) if out is not None else Path(default)
    if out is None and not target.is_dir():
        # the default output is the run directory itself: name it as the input it is
        what = "does not exist" if not target.exists() else "is not a directory"
        raise UsageError(f"run directory {str(target)!r} {what}: a run directory is needed")
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {str(target)!r} exists and is not a directory: a directory "
                         "is allowed")
    return target


def _publish(stage: Path, final: Path) -> None:
    """Move every file of stage to the same place under final: first checked
    (nothing in the way), then renamed, each rename atomic."""
    files = [p for p in sorted(stage.rglob("*")) if p.is_file()]
    for f in files:
        dest = final / f.relative_to(stage)
        if dest.is_dir() and not dest.is_symlink():
            raise UsageError(f"cannot write {str(dest)!r}: a directory is in the way: a "
                             "file path (in a writable directory) is needed")
        for parent in dest.relative_to(final).parents:
            q = final / parent
            if q != final and q.exists() and not q.is_dir():
                raise UsageError(f"cannot write {str(dest)!r}: {str(q)!r} is a file, not a "
                                 "directory")
    for f in files:
        dest = final / f.relative_to(stage)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, dest)


@contextlib.contextmanager
def staged(final: Path):
    """A temporary directory the outputs are written to; on success they are
    renamed into final (a new final is the stage itself, renamed), on any
    failure the stage is removed: nothing half-written is left."""
    new = not final.exists()
    base = final.parent if new else final
    try:
        base.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{final.name or 'out'}.tmp-", dir=base))
    except OSError as e:
        raise UsageError(f"cannot create output directory {str(final)!r} ({e.strerror}): a "
                         "writable place is needed") from None
    try:
        yield stage
        try:
            if new:
                os.chmod(stage, 0o777 & ~_umask())
                os.rename(stage, final)
            else:
                _publish(stage, final)
        except OSError as e:
            raise UsageError(f"cannot write into {str(final)!r}: {e.strerror}: a writable "
                             "directory is needed") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_inputs(dirs):
    """Every run directory loaded and checked (bench.results, bench.meta) before
    the statistics and plotting modules are even imported: a bad input is
    refused at once.  Returns the loaded runs, which the command then uses."""
    from .load import load_runs

    return load_runs(dirs)


@contextlib.contextmanager
def quiet_numerics():
    """numpy's and scipy's RuntimeWarnings (an inf half-width, an overflow in
    a plot's axis) stay off stderr: the report says "n/a" or shows what it
    can; stderr is for one line when a command fails."""
    import warnings

    import numpy as np

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _cmd_report(args) -> int:
    loaded = _check_inputs(args.dirs)
    from .report import write_report

    final = _out_dir(args.out, args.dirs[0])
    with staged(final) as stage, quiet_numerics():
        path = write_report(args.dirs, out=stage, baseline=args.baseline, pair=args.pair,
                            loaded=loaded)
    print_result(str(final / Path(path).relative_to(stage)), f"the report in {str(final)!r}")
    return 0


def _cmd_compare(args) -> int:
    loaded = _check_inputs([args.dir_a, args.dir_b])
    from .compare import compare_dirs

    final = _out_dir(args.out, args.dir_b)
    with staged(final) as stage, quiet_numerics():
        res = compare_dirs(args.dir_a, args.dir_b, out=stage, baseline=args.baseline or "auto",
                           loaded=loaded)
    print_result(res.text.rstrip("\n") + "\n"
                 f"wrote {final / res.md_path.relative_to(stage)} and "
                 f"{final / res.html_path.relative_to(stage)}", f"the comparison in {str(final)!r}")
    return 0


def register(subparsers) -> None:
    from bench.variants import role

    r = subparsers.add_parser(
        "report", help="statistics, plots and a report (html, md, summary.txt) from run directories")
    r.add_argument("dirs", nargs="+", metavar="DIR",
                   help="finished run directories; several (e.g. hosts) merge into one report")
    r.add_argument("--baseline", default=None, metavar="V",
                   help=f"series every other one is compared with (default: {role('baseline')} "
                        "where the data has it, else the data's first series in registry order)")
    r.add_argument("--pair", metavar="A,B",
                   help="the two series the headline and summary.txt compare, B against A "
                        "(default: the baseline against the newest variant in the data)")
    r.add_argument("--out", metavar="DIR", help="output directory (default: the first DIR)")
    r.set_defaults(func=_cmd_report)

    c = subparsers.add_parser(
        "compare", help="compare run B against run A (two hosts, compilers, builds)")
    c.add_argument("dir_a", metavar="DIR_A", help="the reference run")
    c.add_argument("dir_b", metavar="DIR_B", help="the run compared against it")
    c.add_argument("--baseline", default=None, metavar="V",
                   help="also show each run's series against V side by side "
                        "(default: old when both runs have it)")
    c.add_argument("--out", metavar="DIR", help="where compare.md/compare.html go (default: DIR_B)")
    c.set_defaults(func=_cmd_compare)
