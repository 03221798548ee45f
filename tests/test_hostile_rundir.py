"""Hostile run directories and outputs: a damaged meta.json, check.json, part,
pending worker process or results column; an --out or --host that cannot be
used; a stdout that fails after the work is done; a variant that crashes.

Each bad input ends in exit status 2 with one final line on stderr naming
the file and key (or column, option) and what is allowed, no traceback, and
nothing written: a run directory that was there stays exactly as it was.
Most cases are refused before anything is measured; the few that measure
use one tiny timed sweep (fork, old, n = 2 and 4, heads 4, 0.5 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import UsageError
from bench.results import RunDir, case_key, load_results
from tests.analysis_synth import write_run
from tests.conftest import ROOT, assert_usage_error, run_cli

TINY = """[options]
backend = "time"
budget = 0.5
[options.pyperf]
processes = 1
values = 1
warmups = 0
loops = 1
[[grid]]
workload = "fork"
variant = ["old"]
n = [2, 4]
heads = [4]
"""
BIG = "9" * 5000            # an integer past Python's 4300-digit conversion limit


# -- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="module")
def complete_sweep(tmp_path_factory):
    """One finished tiny sweep (two cases, one group each), copied by the tests."""
    base = tmp_path_factory.mktemp("sweep")
    cfg = base / "tiny.toml"
    cfg.write_text(TINY)
    out = base / "run"
    proc = run_cli("sweep", cfg, "--out", out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def _complete(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "run"))


@pytest.fixture
def incomplete(complete_sweep, tmp_path):
    """The tiny sweep as a signal leaves it after its first case: the part of
    sweep.cases[1] (n = 4) missing, no results, meta.json "incomplete"."""
    out = _complete(complete_sweep, tmp_path)
    meta = json.loads((out / "meta.json").read_text())
    key = case_key(meta["sweep"]["cases"][1])
    for name in (f"{key}.parquet", f"{key}.pyperf.json"):
        (out / "parts" / name).unlink()
    (out / "results.parquet").unlink()
    (out / "pyperf.json").unlink()
    meta["status"] = "incomplete"
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return out


def _kept_part(out: Path) -> Path:
    meta = json.loads((out / "meta.json").read_text())
    return out / "parts" / f"{case_key(meta['sweep']['cases'][0])}.parquet"


def _snapshot(d: Path) -> dict:
    """Every entry under d: a file's bytes and mtime, a directory, a link."""
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_symlink():
            out[str(p)] = ("link", os.readlink(p))
        elif p.is_file():
            out[str(p)] = ("file", p.read_bytes(), p.stat().st_mtime_ns)
        else:
            out[str(p)] = ("dir",)
    return out


def _edit_meta(out: Path, change) -> None:
    p = out / "meta.json"
    meta = json.loads(p.read_text())
    change(meta)
    p.write_text(json.dumps(meta, indent=2))


def _resume_refused(out: Path, *needles) -> None:
    """--resume on out: refused with one line naming needles, out untouched."""
    before = _snapshot(out)
    proc = run_cli("sweep", "--resume", "--out", out, timeout=120)
    assert_usage_error(proc, *needles)
    assert _snapshot(out) == before, "the run directory was changed"


@pytest.fixture
def synth(tmp_path):
    """A finished synthetic run (perf backend, old and new, n = 4)."""
    return write_run(tmp_path / "r", variants=["old", "new"], ns=[4])


def _timed(run: Path, **cols) -> Path:
    """Give the synthetic run's time rows the columns a timed run has; cols
    then set a column's every cell (parquet keeps one type per column)."""
    p = run / "results.parquet"
    df = pd.read_parquet(p)
    t = (df["metric"] == "time").to_numpy()
    df["halfwidth"] = np.where(t, 0.01, np.nan)
    df["halfwidth_of"] = np.where(t, "mean", None)
    df["remeasured"] = np.where(t, 0, np.nan)
    df["remeasure_reasons"] = np.where(t, "", None)
    df["processes"] = np.where(t, 2, np.nan)
    df["stopped"] = np.where(t, "budget", None)
    df["timing_s"] = np.where(t, 3.0, np.nan)
    for c, v in cols.items():
        df[c] = [v] * len(df)
    df.to_parquet(p)
    return run


