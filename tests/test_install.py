"""`pip install .` (not editable) into a fresh virtual environment ships the C
sources and templates, and the installed `rmapbench` works from another
directory: --version, trace, check and run.

Bounded: the venv is made without pip (the test's own pip installs into it
with --python), the package with --no-deps, and its dependencies are the
test environment's, reached through a .pth file; the copy of the source tree
holds only the tracked files, so nothing untracked can make it pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _tracked(dest: Path) -> None:
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    src, venv = base / "src", base / "venv"
    _tracked(src)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True,
                             timeout=60).stdout.strip()
    # the dependencies (pandas, pyarrow, ...) are this environment's
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                           "--no-deps", str(src)], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0 and "No matching distribution found for setuptools" in proc.stderr:
        pytest.skip("pip cannot fetch setuptools for the isolated build here (no index)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.rmtree(src)                  # the installed copy must stand alone
    work = base / "elsewhere"
    work.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(base / "cache"), "PYTHONPATH": ""}
    env.pop("RMAPBENCH_BUILD_DIR", None)
    return venv, work, env, Path(purelib)


def _rb(installed, *args, stdin=None):
    venv, work, env, _ = installed
    return subprocess.run([str(venv / "bin" / "rmapbench"), *map(str, args)], input=stdin,
                          capture_output=True, text=True, cwd=work, env=env, timeout=600)


def test_installed_package_holds_the_sources(installed):
    _, _, _, purelib = installed
    import bench

    pkg = purelib / "bench"
    assert (pkg / "csrc" / "api.c").is_file() and (pkg / "csrc" / "rmap.h").is_file()
    ours = sorted(p.name for p in (Path(bench.__file__).parent.parent / "native").glob("*.[ch]"))
    assert sorted(p.name for p in (pkg / "csrc").glob("*.[ch]")) == ours
    assert (pkg / "templates" / "report.html.tmpl").is_file()


def test_installed_version_and_trace(installed):
    venv, work, env, purelib = installed
    proc = _rb(installed, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"rmapbench {__import__('bench').__version__}"
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import bench; print(bench.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert where.stdout.strip().startswith(str(purelib)), where.stdout
    proc = _rb(installed, "trace", "--variant", "old", "-", stdin="add 0 1\nadd 0 2\nwalk 0\n")
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert recs[2] == {"op": "walk", "head": 0, "ret": [1, 2]}
    # the build cache is the user's, not the installation's
    assert list((Path(env["XDG_CACHE_HOME"]) / "rmapbench" / "build" / "native").glob("*.so"))
    assert not (purelib / "build").exists()


def test_installed_check_and_run(installed):
    venv, work, env, _ = installed
    proc = _rb(installed, "check", "--variant", "old", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["variant"] == "old"
    proc = _rb(installed, "run", "--variant", "old", "--n", "2", "--heads", "4", "--backend",
               "time", "--processes", "1", "--values", "1", "--warmups", "0", "--loops", "1",
               "--out", "r1")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((work / "r1" / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["format_version"] >= 1
    assert (work / "r1" / "results.parquet").is_file()
