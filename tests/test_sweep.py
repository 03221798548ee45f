"""`rmapbench sweep` end to end on real kernels: a sweep killed by a real signal
keeps every finished case, looks incomplete, and --resume measures exactly the
missing cases; run directories from two hosts concatenate into one table."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.results import COLUMNS, EXTRA_COLUMNS
from tests.conftest import ROOT, assert_usage_error, run_cli

CASE_COLS = ["workload", "variant", "ext", "n", "heads", "order", "alloc", "seed"]

TINY = """
[options]
backend = "time"
[options.pyperf]
processes = 1
values = 2
warmups = 1
min_time = 0.001

[[grid]]
name = "tiny"
workload = "fork"
variant = ["old", "new", "kvm-2023"]
n = [2, 8, 32]
heads = 32
"""
N_TINY = 9


def _start(*args, tmp: Path | None = None) -> subprocess.Popen:
    """`rmapbench sweep ARGS`, its temporary files under tmp when given (a sweep
    killed by SIGKILL cannot remove its own)."""
    env = None
    if tmp is not None:
        tmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "bench.cli", "sweep", *map(str, args)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _parts(out):
    d = out / "parts"
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith(".")) \
        if d.is_dir() else []


def _wait_for_parts(proc, out, k, timeout=300):
    t0 = time.monotonic()
    while len(_parts(out)) < k:
        if proc.poll() is not None:
            pytest.fail(f"sweep ended (rc {proc.returncode}) before {k} cases: "
                        f"{proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"no {k} finished cases after {timeout}s")
        time.sleep(0.02)


def _stat(paths):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def _check_complete(out, n_cases):
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete"
    df = pd.read_parquet(out / "results.parquet")
    n = len(COLUMNS + EXTRA_COLUMNS)
    assert list(df.columns)[:n] == COLUMNS + EXTRA_COLUMNS      # then the timing columns
    # every case exactly once: n_cases distinct cases, and no measured value twice
    assert len(df[CASE_COLS].drop_duplicates()) == n_cases
    assert not df.duplicated(CASE_COLS + ["phase", "metric", "process", "sample"]).any()
    assert set(df.phase) == {"add", "remove"}
    assert df.run_id.nunique() == 1 and df.run_id.iloc[0] == meta["run_id"]
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(out / "pyperf.json"))
    assert len(suite.get_benchmarks()) == 2 * n_cases     # one per case and phase
    return meta, df


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_killed_sweep_keeps_finished_cases_and_resume_measures_only_the_rest(sig, tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    proc = _start(cfg, "--out", out, tmp=tmp_path / "tmp")
    _wait_for_parts(proc, out, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, err
        assert f"interrupted by {sig.name}" in err and "--resume" in err
        # interrupted, it removes its temporary files (its workers' specs and values)
        assert list((tmp_path / "tmp").iterdir()) == []

    # nothing looks complete; every part that exists is a whole case
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete"
    if sig != signal.SIGKILL:
        assert meta["interrupted"] == sig.name
        assert meta["sweep"]["sessions"][-1]["status"] == f"interrupted by {sig.name}"
    assert not (out / "results.parquet").exists()
    assert not (out / "pyperf.json").exists()
    done = _parts(out)
    assert 2 <= len(done) < N_TINY
    for p in done:
        part = pd.read_parquet(p)
        assert len(part[CASE_COLS].drop_duplicates()) == 1
        assert set(part.phase) == {"add", "remove"}
    before = _stat(done)

    if sig != signal.SIGKILL:
        # a run keeps one page size: another --pages is refused, nothing measured
        assert_usage_error(run_cli("sweep", "--resume", "--out", out, "--pages", "4K"),
                           "--pages 4K", "(2M)")
        assert _stat(_parts(out)) == before
    if sig == signal.SIGKILL:
        # a run from before options.pages (its plan has none) resumes on 4K, as
        # it was timed; one from after keeps its own (TERM: 2M, the default)
        m = json.loads((out / "meta.json").read_text())
        del m["plan"]["timing"]["pages"]
        (out / "meta.json").write_text(json.dumps(m))
    # resume without naming the config: the run's own plan is continued
    res = run_cli("sweep", "--resume", "--out", out)
    assert res.returncode == 0, res.stderr
    assert f"{len(done)} already measured, {N_TINY - len(done)} to measure" in res.stderr
    meta, df = _check_complete(out, N_TINY)
    kept = "4K" if sig == signal.SIGKILL else "2M"
    assert meta["plan"]["timing"].get("pages", "4K") == kept
    resumed = [p for p in _parts(out) if p.name not in before]
    assert resumed
    for p in resumed:
        part = pd.read_parquet(p)
        timed = part[part["metric"] == "time"]
        assert len(timed) and set(timed["kmem_pages"]) == {kept}, p
    # the finished cases were not measured again: same files, untouched
    assert _stat([out / "parts" / n for n in before]) == before
    last = meta["sweep"]["sessions"][-1]
    assert (last["measured"], last["skipped"], last["status"]) == \
        (N_TINY - len(done), len(done), "finished")
    assert len(meta["sweep"]["sessions"]) == 2
    assert "interrupted" not in meta


@pytest.mark.slow
def test_groups_are_timed_in_passes_and_resume_keeps_the_processes_already_run(tmp_path):
    """Each group's worker processes are spread over the sweep (one process of
    every group per pass): process 0 of two groups is finished before either
    group is written.  A sweep interrupted then keeps those processes under
    pending/, and --resume uses them instead of measuring them again."""
    cfg = tmp_path / "passes.toml"
    cfg.write_text(TINY.replace("processes = 1", "processes = 2")
                   .replace('["old", "new", "kvm-2023"]', '["old", "kvm-2023"]'))
    out = tmp_path / "run"
    proc = _start(cfg, "--out", out)
    pending = out / "pending"
    t0 = time.monotonic()
    while len(list(pending.glob("*/p0.json"))) < 2:
        if proc.poll() is not None:
            pytest.fail(f"sweep ended (rc {proc.returncode}) before two groups had a "
                        f"process: {proc.stderr.read()}")
        if time.monotonic() - t0 > 300:
            proc.kill()
            pytest.fail("no two groups with a finished process after 300s")
        time.sleep(0.01)
    # sequential groups would have written the first group (2 processes) before
    # starting the second; in passes nothing is written yet
    assert _parts(out) == []
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    kept = {}
    for f in pending.glob("*/p*.json"):
        recs = json.loads(f.read_text())["recs"]
        # an arm's (the null kernel's values are not rows of their own)
        first = next(r for r in recs if r["kind"] == "value" and not r["warmup"]
                     and r["arm"] >= 0)
        kept[(f.parent.name, f.name)] = first["ns"] / first["loops"]
    assert len(kept) >= 2

    res = run_cli("sweep", "--resume", "--out", out)
    assert res.returncode == 0, res.stderr
    _, df = _check_complete(out, 6)
    assert not pending.exists()
    assert set(df[df.metric == "time"].process) == {0, 1}
    # every kept process's first value is in the results (it was not measured again)
    raw = df[df.metric == "time"]
    per_rep = set(round(v, 3) for v in raw.value * raw.ops)
    for (grp, name), ns in kept.items():
        assert round(ns, 3) in per_rep, (grp, name)


@pytest.mark.slow
def test_two_run_directories_concatenate_with_host_as_a_column(tmp_path):
    cfg = tmp_path / "one.toml"
    cfg.write_text(TINY.replace('["old", "new", "kvm-2023"]', '["old"]').replace("[2, 8, 32]",
                                                                                 "[4]"))
    runs = []
    for host in ("alpha", "beta"):
        out = tmp_path / host
        proc = run_cli("sweep", cfg, "--out", out, "--host", host)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str(out)
        runs.append(out)
    frames = [pd.read_parquet(o / "results.parquet") for o in runs]
    df = pd.concat(frames, ignore_index=True)
    # DESIGN.md section 8's columns in order, then rmapbench's, then the timing evidence
    # and precision columns of docs/internals.md section 4
    n = len(COLUMNS + EXTRA_COLUMNS)
    assert list(df.columns)[:n] == COLUMNS + EXTRA_COLUMNS
    assert {"epoch", "retries", "disturbed", "halfwidth", "remeasured"} <= set(df.columns[n:])
    assert set(df.host) == {"alpha", "beta"}
    assert df.run_id.nunique() == 2
    assert len(df) == sum(len(f) for f in frames)
    per_host = df[df.metric == "time"].groupby(["host", "phase"]).value.count()
    assert (per_host > 0).all() and len(per_host) == 4

    # a complete run resumed is left alone; a different config is refused
    res_file = runs[0] / "results.parquet"
    stamp = res_file.stat().st_mtime_ns
    res = run_cli("sweep", "--resume", "--out", runs[0])
    assert res.returncode == 0 and "nothing to measure" in res.stderr
    assert res_file.stat().st_mtime_ns == stamp
    other = tmp_path / "other.toml"
    other.write_text(TINY)
    assert_usage_error(run_cli("sweep", other, "--resume", "--out", runs[0]),
                       "differs from the one", str(runs[0]))
    assert_usage_error(run_cli("sweep", "--resume", "--out", runs[0], "--backend", "sim"),
                       "--backend sim differs")
    assert_usage_error(run_cli("sweep", cfg, "--out", runs[0]), "not empty")
    assert res_file.stat().st_mtime_ns == stamp


def test_list_prints_the_cases_without_measuring(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    proc = run_cli("sweep", cfg, "--list", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("#")]
    assert len(lines) == N_TINY
    assert "fork old@3 n=2 heads=32" in proc.stdout
    assert not (tmp_path / "o").exists()