# -- 1. --resume of a directory that holds no run ---------------------------------

@pytest.mark.parametrize("kind", ["new", "empty"])
def test_resume_of_a_directory_without_a_run_is_refused(kind, tmp_path):
    out = tmp_path / "out"
    if kind == "empty":
        out.mkdir()
    # (this once started the whole built-in default sweep in out)
    proc = run_cli("sweep", "--resume", "--out", out, "--backend", "time", timeout=60)
    assert_usage_error(proc, repr(str(out)), "no run in it to resume", "a sweep wrote")
    assert (list(out.iterdir()) == []) if kind == "empty" else not out.exists()


# -- 2. a damaged kept part -----------------------------------------------------

def _other_schema(p):
    pd.DataFrame({"x": [1, 2]}).to_parquet(p)


def _nan_values(p):
    df = pd.read_parquet(p)
    df["value"] = float("nan")
    df.to_parquet(p)


def _other_case(p):
    df = pd.read_parquet(p)
    df["n"] = 8
    df.to_parquet(p)


@pytest.mark.parametrize("damage,needles", [
    (_other_schema, ["lacks column(s) run_id"]),
    (_nan_values, ["column 'value' holds null", "finite numbers"]),
    (_other_case, ["column 'n' holds 8", "the case's"]),
], ids=["schema", "nan-values", "other-case"])
def test_resume_refuses_a_damaged_kept_part(incomplete, damage, needles):
    part = _kept_part(incomplete)
    damage(part)
    _resume_refused(incomplete, repr(str(part)), "--resume again", *needles)


def test_finalize_checks_the_parts_before_writing(incomplete, tmp_path):
    """The last guard: a table the loader would refuse is never finalized."""
    part = _kept_part(incomplete)
    _nan_values(part)
    rd = RunDir(incomplete)
    meta = rd.read_meta()
    with pytest.raises(UsageError, match="column 'value' holds null"):
        rd.finalize(meta, keys=[part.name[:-len(".parquet")]])
    assert not (incomplete / "results.parquet").exists()


# -- 3. integers longer than 4300 digits in a run directory's JSON ------------------

def test_report_bigint_in_meta_json(synth, tmp_path):
    (synth / "meta.json").write_text('{"x": ' + BIG + "}")
    assert_usage_error(run_cli("report", synth, "--out", tmp_path / "rep"),
                       "meta.json", "4300 digits")
    assert not (tmp_path / "rep").exists()


def test_report_bigint_in_check_json(synth, tmp_path):
    (synth / "check.json").write_text('[{"variant": "new", "ext": ' + BIG + "}]")
    assert_usage_error(run_cli("report", synth, "--out", tmp_path / "rep"),
                       "check.json", "4300 digits")


def test_resume_bigint_in_meta_json(incomplete):
    text = (incomplete / "meta.json").read_text()
    (incomplete / "meta.json").write_text('{"x": ' + BIG + ", " + text.lstrip()[1:])
    _resume_refused(incomplete, "meta.json", "4300 digits")


@pytest.mark.parametrize("content,needles", [
    ('{"x": ' + BIG + "}", ["4300 digits"]),
    ("{not json", ["not valid JSON"]),
    ('{"benchmarks": 5}', ["not a pyperf suite"]),
], ids=["bigint", "not-json", "not-pyperf"])
def test_resume_refuses_a_damaged_pyperf_part(incomplete, content, needles):
    q = _kept_part(incomplete).with_suffix("").with_suffix(".pyperf.json")
    q.write_text(content)
    _resume_refused(incomplete, repr(str(q)), *needles)


# -- 4. check.json (and meta.json's check key) whose race is not an object ---------

