"""`make mutants`: run every mutant of tests/mutants.py and fail if one survives.

usage: python tests/run_mutants.py [--jobs N] [--only ID[,ID...]] [--keep]

The tree (without .git, .venv, build outputs and caches) is copied into a
temporary directory once per job.  First the union of every mutant's test
selection runs there unmutated and must pass; otherwise a "killed" would
mean nothing.  Then, per mutant: the copy's file gets the mutant's text in
place of its original, the mutant's tests run with that copy first on the
import path (its own build directory: a mutated C file is rebuilt, being
a different source), and the file is restored.  A mutant is killed when a
test fails (pytest exit 1) or the run exceeds its timeout; any other exit
(no test collected, a usage error) is an error of the list.  An original
text that does not occur exactly once is an error too.

Prints one table row per mutant; exit 0 only when every mutant is killed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mutants import MUTANTS, Mutant  # noqa: E402

IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "reports", "__pycache__",
                                ".pytest_cache", ".hypothesis", "*.egg-info", "*.whl")
TIMEOUT = 600     # a mutant that hangs its tests this long is killed (timeout)


def check_list(mutants: list[Mutant], root: Path = ROOT) -> list[str]:
    """Problems with the list against the tree at root (empty: none)."""
    errors = []
    seen = set()
    for m in mutants:
        if m.id in seen:
            errors.append(f"{m.id}: duplicate id")
        seen.add(m.id)
        path = root / m.file
        if not path.is_file():
            errors.append(f"{m.id}: {m.file} does not exist")
            continue
        n = path.read_text().count(m.original)
        if n != 1:
            errors.append(f"{m.id}: original text occurs {n} times in {m.file} "
                          "(exactly once is needed: update the mutant with the code)")
        if m.original == m.replacement:
            errors.append(f"{m.id}: replacement equals the original")
        if not m.tests:
            errors.append(f"{m.id}: no tests selected")
        for t in m.tests:
            if t.startswith("tests/"):
                f, _, func = t.partition("::")
                if not (root / f).is_file():
                    errors.append(f"{m.id}: test file {f} does not exist")
                elif func and f"def {func.split('[')[0]}(" not in (root / f).read_text():
                    errors.append(f"{m.id}: {f} has no test {func}")
    return errors


def _copy_tree(dest: Path) -> Path:
    tree = dest / "tree"
    shutil.copytree(ROOT, tree, ignore=IGNORE, symlinks=True)
    return tree


def _env(tree: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    env["RMAPBENCH_BUILD_DIR"] = str(tree / "build")
    env.pop("PYTEST_ADDOPTS", None)
    env["RMAPBENCH_MUTANTS_NO_SHRINK"] = "1"   # tests/conftest.py
    return env


def _pytest(tree: Path, args: tuple[str, ...], timeout: float = TIMEOUT):
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           *args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True,
                              text=True, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", time.monotonic() - t0


def _verify_copy(tree: Path) -> None:
    """The copy, not the checkout, is what the tests import."""
    proc = subprocess.run([sys.executable, "-c",
                           "import bench, analysis; print(bench.__file__); "
                           "print(analysis.__file__)"],
                          cwd=tree, env=_env(tree), capture_output=True, text=True)
    files = proc.stdout.split()
    if proc.returncode or len(files) != 2 or \
            not all(Path(f).resolve().is_relative_to(tree.resolve()) for f in files):
        sys.exit(f"run_mutants: the copy in {tree} is not what Python imports "
                 f"({proc.stdout.strip() or proc.stderr.strip()})")


def run_one(tree: Path, m: Mutant) -> dict:
    path = tree / m.file
    text = path.read_text()
    if text.count(m.original) != 1:
        return {"id": m.id, "result": "ERROR", "secs": 0.0,
                "detail": "original text not found exactly once"}
    path.write_text(text.replace(m.original, m.replacement))
    try:
        rc, out, secs = _pytest(tree, m.tests)
    finally:
        path.write_text(text)
    if rc is None:
        result, detail = "killed", "timeout"
    elif rc == 1:
        failed = [ln.split()[1] for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        result, detail = "killed", (failed[0] if failed else "a test failed")
    elif rc == 0:
        result, detail = "SURVIVED", "every selected test passed"
    else:
        last = out.strip().splitlines()[-1] if out.strip() else ""
        result, detail = "ERROR", f"pytest exit {rc}: {last}"
    return {"id": m.id, "result": result, "secs": secs, "detail": detail}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    ap.add_argument("--only", default="", help="comma-separated mutant ids")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = ap.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        want = set(args.only.split(","))
        unknown = want - {m.id for m in MUTANTS}
        if unknown:
            print(f"run_mutants: unknown mutant id(s) {', '.join(sorted(unknown))}",
                  file=sys.stderr)
            return 2
        mutants = [m for m in MUTANTS if m.id in want]
    errors = check_list(MUTANTS)
    if errors:
        for e in errors:
            print(f"run_mutants: {e}", file=sys.stderr)
        return 1

    t_start = time.monotonic()
    jobs = max(1, min(args.jobs, len(mutants)))
    tmp = Path(tempfile.mkdtemp(prefix="rmapbench-mutants-"))
    try:
        trees = [_copy_tree(tmp / f"job{i}") for i in range(jobs)]
        _verify_copy(trees[0])
        # the selections must pass on the unmutated tree
        selections = sorted({m.tests for m in mutants})
        print(f"baseline: {len(selections)} test selections on the unmutated tree ...",
              flush=True)

        def base(i_sel):
            i, sel = i_sel
            return sel, _pytest(trees[i % jobs], sel)

        with ThreadPoolExecutor(jobs) as ex:
            bad = [(sel, out) for sel, (rc, out, _) in ex.map(base, enumerate(selections))
                   if rc != 0]
        if bad:
            for sel, out in bad:
                print(f"run_mutants: unmutated tree fails {' '.join(sel)}:\n"
                      f"{out[-2000:]}", file=sys.stderr)
            return 1

        free = list(trees)
        lock = threading.Lock()

        def one(m):
            with lock:
                tree = free.pop()
            try:
                r = run_one(tree, m)
            finally:
                with lock:
                    free.append(tree)
            print(f"  {r['id']:<34} {r['result']:<8} {r['secs']:6.1f} s  {r['detail']}",
                  flush=True)
            return r

        print(f"{len(mutants)} mutants, {jobs} at a time:", flush=True)
        with ThreadPoolExecutor(jobs) as ex:
            results = list(ex.map(one, mutants))
    finally:
        if args.keep:
            print(f"copies kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    by_id = {m.id: m for m in mutants}
    print()
    print(f"{'mutant':<34} {'file':<30} {'result':<8} {'secs':>6}  tests")
    for r in results:
        m = by_id[r["id"]]
        print(f"{m.id:<34} {m.file:<30} {r['result']:<8} {r['secs']:6.1f}  "
              f"{' '.join(m.tests)}")
    killed = sum(r["result"] == "killed" for r in results)
    survived = [r for r in results if r["result"] == "SURVIVED"]
    errs = [r for r in results if r["result"] == "ERROR"]
    total = time.monotonic() - t_start
    print(f"\n{killed}/{len(results)} mutants killed, {len(survived)} survived, "
          f"{len(errs)} errors; {total:.0f} s")
    for r in survived:
        print(f"SURVIVED {r['id']}: {by_id[r['id']].why}")
    for r in errs:
        print(f"ERROR {r['id']}: {r['detail']}")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
