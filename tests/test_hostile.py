"""A hostile user's battery: every kind of bad input, through the real command
line in a subprocess.  Each case must end in exit status 2 with exactly one
line on stderr that names the bad value (its needles), no traceback, no file
created or changed under the case's directory (nothing half-written), no
temporary file left in its TMPDIR and no process of its session still alive.

Kinds (docs/limits.md): unbounded inputs, numbers, empty values, standard
streams, the toolchain, damaged run directories, duplicates, late errors,
op-file lines, partial outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

TINY = ["--n", "2", "--heads", "4", "--backend", "time", "--processes", "1", "--values", "1",
        "--warmups", "0", "--loops", "1"]
TOML = '[[grid]]\nworkload = "fork"\nvariant = ["old"]\nn = [2]\nheads = [4]\n'
FAKE_CC = "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then shift; echo junk > \"$1\"; fi; shift; done\nexit 0\n"


class C:
    """One case: argv (may hold {d}, the case directory), files to create
    first, stdin, environment, and the needles its error line must hold."""

    def __init__(self, id, argv, needles, files=None, stdin=None, env=None, setup=None,
                 stdout=None, late=False):
        # late: the failure can only show after the command's progress lines
        # (a full disk behind stdout): the error must then be the final line
        self.id, self.argv, self.needles, self.late = id, argv, needles, late
        self.files, self.stdin, self.env = files or {}, stdin, env or {}
        self.setup, self.stdout = setup, stdout


# -- setups -------------------------------------------------------------------

def _fifo(name):
    return lambda d: os.mkfifo(d / name)


def _sparse(name, size):
    def f(d):
        with open(d / name, "wb") as fh:
            fh.truncate(size)
    return f


def _symlink(name, target):
    return lambda d: os.symlink(target, d / name)


_TEMPLATES: dict[str, Path] = {}


def _template(host: str) -> Path:
    """One finished synthetic run per host and process, copied into each case."""
    if host not in _TEMPLATES:
        import atexit
        import shutil
        import tempfile

        from tests.analysis_synth import write_run

        base = Path(tempfile.mkdtemp(prefix="hostile-template-"))
        atexit.register(shutil.rmtree, base, True)
        _TEMPLATES[host] = write_run(base / "r", host=host, variants=["old", "new"], ns=[4])
    return _TEMPLATES[host]


def _run(d, name="r", host="hostA"):
    import shutil

    return Path(shutil.copytree(_template(host), d / name))


def _meta(change):
    """A finished synthetic run whose meta.json is changed by change(meta)."""
    def f(d):
        run = _run(d)
        p = run / "meta.json"
        meta = json.loads(p.read_text())
        out = change(meta)
        p.write_text(out if isinstance(out, str) else json.dumps(meta))
    return f


def _meta_raw(data: bytes):
    def f(d):
        run = _run(d)
        (run / "meta.json").write_bytes(data)
    return f


def _set(path, value):
    def change(m):
        keys = path.split(".")
        t = m
        for k in keys[:-1]:
            t = t.setdefault(k, {})
        t[keys[-1]] = value
    return change


def _results(damage):
    """A finished synthetic run whose results.parquet is changed by damage(df)."""
    def f(d):
        import pandas as pd

        run = _run(d)
        p = run / "results.parquet"
        df = pd.read_parquet(p)
        df = damage(df)
        if df is not None:
            df.to_parquet(p)
    return f


def _cell(col, value, as_type=object):
    def damage(df):
        df[col] = df[col].astype(as_type)
        df.at[0, col] = value
        return df
    return damage


def _column_text(col, value):
    return _cell(col, value, str)


def _two_runs(d):
    _run(d, "r", "hostA")
    _run(d, "r2", "hostB")


def _results_raw(data: bytes):
    def f(d):
        run = _run(d)
        (run / "results.parquet").write_bytes(data)
    return f


def _no_results(d):
    (_run(d) / "results.parquet").unlink()


def _fake_cc(d):
    p = d / "cc"
    p.write_text(FAKE_CC)
    p.chmod(0o755)


def _grid(line: str) -> str:
    """One [[grid]] of fork/old/n=2/heads=4 with the keys line sets replaced."""
    keys = {ln.split("=")[0].strip() for ln in line.split("\n")}
    base = {"workload": '"fork"', "variant": '["old"]', "n": "[2]", "heads": "[4]"}
    return ("[[grid]]\n" + "".join(f"{k} = {v}\n" for k, v in base.items() if k not in keys)
            + line + "\n")


REPORT = ["report", "{d}/r", "--out", "{d}/rep"]
COMPARE = ["compare", "{d}/r", "{d}/r", "--out", "{d}/cmp"]

CASES: list[C] = []


def add(*a, **kw):
    CASES.append(C(*a, **kw))


# -- unbounded inputs -----------------------------------------------------------
add("ops-dev-zero", ["trace", "--variant", "old", "/dev/zero"], ["'/dev/zero'", "regular file"])
add("ops-dev-urandom", ["trace", "--variant", "old", "/dev/urandom"], ["'/dev/urandom'", "a device"])
add("ops-fifo", ["trace", "--variant", "old", "{d}/ops"], ["ops", "a FIFO"], setup=_fifo("ops"))
add("ops-symlink-to-device", ["trace", "--variant", "old", "{d}/ops"], ["ops", "a device"],
    setup=_symlink("ops", "/dev/zero"))
add("ops-too-large", ["trace", "--variant", "old", "{d}/ops"], ["ops", "larger than 16 MiB"],
    setup=_sparse("ops", (16 << 20) + 1))
add("ops-stdin-endless", ["trace", "--variant", "old", "-"], ["stdin", "larger than 16 MiB"],
    stdin="/dev/zero")
add("ops-directory", ["trace", "--variant", "old", "{d}"], ["is a directory"])
add("ops-missing", ["trace", "--variant", "old", "{d}/nope"], ["nope", "not found"])
add("config-dev-zero", ["sweep", "/dev/zero", "--list"], ["'/dev/zero'", "regular file"])
add("config-fifo", ["sweep", "{d}/c.toml", "--list"], ["c.toml", "a FIFO"], setup=_fifo("c.toml"))
add("config-too-large", ["sweep", "{d}/c.toml", "--list"], ["c.toml", "larger than 1 MiB"],
    setup=_sparse("c.toml", (1 << 20) + 1))
add("config-binary", ["sweep", "{d}/c.toml", "--list"], ["c.toml", "UTF-8"],
    files={"c.toml": b"\xff\xfe\x00grid"})
add("meta-dev-zero", REPORT, ["meta.json", "a device"],
    setup=lambda d: (_run(d), (d / "r" / "meta.json").unlink(),
                     os.symlink("/dev/zero", d / "r" / "meta.json")))
add("meta-fifo", REPORT, ["meta.json", "a FIFO"],
    setup=lambda d: (_run(d), (d / "r" / "meta.json").unlink(), os.mkfifo(d / "r" / "meta.json")))
add("meta-too-large", REPORT, ["meta.json", "larger than 64 MiB"],
    setup=lambda d: (_run(d), _sparse("r/meta.json", (64 << 20) + 1)(d)))
add("results-dev-zero", REPORT, ["results.parquet", "not a regular file"],
    setup=lambda d: (_run(d), (d / "r" / "results.parquet").unlink(),
                     os.symlink("/dev/zero", d / "r" / "results.parquet")))
add("check-json-fifo", REPORT, ["check.json", "a FIFO"],
    setup=lambda d: (_run(d), os.mkfifo(d / "r" / "check.json")))
add("variant-file-device", ["check", "--variant", "{d}/v.c"], ["v.c", "a device"],
    setup=_symlink("v.c", "/dev/zero"))
add("resume-meta-device", ["sweep", "--resume", "--out", "{d}/r"], ["meta.json", "a device"],
    setup=lambda d: (_run(d), (d / "r" / "meta.json").unlink(),
                     os.symlink("/dev/zero", d / "r" / "meta.json")))

# -- numbers ------------------------------------------------------------------------
for opt, val, needles in [
    ("--n", "+5", ["'+5'", "decimal digits"]), ("--n", "1_0", ["'1_0'"]),
    ("--n", "\u0661\u0662", ["--n", "decimal digits"]), ("--n", " 5", ["' 5'"]),
    ("--n", "5 ", ["'5 '"]), ("--n", "-1", ["--n -1 out of range"]),
    ("--n", "0x10", ["'0x10'"]), ("--n", "1e3", ["'1e3'"]),
    ("--n", "9" * 50, ["--n", "out of range"]), ("--n", "1048577", ["1048577", "0 to 1048576"]),
    ("--heads", "0", ["--heads 0", "1 to"]), ("--heads", "\uff11", ["--heads"]),
    ("--seed", "-3", ["--seed -3"]), ("--seed", "9223372036854775808", ["--seed", "out of range"]),
    ("--processes", "0", ["--processes 0"]), ("--processes", "1001", ["1 to 1000"]),
    ("--values", "NaN", ["'NaN'"]), ("--warmups", "-1", ["--warmups -1"]),
    ("--loops", "+1", ["'+1'"]), ("--min-time", "inf", ["'inf'"]),
    ("--min-time", "1e400", ["'1e400'"]), ("--min-time", "0", ["--min-time 0"]),
    ("--precision", "1", ["--precision 1", "below 1"]), ("--precision", "nan", ["'nan'"]),
    ("--precision", ".5", ["'.5'"]), ("--budget", "3601", ["--budget 3601"]),
    ("--budget", "1_0", ["'1_0'"]), ("--cpu", "+0", ["'+0'"]), ("--cpu", "\u0660", ["--cpu"]),
    ("--cpu", "99999", ["--cpu 99999"]), ("--ext", "\u0663", ["EXT"]), ("--ext", "65", ["EXT 65"]),
]:
    argv = ["run", "--variant", "old", *TINY]
    if opt in argv:
        i = argv.index(opt)
        del argv[i:i + 2]
    add(f"run{opt}={val!r}", argv + [opt, val], needles)
add("build-ext-list-bad", ["build", "--variant", "old", "--ext", "3,x"], ["'x'"],
    env={"RMAPBENCH_BUILD_DIR": "{d}/b"})
add("trace-ext-plus", ["trace", "--variant", "old", "--ext", "+3", "-"], ["'+3'"], stdin="")
add("check-ext-big", ["check", "--variant", "old", "--ext", "10000000000000000000000"], ["EXT"])
add("doctor-repeats-0", ["doctor", "--sensitivity", "--repeats", "0"], ["--repeats 0"])
add("doctor-chains-super", ["doctor", "--sensitivity", "--chains", "\u00b2"], ["--chains"])
add("doctor-chains-twice", ["doctor", "--sensitivity", "--chains", "1,1"], ["1 twice"])
add("doctor-chains-gap", ["doctor", "--sensitivity", "--chains", "1,,4"], ["--chains", "empty"])
add("sweep-cpu-plus", ["sweep", "--quick", "--list", "--cpu", "+1"], ["'+1'"])
for key, val, needles in [
    ("max_footprint", '"1e400"', ["options.max_footprint", "1e400"]),
    ("max_footprint", '"99999999999999999999999999GiB"', ["options.max_footprint"]),
    ("max_footprint", "nan", ["options.max_footprint"]),
    ("budget", "nan", ["options.budget", "NaN"]), ("precision", "inf", ["options.precision"]),
    ("max_sptes", "true", ["options.max_sptes", "true"]), ("cpu", '"0"', ["options.cpu"]),
]:
    add(f"config-{key}={val}", ["sweep", "{d}/c.toml", "--list"], needles,
        files={"c.toml": f"[options]\n{key} = {val}\n{TOML}"})
for line, needles in [
    ('n = {from = 1, to = 1000000000000, step = 1}', ["grid[1].n.to", "1048576"]),
    ('n = {from = 1, to = 1000000, step = 1}', ["grid[1].n", "at most 10000"]),
    ('seed = {from = 0, to = 9223372036854775807, step = 1}', ["grid[1].seed", "at most 10000"]),
    ('heads = ["99999999999999999999TiB"]', ["grid[1].heads", "99999999999999999999TiB"]),
    ('heads = ["1e9MiB"]', ["grid[1].heads", "1e9MiB"]),
    ('n = [1.5]', ["grid[1].n", "1.5"]),
    ('n = []', ["grid[1].n", "non-empty"]),
    ('variant = []', ["grid[1].variant", "non-empty"]),
    ('workload = ""', ["grid[1].workload", '""']),
    ('n = ' + "[" * 40 + "1" + "]" * 40, ["nested 9 levels", "at most 8"]),
    ('n = ' + "[" * 5000 + "]" * 5000, ["nested"]),
    ('heads = ' + str(list(range(1, 202))) + '\nn = ' + str(list(range(1, 202))), ["grid", "at most 20000 cases"]),
]:
    add(f"config-grid-{line[:30]}-{len(line)}", ["sweep", "{d}/c.toml", "--list"], needles,
        files={"c.toml": _grid(line)})

# -- empty values -------------------------------------------------------------------------
for argv, needles in [
    (["run", "--variant", "", *TINY], ["--variant ''", "empty"]),
    (["run", "--variant", "old", "--workload", "", *TINY], ["--workload ''"]),
    (["run", "--variant", "old", "--order", "", *TINY], ["--order ''"]),
    (["run", "--variant", "old", "--events", "", *TINY], ["--events ''"]),
    (["run", "--variant", "old", "--sim-profile", "", *TINY], ["--sim-profile ''"]),
    (["run", "--variant", "old", "--out", "", *TINY], ["--out ''"]),
    (["build", "--variant", ""], ["--variant ''"]),
    (["build", "--variant", "old", "--ext", ""], ["--ext ''"]),
    (["check", "--variant", ""], ["--variant ''"]),
    (["sweep", "--quick", "--list", "--host", ""], ["--host ''"]),
    (["sweep", "--quick", "--list", "--backend", ""], ["--backend ''"]),
    (["report", "{d}/r", "--baseline", ""], ["--baseline ''"]),
    (["compare", "{d}/r", "{d}/r", "--baseline", ""], ["--baseline ''"]),
    (["import", "{d}", "--name", ""], ["--name ''"]),
    (["trace", "--variant", "", "-"], ["--variant ''"]),
]:
    add("empty:" + " ".join(argv[:4]), argv, needles)

# -- standard streams -------------------------------------------------------------
add("stdout-closed", ["trace", "--variant", "old", "-"], ["standard output is closed"],
    stdin="add 0 1\n", stdout="closed")
add("stdout-full", ["trace", "--variant", "old", "-"], ["No space left", "ENOSPC"],
    stdin="add 0 1\n", stdout="/dev/full")
add("stdout-full-version", ["--version"], ["ENOSPC"], stdout="/dev/full")
add("stdout-full-check", ["check", "--variant", "old", "--json"], ["ENOSPC"], stdout="/dev/full")
add("stdout-full-list", ["sweep", "--quick", "--list", "--backend", "time"], ["ENOSPC"],
    stdout="/dev/full", late=True)
add("stdout-broken-pipe", ["trace", "--variant", "old", "-"], ["EPIPE"],
    stdin="".join(f"add 0 {i}\n" for i in range(1, 20000)), stdout="broken-pipe")
add("stdin-closed", ["trace", "--variant", "old", "-"], ["standard input is closed"],
    stdin="closed")
# --help and --version write through argparse, which drops a failed write
for argv in (["--help"], ["check", "--help"], ["sweep", "--help"], ["--version"]):
    what = " ".join(argv)
    if argv != ["--version"]:
        add(f"stdout-full:{what}", argv, ["No space left", "ENOSPC"], stdout="/dev/full")
    add(f"stdout-broken-pipe:{what}", argv, ["Broken pipe", "EPIPE"], stdout="broken-pipe")
    add(f"stdout-closed:{what}", argv, ["standard output is closed"], stdout="closed")

# -- toolchain ------------------------------------------------------------------------
add("cc-false", ["build", "--variant", "old"], ["/bin/false", "status 1"],
    env={"CC": "/bin/false", "RMAPBENCH_BUILD_DIR": "{d}/b"})
add("cc-succeeds-with-junk", ["build", "--variant", "old"], ["reported success", "no ELF"],
    env={"CC": "{d}/cc", "RMAPBENCH_BUILD_DIR": "{d}/b"}, setup=_fake_cc)
add("cc-junk-then-trace", ["trace", "--variant", "old", "-"], ["reported success"],
    env={"CC": "{d}/cc", "RMAPBENCH_BUILD_DIR": "{d}/b"}, setup=_fake_cc, stdin="add 0 1\n")
add("cc-missing", ["build", "--variant", "old"], ["no C compiler", "/nonexistent/cc"],
    env={"CC": "/nonexistent/cc", "RMAPBENCH_BUILD_DIR": "{d}/b"})
add("cc-not-executable", ["build", "--variant", "old"], ["no C compiler"],
    env={"CC": "{d}/cc", "RMAPBENCH_BUILD_DIR": "{d}/b"}, files={"cc": "not a program"})
add("build-dir-is-file", ["build", "--variant", "old"], ["RMAPBENCH_BUILD_DIR"],
    env={"RMAPBENCH_BUILD_DIR": "{d}/f"}, files={"f": "x"})
add("cflags-unbalanced", ["build", "--variant", "old", "--cflags", "'"], ["No closing quotation"],
    env={"RMAPBENCH_BUILD_DIR": "{d}/b"})
add("cflags-unknown", ["build", "--variant", "old", "--cflags=-fno-such-flag"],
    ["-fno-such-flag", "failed"], env={"RMAPBENCH_BUILD_DIR": "{d}/b"})

# -- damaged run directories: meta.json -----------------------------------------------
for name, change, needles in [
    ("status-int", _set("status", 5), ["field status is 5", "complete"]),
    ("status-odd", _set("status", "done"), ["field status", '"done"']),
    ("run_id-list", _set("run_id", []), ["field run_id", "non-empty string"]),
    ("host-str", _set("host", "x"), ["field host", "an object"]),
    ("host-caches-list", _set("host.caches", [1]), ["field host.caches"]),
    ("host-cache-neg", _set("host.caches.L2", -5), ["host.caches.L2", "-5"]),
    ("backend-gpu", _set("backend.chosen", "gpu"), ["backend.chosen", '"gpu"', "perf, sim, time"]),
    ("backend-null", _set("backend", None), ["field backend is null"]),
    ("events-int", _set("events.cycles", 1), ["events.cycles", "supported"]),
    ("events-supported-str", _set("events.cycles", {"supported": "yes"}), ["events.cycles"]),
    ("format-newer", _set("format_version", 99), ["format_version 99", "newer"]),
    ("format-str", _set("format_version", "1"), ["format_version", '"1"']),
    ("format-negative", _set("format_version", -1), ["format_version", "-1"]),
    ("format-bool", _set("format_version", True), ["format_version", "true"]),
    ("tuning-int", _set("tuning_warnings", [1]), ["tuning_warnings"]),
    ("sim-geometry", _set("sim.geometry", {"D1": [0, 1]}), ["sim.geometry.D1"]),
    ("created-int", _set("created", 5), ["field created is 5"]),
    ("cases-negative", _set("cases", -1), ["field cases is -1"]),
    ("plan-cpu-str", _set("plan", {"cpu": "two"}), ["plan.cpu", '"two"']),
    ("config-int", _set("config", 7), ["field config is 7"]),
    ("incomplete", _set("status", "incomplete"), ["incomplete", "only complete runs"]),
]:
    add(f"meta-{name}", REPORT, needles, setup=_meta(change))
add("meta-not-json", REPORT, ["meta.json", "not valid JSON"], setup=_meta_raw(b"{oops"))
add("meta-list", REPORT, ["meta.json", "JSON object"], setup=_meta_raw(b"[1, 2]"))
add("meta-deep", REPORT, ["meta.json", "nested too deeply"],
    setup=_meta_raw(b"[" * 100000 + b"]" * 100000))
add("meta-binary", REPORT, ["meta.json", "UTF-8"], setup=_meta_raw(b"\xff\x00\xfe"))
add("meta-missing", REPORT, ["no meta.json"],
    setup=lambda d: (_run(d), (d / "r" / "meta.json").unlink()))
add("compare-meta-newer", COMPARE, ["format_version 7", "newer"],
    setup=_meta(_set("format_version", 7)))

# -- damaged run directories: results.parquet ---------------------------------------------
for name, damage, needles in [
    ("backend-null", _cell("backend", None), ["'backend'", "null", "non-empty string"]),
    ("backend-gpu", _cell("backend", "gpu"), ["'backend'", "'gpu'", "perf, sim, time"]),
    ("workload-spin", _cell("workload", "spin"), ["'workload'", "'spin'"]),
    ("phase-other", _cell("phase", "walk"), ["'phase'", "'walk'"]),
    ("order-sideways", _cell("order", "sideways"), ["'order'", "'sideways'", "fifo"]),
    ("alloc-null", _cell("alloc", None), ["'alloc'", "null"]),
    ("unit-ms", _cell("unit", "ms"), ["'unit'", "'ms'", "ns/op"]),
    ("value-nan", _cell("value", float("nan")), ["'value'", "finite"]),
    ("value-inf", _cell("value", float("inf")), ["'value'", "finite"]),
    ("value-str", _column_text("value", "fast"), ["'value'", "'fast'"]),
    ("ext-1000", _cell("ext", 1000), ["'ext'", "1000", "2 to 64"]),
    ("n-negative", _cell("n", -1), ["'n'", "-1"]),
    ("heads-0", _cell("heads", 0), ["'heads'", "0"]),
    ("heads-fraction", _cell("heads", 2.5), ["'heads'", "2.5", "whole numbers"]),
    ("loops-0", _cell("loops", 0), ["'loops'"]),
    ("seed-str", _column_text("seed", "one"), ["'seed'", "'one'"]),
    ("ratio-2", _cell("enabled_ratio", 2.0), ["'enabled_ratio'", "2.0"]),
    ("variant-path", _cell("variant", "../x y"), ["'variant'", "'../x y'"]),
    ("metric-empty", _cell("metric", ""), ["'metric'", "non-empty"]),
    ("simulated-wrong", _cell("simulated", True), ["simulated", "backend sim"]),
    ("no-metric-column", lambda df: df.drop(columns=["metric"]), ["lacks column(s) metric"]),
    ("no-rows", lambda df: df.iloc[0:0], ["no rows"]),
]:
    add(f"results-{name}", REPORT, needles, setup=_results(damage))
add("results-not-parquet", REPORT, ["results.parquet", "not readable parquet"],
    setup=_results_raw(b"PAR1 but not really"))
add("results-empty-file", REPORT, ["results.parquet", "not readable parquet"],
    setup=_results_raw(b""))
add("results-missing-but-complete", REPORT, ["no results.parquet", "not complete"],
    setup=_no_results)

# -- duplicates ------------------------------------------------------------------------------
add("run-variant-twice", ["run", "--variant", "old,old", *TINY], ["'old'", "second time"])
add("run-variant-twice-by-path", ["run", "--variant", "old,new,new", *TINY], ["'new'", "second"])
add("check-variant-twice", ["check", "--variant", "new,new"], ["second time"])
add("build-variant-twice", ["build", "--variant", "old,old"], ["second time"],
    env={"RMAPBENCH_BUILD_DIR": "{d}/b"})
for key, val in [("variant", '["old", "old"]'), ("workload", '["fork", "fork"]'),
                 ("ext", "[3, 3]"), ("order", '["fifo", "fifo"]'), ("seed", "[1, 1]"),
                 ("heads", '["l2", "L2"]')]:
    add(f"config-{key}-twice", ["sweep", "{d}/c.toml", "--list"],
        [f"grid[1].{key}", "each value once"],
        files={"c.toml": _grid(f"{key} = {val}")})

# -- late errors: run refuses up front what sweep refuses ---------------------------------------
add("run-n-0", ["run", "--variant", "old", *TINY[2:], "--n", "0"], ["--n 0", "1 to"])
add("run-churn-n-0", ["run", "--variant", "old", "--workload", "churn", *TINY[2:], "--n", "0"],
    ["--n 0", "churn"])
add("run-guest-n", ["run", "--variant", "old", "--workload", "guest", *TINY[2:], "--n", "5"],
    ["--n 5", "guest"])
add("run-heads-past-cap", ["run", "--variant", "old", "--n", "16", "--heads", "1000000",
                           "--backend", "time"], ["--heads 1000000", "max_sptes"])
add("run-heads-max", ["run", "--variant", "old", "--heads", "67108864", "--backend", "time"],
    ["--heads 67108864"])
add("sweep-heads-past-footprint", ["sweep", "{d}/c.toml", "--list", "--backend", "time"],
    ["heads", "footprint"],
    files={"c.toml": '[options]\nmax_footprint = "64KiB"\n[[grid]]\nworkload = "fork"\n'
                     'variant = ["old"]\nn = [64]\nheads = [1000]\n'})

# -- op-file lines: split on newline only ------------------------------------------------------
for sep in ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\r"]:
    add(f"ops-split-{sep.encode('unicode_escape').decode()}", ["trace", "--variant", "old", "{d}/ops"],
        ["ops:1"], files={"ops": f"add 0 1{sep}add 0 2\n".encode()})
add("ops-nbsp", ["trace", "--variant", "old", "-"], ["unknown op", "\\xa0"], stdin="add\u00a00 1\n")
add("ops-nul", ["trace", "--variant", "old", "-"], ["<stdin>:1"], stdin="add 0 1\x00\n")
add("ops-bom", ["trace", "--variant", "old", "-"], ["unknown op", "\\ufeff"], stdin="\ufeffadd 0 1\n")
add("ops-head-big", ["trace", "--variant", "old", "-"], ["head index 1048576"], stdin="add 1048576 1\n")
add("ops-spte-0", ["trace", "--variant", "old", "-"], ["spte id 0"], stdin="add 0 0\n")
add("ops-arity", ["trace", "--variant", "old", "-"], ["malformed", "walk H"], stdin="walk 0 1\n")

# -- partial outputs --------------------------------------------------------------------------
add("report-unknown-baseline", ["report", "{d}/r", "--out", "{d}/rep", "--baseline", "nosuch"],
    ["nosuch"], setup=_run)
add("report-file-in-the-way", ["report", "{d}/r", "--out", "{d}/rep"], ["report.md", "in the way"],
    setup=lambda d: (_run(d), (d / "rep" / "report.md").mkdir(parents=True)))
add("report-out-is-file", ["report", "{d}/r", "--out", "{d}/f"], ["--out", "not a directory"],
    setup=_run, files={"f": "x"})
add("compare-unknown-baseline", ["compare", "{d}/r", "{d}/r2", "--out", "{d}/cmp", "--baseline", "zz"],
    ["zz"], setup=_two_runs)
add("compare-same-run-twice", ["compare", "{d}/r", "{d}/r", "--out", "{d}/cmp"],
    ["in both", "each run may be given once"], setup=_run)
add("check-out-fifo", ["check", "--variant", "old", "--out", "{d}/fifo"], ["--out", "FIFO"],
    setup=_fifo("fifo"))
add("import-out-fifo", ["import", "{d}/nope", "--out", "{d}/fifo.c"], ["fifo.c"],
    setup=_fifo("fifo.c"))
add("check-out-is-dir", ["check", "--variant", "old", "--out", "{d}"], ["a file path"])
add("run-out-not-empty", ["run", "--variant", "old", *TINY, "--out", "{d}/o"], ["not empty"],
    files={"o/x": "keep"})


# -- the runner -------------------------------------------------------------------------------

def _fmt(x, d):
    return str(x).replace("{d}", str(d))


def _session_alive(sid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(p.name))
    return out


def _files(d: Path, skip: Path) -> dict:
    out = {}
    for p in d.rglob("*"):
        if skip in p.parents or p == skip:
            continue
        try:
            if p.is_symlink() or not p.is_file():
                continue
            st = p.stat()
        except OSError:
            continue
        out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def run_case(case: C, d: Path):
    tmpdir = d / "TMPDIR"
    tmpdir.mkdir()
    for name, content in case.files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.setup:
        case.setup(d)
    before = _files(d, tmpdir)
    env = {**os.environ, "TMPDIR": str(tmpdir), **{k: _fmt(v, d) for k, v in case.env.items()}}
    argv = [sys.executable, "-m", "bench.cli", *(_fmt(a, d) for a in case.argv)]
    stdin_data, stdin_f, fds_to_close = None, subprocess.PIPE, []
    if case.stdin == "/dev/zero":
        stdin_f = open("/dev/zero", "rb")
    elif case.stdin == "closed":
        stdin_f = None
    elif case.stdin is not None:
        stdin_data = case.stdin.encode()
    else:
        stdin_f = subprocess.DEVNULL
    stdout_f = subprocess.PIPE
    pre = None
    if case.stdout == "/dev/full":
        stdout_f = open("/dev/full", "wb")
    elif case.stdout == "broken-pipe":
        r, w = os.pipe()
        os.close(r)
        stdout_f = w
        fds_to_close.append(w)
    elif case.stdout == "closed":
        stdout_f = subprocess.DEVNULL
        pre = lambda: os.close(1)       # noqa: E731
    if case.stdin == "closed":
        prev = pre
        pre = lambda: (prev and prev(), os.close(0))  # noqa: E731
    proc = subprocess.Popen(argv, stdin=stdin_f, stdout=stdout_f, stderr=subprocess.PIPE,
                            cwd=ROOT, env=env, start_new_session=True, preexec_fn=pre)
    for fd in fds_to_close:
        os.close(fd)
    try:
        _, err = proc.communicate(stdin_data, timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    finally:
        if hasattr(stdin_f, "close"):
            stdin_f.close()
        if hasattr(stdout_f, "close"):
            stdout_f.close()
    err = err.decode(errors="replace")
    time.sleep(0.05)
    return proc.returncode, err, before, tmpdir, proc.pid


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case, tmp_path):
    d = tmp_path / "case"
    d.mkdir()
    rc, err, before, tmpdir, pid = run_case(case, d)
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    if case.late:
        lines = lines[-1:]
        assert sum("error:" in ln for ln in err.splitlines()) == 1, err
    assert len(lines) == 1, err
    for n in case.needles:
        assert n in lines[0], (n, lines[0])
    assert _files(d, tmpdir) == before, "a file was created or changed"
    assert not any(tmpdir.iterdir()), list(tmpdir.iterdir())
    assert not _session_alive(pid), "a process of the command is still running"


def test_the_battery_is_large_and_covers_every_kind():
    assert len(CASES) >= 100
    kinds = {"ops-dev-zero", "run--n='+5'", "empty:run --variant  --n", "stdout-full",
             "cc-succeeds-with-junk", "meta-format-newer", "results-backend-gpu",
             "run-variant-twice", "run-n-0", "ops-split-\\x0c", "report-unknown-baseline"}
    assert kinds <= {c.id for c in CASES}, kinds - {c.id for c in CASES}
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("cmd,sig", [("run", "SIGTERM"), ("run", "SIGINT"),
                                     ("sweep", "SIGTERM")])
def test_signal_stops_workers_and_removes_temporaries(cmd, sig, tmp_path):
    import signal

    tmpdir = tmp_path / "TMPDIR"
    tmpdir.mkdir()
    out = tmp_path / "o"
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    cfg = tmp_path / "c.toml"
    cfg.write_text("[options]\nbudget = 60\n" + TOML.replace('["old"]', '["old", "new"]'))
    argv = (["run", "--variant", "old,new", "--budget", "60"] if cmd == "run" else
            ["sweep", str(cfg)])
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *argv,
                             "--backend", "time", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
                            start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(tmpdir.iterdir()):
            time.sleep(0.1)          # a worker's temporary directory: timing has begun
        assert any(tmpdir.iterdir()), proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(1.0)
        assert _session_alive(proc.pid), "no worker running"
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    signum = getattr(signal, sig).value
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and f"interrupted by {sig}" in err.strip().splitlines()[-1]
    time.sleep(0.2)
    assert not _session_alive(proc.pid), "a worker outlived the run"
    assert not any(tmpdir.iterdir()), list(tmpdir.iterdir())
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "incomplete" and meta["interrupted"] == sig
    assert not (out / "results.parquet").exists()


def test_resume_refinalizes_a_complete_run_without_results(tmp_path):
    # a run marked complete whose results.parquet is gone is not complete
    out = tmp_path / "o"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[options]\nbudget = 0.5\n[options.pyperf]\nprocesses = 1\nvalues = 1\n'
                   'warmups = 0\nloops = 1\n' + TOML)
    base = [sys.executable, "-m", "bench.cli", "sweep", str(cfg), "--backend", "time",
            "--out", str(out)]
    first = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert first.returncode == 0, first.stderr
    (out / "results.parquet").unlink()
    again = subprocess.run([sys.executable, "-m", "bench.cli", "sweep", "--resume", "--out",
                            str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "nothing to measure" not in again.stderr
    assert (out / "results.parquet").is_file()
    assert json.loads((out / "meta.json").read_text())["status"] == "complete"


def test_resume_with_a_fifo_as_a_part_does_not_block(tmp_path):
    from bench.results import case_key

    out = tmp_path / "run"
    (out / "parts").mkdir(parents=True)
    case = {"workload": "fork", "variant": "old", "ext": 3, "n": 2, "heads": 4,
            "order": "fifo", "alloc": "bump", "seed": 1}
    meta = {"run_id": "r1", "status": "incomplete", "host": {"name": "h"},
            "backend": {"requested": "time", "chosen": "time"},
            "config": {"source": "c.toml", "text": TOML},
            "sweep": {"host": "h", "total": 1, "cases": [case], "sessions": []}}
    (out / "meta.json").write_text(json.dumps(meta))
    os.mkfifo(out / "parts" / f"{case_key(case)}.parquet")
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "sweep", "--resume", "--out",
                           str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "FIFO" in lines[0] and "Traceback" not in proc.stderr
    assert json.loads((out / "meta.json").read_text())["status"] == "incomplete"