@pytest.mark.parametrize("race", ['"yes"', "5", "[1]"])
def test_report_check_json_race_not_an_object(synth, race, tmp_path):
    (synth / "check.json").write_text('[{"variant": "new", "race": ' + race + "}]")
    assert_usage_error(run_cli("report", synth, "--out", tmp_path / "rep"),
                       "check.json", "[0].race is", "an object")
    assert not (tmp_path / "rep").exists()


def test_report_meta_check_key_race_not_an_object(synth, tmp_path):
    _edit_meta(synth, lambda m: m.update(check=[{"variant": "new", "race": "x"}]))
    assert_usage_error(run_cli("report", synth, "--out", tmp_path / "rep"),
                       "meta.json", "key 'check'", "[0].race is")


# -- 5. optional results columns of the wrong type ------------------------------------

@pytest.mark.parametrize("col,value,needle", [
    ("halfwidth", "wide", "column 'halfwidth' holds 'wide'"),
    ("halfwidth", -0.5, "column 'halfwidth' holds -0.5"),
    ("halfwidth", 1e308, "column 'halfwidth' holds 1e+308"),
    ("remeasured", "many", "column 'remeasured' holds 'many'"),
    ("remeasured", float("nan"), "column 'remeasured' holds null"),
    ("processes", float("nan"), "column 'processes' holds null"),
    ("processes", "two", "column 'processes' holds 'two'"),
    ("timing_s", "long", "column 'timing_s' holds 'long'"),
    ("remeasure_reasons", [1, 2], "column 'remeasure_reasons' holds"),
    ("halfwidth_of", 3, "column 'halfwidth_of' holds 3"),
    ("value", 1e308, "column 'value' holds 1e+308"),
])
def test_load_checks_the_optional_columns(synth, col, value, needle):
    _timed(synth, **{col: value})
    with pytest.raises(UsageError) as e:
        load_results(synth / "results.parquet")
    assert needle in str(e.value) and "results.parquet" in str(e.value), str(e.value)


def test_report_and_compare_refuse_a_text_halfwidth(synth, tmp_path):
    _timed(synth, halfwidth="wide")
    other = _timed(write_run(tmp_path / "r2", host="hostB", variants=["old", "new"], ns=[4]))
    for argv in (["report", synth, "--out", tmp_path / "rep"],
                 ["compare", other, synth, "--out", tmp_path / "cmp"]):
        assert_usage_error(run_cli(*argv), "results.parquet", "column 'halfwidth'")
    assert not (tmp_path / "rep").exists() and not (tmp_path / "cmp").exists()


def test_report_of_an_inf_halfwidth_prints_no_warnings(synth, tmp_path):
    run = _timed(synth)
    df = pd.read_parquet(run / "results.parquet")
    df.loc[df["metric"] == "time", "halfwidth"] = float("inf")   # no interval closed
    df.to_parquet(run / "results.parquet")
    proc = run_cli("report", run, "--out", tmp_path / "rep")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert (tmp_path / "rep" / "report.md").is_file()


# -- 6. a hostile stored plan on --resume -------------------------------------------

def _set(path: str, value):
    def change(m):
        keys = path.split(".")
        t = m
        for k in keys[:-1]:
            t = t[int(k)] if isinstance(t, list) else t[k]
        t[keys[-1] if not isinstance(t, list) else int(keys[-1])] = value
    return change


@pytest.mark.parametrize("changes,needles", [
    ([("sweep.cases.1.variant", [])], ["sweep.cases[1].variant: bad value []"]),
    ([("sweep.cases.1.variant", {"a": 1})], ["sweep.cases[1].variant: bad value {"]),
    ([("config.source", 5)], ["config.source: bad value 5"]),
    ([("sweep.cases.1.seed", 2 ** 70)], ["sweep.cases[1].seed: bad value 1180591620717411303424",
                                         "an integer from 0 to"]),
    ([("sweep.cases.1.heads", 1 << 26), ("sweep.cases.1.n", 1 << 20)],
     ["sweep.cases[1].heads: bad value 67108864", "max_sptes"]),
    ([("sweep.cases.1.cflags", "-O0")], ["sweep.cases[1].cflags", "unknown key"]),
    ([("sweep.cases.1", "SELF0")], ["sweep.cases[1]: bad value", "each case once"]),
    ([("plan.cpu", 99)], ["plan.cpu", "CPU 99", "this host does not have"]),
    ([("config.text", "not toml [")], ["config.text", "not valid TOML"]),
    ([("sweep.host", "a\nb")], ["sweep.host: bad value", "printable"]),
], ids=["variant-list", "variant-dict", "source-int", "seed-2^70", "over-cap",
        "unknown-key", "duplicate", "plan-cpu-99", "text-not-toml", "host-newline"])
