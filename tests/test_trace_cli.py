"""`rmapbench trace` and `rmapbench build` from the command line, bad input included."""

import json

import pytest

from model import run_model
from conftest import assert_usage_error, run_cli


def test_trace_output_format(tmp_path):
    ops = tmp_path / "ops.txt"
    ops.write_text("# comment\nadd 0 1\nadd 0 2\n\nadd 0 3\nadd 0 4\nwalk 0\ncount 0\n"
                   "remove 0 2\nremove 5 1\n")
    proc = run_cli("trace", "--variant", "old", "--ext", "3", ops)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert recs[0] == {"op": "add", "head": 0, "spte": 1, "ret": 0}
    assert recs[4] == {"op": "walk", "head": 0, "ret": [1, 2, 3, 4]}
    assert recs[5] == {"op": "count", "head": 0, "ret": 4}
    assert recs[6] == {"op": "remove", "head": 0, "spte": 2, "ret": None}
    assert recs[7] == {"op": "remove", "head": 5, "spte": 1, "ret": "BUG"}
    # one line per head touched, sorted, EXT slots each, nulls for empty
    assert recs[8] == {"head": 0, "form": "many", "descs": [[1, 3, None], [4, None, None]]}
    assert recs[9] == {"head": 5, "form": "empty", "descs": []}
    assert len(recs) == 10


def test_trace_reads_stdin_and_default_ext():
    proc = run_cli("trace", "--variant", "kvm-2021", "-", stdin="add 3 9\nadd 3 10\n")
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout.splitlines()[-1])
    assert last["descs"] == [[9, 10] + [None] * 12]   # default EXT 14


def test_trace_matches_model_on_a_long_sequence(tmp_path):
    lines = [f"add {h} {i}" for i in range(1, 90) for h in (0, 1) if (i + h) % 3]
    lines += [f"remove 0 {i}" for i in range(1, 90, 4) if i % 3]
    lines += ["walk 0", "walk 1", "count 0"]
    ops = tmp_path / "ops.txt"
    ops.write_text("\n".join(lines))
    for variant in ("old", "new", "new-fixed", "kvm-2021", "kvm-2023"):
        proc = run_cli("trace", "--variant", variant, "--ext", "4", ops)
        from bench.trace import read_ops
        want = run_model(variant, 4, read_ops(str(ops)))
        assert [json.loads(x) for x in proc.stdout.splitlines()] == want, variant


@pytest.mark.parametrize("args,stdin,needles", [
    (["--variant", "bogus", "-"], "", ["'bogus'", "old, new"]),
    (["--variant", "old", "--ext", "1", "-"], "", ["EXT 1", "2 to 64"]),
    (["--variant", "old", "--ext", "65", "-"], "", ["EXT 65", "2 to 64"]),
    (["--variant", "old", "--ext", "three", "-"], "", ["'three'", "2 to 64"]),
    (["--variant", "old", "-"], "add 0 1\nadd 0\n", ["<stdin>:2", "'add 0'", "add H S"]),
    (["--variant", "old", "-"], "add 0 1\n\nadd 0 0\n", ["<stdin>:3", "spte id 0", "1 to"]),
    (["--variant", "old", "-"], "add 0 -4\n", ["<stdin>:1", "spte id -4"]),
    (["--variant", "old", "-"], "remove 0 x\n", ["<stdin>:1", "'x'", "not an integer"]),
    (["--variant", "old", "-"], "frob 0 1\n", ["<stdin>:1", "'frob'", "add H S"]),
    (["--variant", "old", "-"], "walk -1\n", ["<stdin>:1", "head index -1"]),
    (["--variant", "old", "/nonexistent/ops.txt"], "", ["'/nonexistent/ops.txt'", "not found"]),
    ([], "", ["--variant"]),
])
def test_trace_bad_input(args, stdin, needles):
    proc = run_cli("trace", *args, stdin=stdin)
    assert_usage_error(proc, *needles)
    assert proc.stdout == ""


def test_trace_directory_and_binary_file(tmp_path):
    assert_usage_error(run_cli("trace", "--variant", "old", tmp_path), "directory")
    (tmp_path / "b").write_bytes(b"\xff\xfe\x00add")
    assert_usage_error(run_cli("trace", "--variant", "old", tmp_path / "b"), "not text")


def test_no_compiler(tmp_path):
    proc = run_cli("trace", "--variant", "old", "-", stdin="add 0 1\n",
                   env={"CC": "no-such-cc", "RMAPBENCH_BUILD_DIR": str(tmp_path)})
    assert_usage_error(proc, "no C compiler", "'no-such-cc'")
    proc = run_cli("build", "--variant", "old",
                   env={"CC": "no-such-cc", "RMAPBENCH_BUILD_DIR": str(tmp_path)})
    assert_usage_error(proc, "no C compiler")


def test_build_bad_input(tmp_path):
    env = {"RMAPBENCH_BUILD_DIR": str(tmp_path)}
    assert_usage_error(run_cli("build", "--variant", "old,nope", env=env), "'nope'")
    assert_usage_error(run_cli("build", "--variant", "old", "--ext", "99", env=env), "EXT 99")
    assert_usage_error(run_cli("build", "--variant", "old", "--cflags=-fno-such-flag-xyz",
                               env=env), "-fno-such-flag-xyz", "failed")
    assert_usage_error(run_cli("build", "--cflags", "'unterminated", env=env), "compiler flags")
    assert_usage_error(run_cli("frobnicate"), "frobnicate")
