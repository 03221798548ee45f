"""Bad input of any kind: one line on stderr naming the value and what is
allowed, exit status 2, no traceback (DESIGN.md section 9), and nothing left
looking complete.  Each case here once failed (a traceback, several lines, a
silent acceptance, or a valid value rejected)."""

from __future__ import annotations

import json

import pytest

from bench.results import case_key
from tests.analysis_synth import write_run
from tests.conftest import assert_usage_error, run_cli

TINY = ["--variant", "old", "--n", "2", "--heads", "4", "--backend", "time", "--processes",
        "1", "--values", "1", "--warmups", "0", "--loops", "1"]
CASE = {"workload": "fork", "variant": "old", "ext": 3, "n": 2, "heads": 4, "order": "fifo",
        "alloc": "bump", "seed": 1}
TOML = '[[grid]]\nworkload = "fork"\nvariant = ["old"]\nn = [2]\nheads = [4]\n'


# -- run ----------------------------------------------------------------------

def test_run_cflags_starting_with_dash_reach_the_worker(tmp_path):
    # every flag starts with '-': the pyperf worker took "--cflags -O1" for two options
    proc = run_cli("run", *TINY, "--cflags=-O1", env={"RMAPBENCH_BUILD_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("args,needles", [
    (["--cflags", "'"], ["\"'\"", "No closing quotation"]),     # before any progress line
    (["--cflags=-fno-such-flag"], ["-fno-such-flag", "failed"]),
    (["--seed", "99999999999999999999999"], ["--seed 99999999999999999999999", "0 to "]),
    (["--processes", "100000000000"], ["--processes 100000000000", "1 to 1000"]),
    (["--n", "1_0"], ["'1_0'", "decimal digits"]),
    (["--out", ""], ["--out ''", "path"]),
    (["--backend", "perf", "--events", "context-switches"], ["context-switches", "hardware event"]),
    (["--pages", "1G"], ["'1G'", "4K, 2M"]),
    (["--pages", ""], ["--pages ''", "2M", "4K"]),
])
def test_run_bad_values(args, needles, tmp_path):
    argv = [a for a in TINY]
    if "--backend" in args:
        i = argv.index("--backend")
        del argv[i:i + 2]
    proc = run_cli("run", *argv, *args, env={"RMAPBENCH_BUILD_DIR": str(tmp_path)})
    assert_usage_error(proc, *needles)


def test_sweep_bad_pages_writes_nothing(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[options]\nbackend = "time"\n' + TOML)
    out = tmp_path / "run"
    assert_usage_error(run_cli("sweep", cfg, "--pages", "2MiB", "--out", out), "'2MiB'",
                       "4K, 2M")
    assert not out.exists()


def test_run_pages_reach_the_rows(tmp_path):
    """`run --pages 4K` times the kernel memory on 4 KiB pages, and the rows say so."""
    import pandas as pd

    out = tmp_path / "run"
    proc = run_cli("run", *TINY, "--pages", "4K", "--out", out)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(out / "results.parquet")
    assert set(df.loc[df.metric == "time", "kmem_pages"]) == {"4K"}
    assert json.loads((out / "meta.json").read_text())["plan"]["timing"]["pages"] == "4K"


def test_run_refuses_a_nonempty_out(tmp_path):
    # it once wrote into it and finalized every part there: two runs in one results.parquet
    out = tmp_path / "run"
    out.mkdir()
    (out / "meta.json").write_text("{}")
    assert_usage_error(run_cli("run", *TINY, "--out", out), repr(str(out)), "not empty")
    assert (out / "meta.json").read_text() == "{}"
    f = tmp_path / "file"
    f.write_text("x")
    assert_usage_error(run_cli("run", *TINY, "--out", f / "sub"), "not a directory")


# -- build --------------------------------------------------------------------

def test_compiler_failing_without_a_message(tmp_path):
    proc = run_cli("build", "--variant", "old",
                   env={"CC": "/bin/false", "RMAPBENCH_BUILD_DIR": str(tmp_path)})
    assert_usage_error(proc, "/bin/false", "status 1")


def test_build_dir_not_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    proc = run_cli("build", "--variant", "old", env={"RMAPBENCH_BUILD_DIR": str(f)})
    assert_usage_error(proc, str(f), "RMAPBENCH_BUILD_DIR")


# -- check --------------------------------------------------------------------

def test_check_out_checked_before_the_search(tmp_path):
    assert_usage_error(run_cli("check", "--variant", "old", "--out", tmp_path),
                       repr(str(tmp_path)), "a file path")
    f = tmp_path / "file"
    f.write_text("x")
    assert_usage_error(run_cli("check", "--variant", "old", "--out", f / "x.json"),
                       "not a directory")


# -- sweep config -------------------------------------------------------------

@pytest.mark.parametrize("extra,needles", [
    ('[options]\ncflags = "\'"\n', ["options.cflags", "\"'\""]),
    (None, ["grid[1].variant", "old@\\u0663"]),
])
def test_sweep_config_values(extra, needles, tmp_path):
    text = (extra + TOML) if extra else TOML.replace('["old"]', '["old@\u0663"]')
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert_usage_error(run_cli("sweep", cfg, "--list"), *needles)


# -- sweep --resume of a damaged run directory --------------------------------

def _stored(tmp_path, **change):
    out = tmp_path / "run"
    (out / "parts").mkdir(parents=True)
    meta = {"run_id": "r1", "status": "incomplete", "host": {"name": "h"},
            "backend": {"requested": "time", "chosen": "time"},
            "config": {"source": "c.toml", "text": TOML},
            "sweep": {"host": "h", "total": 1, "cases": [CASE], "sessions": []}}
    for k, v in change.items():
        if v is None:
            del meta[k]
        else:
            meta[k] = v
    (out / "meta.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("change,needles", [
    ({"backend": None}, ["meta.json", "corrupt", "backend"]),
    ({"sweep": {"host": "h", "cases": [{**CASE, "n": -5}]}},
     ["sweep.cases[0].n: bad value -5", "0 to"]),
    ({"sweep": {"host": "h", "cases": [{"x": 1}]}}, ["sweep.cases[0].workload", "fork"]),
    ({"config": 5}, ["field config is 5", "an object or null"]),
    ({"config": {"x": 1}}, ["holds no sweep run"]),
])
def test_resume_damaged_meta(change, needles, tmp_path):
    out = _stored(tmp_path, **change)
    assert_usage_error(run_cli("sweep", "--resume", "--out", out), *needles)