def test_resume_validates_the_stored_plan_before_anything_runs(incomplete, changes, needles):
    def change(m):
        for path, value in changes:
            if value == "SELF0":
                value = dict(m["sweep"]["cases"][0])
            _set(path, value)(m)
    _edit_meta(incomplete, change)
    _resume_refused(incomplete, repr(str(incomplete / "meta.json")), *needles)


def test_resume_plan_cpu_message_does_not_blame_an_option(incomplete):
    _edit_meta(incomplete, _set("plan.cpu", 99))
    proc = run_cli("sweep", "--resume", "--out", incomplete)
    assert proc.returncode == 2 and "--cpu" not in proc.stderr, proc.stderr


# -- 7. pending worker processes that cannot be used ---------------------------------

def _proc_record(n_arms=1, phases=("add", "remove"), null=True, **over):
    value = {"kind": "value", "round": 0, "epoch": 0, "warmup": False, "ns": 1000,
             "ops": 8, "loops": 2, "footprint": 4096, "peak_descs": 1, "bad": 0,
             "counts": {"task-clock": [900, 1000, 1000]},
             "evidence": {"wall_ns": 1100, "cpu_ns": 1000, "nivcsw": 0, "nvcsw": 0,
                          "faults": 0, "migrations": 0, "cpu": 1},
             "retries": 0, "reasons": [], "disturbed": False}
    recs = [{"kind": "fixed", "when": "start", "loops": 200, "ns": 5000, "counts": {},
             "evidence": {}},
            {"kind": "calibration", "phase": "add", "loops": 2}]
    recs += [{**value, "arm": a, "phase": ph} for a in range(n_arms) for ph in phases]
    if null:
        recs.append({**value, "arm": -1, "phase": "null"})
    recs.append({"kind": "done", "rounds": 1, "pid": 1, "seconds": 0.5, "fresh_layouts": 0,
                 "build_orders": [], "pages": "2M", "kmem_huge": [[0, 0]]})
    d = {"wall": 0.8, "recs": recs}
    d.update(over)
    return d


def _stored(d, n_arms=1):
    from bench.runner import stored_process

    return stored_process(d, n_arms, ["add", "remove"], True, ["task-clock"], max_wall=660)


def test_a_whole_stored_process_is_used():
    got = _stored(_proc_record())
    assert got is not None and got[1] == 0.8


def _junk_value(d):
    d["recs"][2] = {"kind": "value", "arm": 99, "phase": "zz"}
    return d


def _no_values(d):
    d["recs"] = [r for r in d["recs"] if r["kind"] != "value"]
    return d


def _missing_key(d):
    del d["recs"][2]["warmup"]
    return d


def _string_ns(d):
    d["recs"][2]["ns"] = "1000"
    return d


def _foreign_event(d):
    d["recs"][2]["counts"] = {"x/../y": [1, 1, 1]}
    return d


def _no_done(d):
    d["recs"].pop()
    return d


@pytest.mark.parametrize("damage", [
    lambda d: {**d, "wall": 1e308}, lambda d: {**d, "wall": -1}, lambda d: {**d, "wall": "1"},
    lambda d: {**d, "recs": [{"kind": "done", "seconds": 0.1}]},
    _junk_value, _no_values, _missing_key, _string_ns, _foreign_event, _no_done,
    lambda d: [d], lambda d: {**d, "recs": "x"},
], ids=["wall-huge", "wall-negative", "wall-text", "minimal", "junk-value", "no-values",
        "missing-key", "ns-text", "foreign-event", "no-done", "list", "recs-text"])