def test_resume_meta_not_an_object_or_a_directory(tmp_path):
    out = _stored(tmp_path)
    (out / "meta.json").write_text("[1, 2]")
    assert_usage_error(run_cli("sweep", "--resume", "--out", out), "meta.json", "JSON object")
    (out / "meta.json").unlink()
    (out / "meta.json").mkdir()
    assert_usage_error(run_cli("sweep", "--resume", "--out", out), "meta.json",
                       "is a directory")


def test_resume_corrupt_part(tmp_path):
    out = _stored(tmp_path)
    part = out / "parts" / f"{case_key(CASE)}.parquet"
    part.write_bytes(b"not parquet at all")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = run_cli("sweep", "--resume", "--out", out)
    assert_usage_error(proc, repr(str(part)), "corrupt", "delete it")
    # refused before anything ran: the directory is exactly as it was, file for file
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert json.loads((out / "meta.json").read_text())["status"] == "incomplete"


def test_sweep_out_empty_string():
    assert_usage_error(run_cli("sweep", "--quick", "--list", "--out", ""), "--out ''")


# -- trace --------------------------------------------------------------------

@pytest.mark.parametrize("line,needles", [
    ("add 0 1_0\n", ["'1_0'", "not an integer"]),
    ("add 0 +1\n", ["'+1'", "not an integer"]),
    ("add \u0661 1\n", ["head index", "not an integer"]),
    ("add 0 " + "9" * 5000 + "\n", ["spte id", "(5000 chars)", "out of range"]),
])
def test_trace_strict_integers(line, needles):
    assert_usage_error(run_cli("trace", "--variant", "old", "-", stdin=line), *needles)


def test_trace_binary_stdin():
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, "-m", "bench.cli", "trace", "--variant", "old", "-"],
                          input=b"add 0 1\n\xff\xfe garbage\n", capture_output=True, cwd=ROOT)
    proc.stderr = proc.stderr.decode()
    assert_usage_error(proc, "stdin", "not text")


# -- report and compare -------------------------------------------------------

def _damage(run, **cols):
    import pandas as pd

    df = pd.read_parquet(run / "results.parquet")
    for c, v in cols.items():
        df[c] = df[c].astype(float)
        df.loc[0, c] = v
    df.to_parquet(run / "results.parquet")


@pytest.mark.parametrize("col,value,allowed", [("value", float("nan"), "finite numbers"),
                                               ("value", float("inf"), "finite numbers"),
                                               ("heads", float("nan"), "whole numbers")])
def test_report_non_finite_numbers(col, value, allowed, tmp_path):
    run = write_run(tmp_path / "r", variants=["old"], ns=[4])
    _damage(run, **{col: value})
    assert_usage_error(run_cli("report", run, "--out", tmp_path / "rep"), repr(col), allowed)
    assert not (tmp_path / "rep").exists()


def test_report_meta_is_a_directory(tmp_path):
    run = write_run(tmp_path / "r", variants=["old"], ns=[4])
    (run / "meta.json").unlink()
    (run / "meta.json").mkdir()
    assert_usage_error(run_cli("report", run), "meta.json", "is a directory")


def test_report_output_file_in_the_way(tmp_path):
    run = write_run(tmp_path / "r", variants=["old"], ns=[4])
    (tmp_path / "rep" / "report.md").mkdir(parents=True)
    assert_usage_error(run_cli("report", run, "--out", tmp_path / "rep"), "report.md",
                       "cannot write")


def test_compare_two_runs_of_the_baseline_alone(tmp_path):
    a = write_run(tmp_path / "a", host="hostA", variants=["old"], ns=[4])
    b = write_run(tmp_path / "b", host="hostB", variants=["old"], ns=[4])
    proc = run_cli("compare", a, b, "--out", tmp_path / "cmp")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cmp" / "compare.html").exists()