def test_a_stored_process_that_cannot_be_used_is_ignored(damage):
    assert _stored(damage(_proc_record())) is None
    # a process of another group (more arms than it has values for)
    assert _stored(_proc_record(), n_arms=2) is None


def test_resume_runs_again_a_pending_process_that_cannot_be_used(incomplete):
    """docs/sweep.md: a kept process that is not whole is ignored, its process
    run again (once a KeyError, or "result rows lack column 'run_id'")."""
    meta = json.loads((incomplete / "meta.json").read_text())
    import hashlib

    h = hashlib.sha256(case_key(meta["sweep"]["cases"][1]).encode()).hexdigest()[:16]
    store = incomplete / "pending" / h
    store.mkdir(parents=True)
    (store / "p0.json").write_text(json.dumps(_junk_value(_proc_record())))
    proc = run_cli("sweep", "--resume", "--out", incomplete, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((incomplete / "meta.json").read_text())["status"] == "complete"
    assert not (incomplete / "pending").exists()
    df = load_results(incomplete / "results.parquet")
    assert sorted(df["n"].unique()) == [2, 4]


# -- 8. --host --------------------------------------------------------------------

@pytest.mark.parametrize("host", ["h\udcff", "a\nb", "x" * 101, " "],
                         ids=["not-utf8", "newline", "too-long", "blank"])
def test_sweep_host_label_checked_before_anything_runs(host, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY)
    out = tmp_path / "o"
    proc = run_cli("sweep", cfg, "--out", out, "--host", host)
    assert_usage_error(proc, "--host", "printable UTF-8 text of 1 to 100 characters")
    assert not out.exists()


# -- 9. output directories that cannot be used -----------------------------------------

def _loop(tmp_path) -> Path:
    os.symlink(tmp_path / "m", tmp_path / "l")
    os.symlink(tmp_path / "l", tmp_path / "m")
    return tmp_path / "l"


@pytest.mark.parametrize("cmd", ["run", "sweep"])
@pytest.mark.parametrize("where", ["proc", "symlink-loop"])
def test_out_that_cannot_be_created_is_refused_before_anything_runs(cmd, where, tmp_path):
    out = Path("/proc/rmapbench-out") if where == "proc" else _loop(tmp_path) / "x"
    if cmd == "run":
        argv = ["run", "--variant", "old", "--n", "2", "--heads", "4", "--backend", "time",
                "--budget", "0.5"]
    else:
        cfg = tmp_path / "c.toml"
        cfg.write_text(TINY)
        argv = ["sweep", cfg]
    proc = run_cli(*argv, "--out", out, timeout=120)
    # one line: refused before the backend line or any progress
    assert_usage_error(proc, "--out", repr(str(out)))
    assert ("'/proc'" in proc.stderr if where == "proc"
            else "is a symbolic link loop" in proc.stderr), proc.stderr


def test_report_names_a_symlink_loop(tmp_path):
    loop = _loop(tmp_path)
    assert_usage_error(run_cli("report", loop), repr(str(loop)), "symbolic link loop")


def test_resume_with_parts_a_file_names_parts(incomplete):
    shutil.rmtree(incomplete / "parts")
    (incomplete / "parts").write_text("x")
    _resume_refused(incomplete, repr(str(incomplete / "parts")), "is not a directory")


def test_resume_with_a_directory_in_place_of_a_part(incomplete):
    meta = json.loads((incomplete / "meta.json").read_text())
    part = incomplete / "parts" / f"{case_key(meta['sweep']['cases'][1])}.parquet"
    part.mkdir()
    _resume_refused(incomplete, repr(str(part)), "is a directory")


def test_resume_with_pending_a_file(incomplete):
    (incomplete / "pending").write_text("x")
    _resume_refused(incomplete, repr(str(incomplete / "pending")), "is not a directory")


# -- 10. stdout that fails once the outputs are written ----------------------------------

def _to_dev_full(*args):
    with open("/dev/full", "wb") as full:
        return subprocess.run([sys.executable, "-m", "bench.cli", *map(str, args)],
                              stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              timeout=300)


def _stdout_failed(proc, kept: Path):
    """exit 2, the final line names standard output and what was kept."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert sum("error:" in ln for ln in proc.stderr.splitlines()) == 1, proc.stderr
    for needle in ("writing to standard output failed", "ENOSPC", repr(str(kept)),
                   "is kept"):
        assert needle in last, (needle, last)


def test_report_to_a_full_stdout_keeps_the_finished_report(synth, tmp_path):
    rep = tmp_path / "rep"
    proc = _to_dev_full("report", synth, "--out", rep)
    _stdout_failed(proc, rep)
    assert (rep / "report.md").is_file() and (rep / "report.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_compare_to_a_full_stdout_keeps_the_comparison(synth, tmp_path):
    other = write_run(tmp_path / "r2", host="hostB", variants=["old", "new"], ns=[4])
    cmp_ = tmp_path / "cmp"
    _stdout_failed(_to_dev_full("compare", synth, other, "--out", cmp_), cmp_)
    assert (cmp_ / "compare.md").is_file()


def test_sweep_to_a_full_stdout_keeps_the_run(complete_sweep, tmp_path):
    out = _complete(complete_sweep, tmp_path)
    before = _snapshot(out)
    _stdout_failed(_to_dev_full("sweep", "--resume", "--out", out), out)
    assert _snapshot(out) == before


# -- 11. a variant that crashes its worker ------------------------------------------

@pytest.fixture
def crasher(tmp_path):
    """A variant file: old, with a NULL store in its first add (SIGSEGV)."""
    src = (ROOT / "native" / "pte_list_old.c").read_text()
    head = ("int pte_list_add(struct rmap_cache *cache, u64 *spte,\n"
            "\t\t struct kvm_rmap_head *rmap_head)\n{\n")
    assert head in src
    p = tmp_path / "crash.c"
    assert 'PTE_LIST_DECLARE("old",' in src
    p.write_text(src.replace(head, head + "\t*(volatile int *)0 = 1;\n", 1)
                 .replace('PTE_LIST_DECLARE("old",', 'PTE_LIST_DECLARE("crash",'))
    return p


def test_worker_killed_by_a_signal_is_named():
    from bench.runner import worker_failure

    spec = {"case": {"workload": "fork", "n": 16, "heads": 4, "order": "fifo",
                     "alloc": "bump"},
            "arms": [{"variant": "old", "ext": 3}, {"variant": "crash", "ext": 3}]}
    text = worker_failure(spec, 0, -11, "")
    assert "fork n=16 heads=4 fifo bump" in text and "old@3, crash@3" in text
    assert "killed by SIGSEGV" in text
    text = worker_failure(spec, 1, 1, "Traceback ...\nbench.errors.UsageError: out of memory")
    assert text.endswith("failed (exit status 1): out of memory"), text


def test_sweep_with_a_crashing_variant_says_how_to_resume(crasher, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.replace('["old"]', '["old", "crash.c"]').replace("[2, 4]", "[2]"))
    out = tmp_path / "o"
    proc = run_cli("sweep", cfg, "--out", out, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    for needle in ("fork n=2 heads=4", "old@3", "killed by SIGSEGV",
                   f"rmapbench sweep --resume --out {out}", "remove"):
        assert needle in last, (needle, last)
    # kept to resume, as an interrupted sweep (docs/sweep.md), and marked so
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and "SIGSEGV" in meta["error"]


def test_run_with_a_crashing_variant_leaves_nothing(crasher, tmp_path):
    out = tmp_path / "o"
    proc = run_cli("run", "--variant", f"old,{crasher}", "--n", "2", "--heads", "4",
                   "--backend", "time", "--budget", "0.5", "--out", out, timeout=300)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "killed by SIGSEGV" in last and "old@3" in last, last
    assert not out.exists()
