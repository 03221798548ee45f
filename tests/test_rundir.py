"""bench.results.RunDir on disk: what a reader finds after begin(), and after
a process killed in the middle of write_case().

write_case() renames two finished files into parts/: the case's pyperf
part, then its parquet part, whose presence marks the case finished.  The
order is observed here by killing the writing process (SIGKILL, no cleanup)
at the moment it is about to make its n-th rename, seen through Python's
audit hook for os.rename/os.replace."""

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from bench.build import ROOT
from bench.results import COLUMNS, RunDir

# the least meta.json its schema (bench.meta.check_meta) allows
META = {"run_id": "r", "host": {"name": "h"}, "tuning_warnings": [],
        "backend": {"requested": "time", "chosen": "time", "reason": None}}
ROW = {c: 0 for c in COLUMNS} | {"run_id": "r", "host": "h", "backend": "time",
                                 "workload": "walk", "phase": "walk", "variant": "old",
                                 "order": "fifo", "alloc": "bump", "metric": "time",
                                 "unit": "ns/op", "value": 12.5, "enabled_ratio": 1.0}
PYPERF = json.dumps({"marker": "pyperf part of case k"})

WRITER = textwrap.dedent("""
    import json, os, signal, sys
    from bench.results import RunDir

    out, kill_at, row, pyperf = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
    renames = []

    def hook(event, args):
        if event == "os.rename" and os.sep + "parts" + os.sep in str(args[1]):
            renames.append(os.path.basename(str(args[1])))
            print("rename", renames[-1], flush=True)
            if len(renames) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    RunDir(out).write_case("k", [row], pyperf)
    print("done", flush=True)
""")


def _write_case_killed(out, kill_at):
    return subprocess.run([sys.executable, "-c", WRITER, str(out), str(kill_at),
                           json.dumps(ROW), PYPERF], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def _visible(d):
    return sorted(p.name for p in (d / "parts").iterdir() if not p.name.startswith("."))


def test_begin_removes_stale_results_and_keeps_parts(tmp_path):
    d = tmp_path / "run"
    (d / "parts").mkdir(parents=True)
    (d / "results.parquet").write_bytes(b"stale results of an earlier run")
    (d / "pyperf.json").write_text("{}")
    (d / "parts" / "k.parquet").write_bytes(b"a finished case")
    RunDir(d).begin(dict(META))
    assert not (d / "results.parquet").exists()
    assert not (d / "pyperf.json").exists()
    assert (d / "parts" / "k.parquet").read_bytes() == b"a finished case"
    got = json.loads((d / "meta.json").read_text())
    assert got["status"] == "incomplete" and got["run_id"] == "r"


def test_write_case_writes_pyperf_part_then_parquet_part(tmp_path):
    d = tmp_path / "run"
    RunDir(d).begin(dict(META))
    proc = _write_case_killed(d, 0)             # 0: never killed
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["rename", "k.pyperf.json", "rename", "k.parquet", "done"]
    assert _visible(d) == ["k.parquet", "k.pyperf.json"]
    assert RunDir(d).finished_keys() == {"k"}
    assert pd.read_parquet(d / "parts" / "k.parquet")["value"].tolist() == [12.5]


@pytest.mark.parametrize("kill_at,left", [(1, []), (2, ["k.pyperf.json"])])
def test_killed_inside_write_case_leaves_no_finished_mark(tmp_path, kill_at, left):
    """Killed before its first rename: nothing visible.  Killed before its
    second: the pyperf part alone, complete, and the case is not finished,
    so a resume measures it again and finalize never merges that part."""
    d = tmp_path / "run"
    RunDir(d).begin(dict(META))
    proc = _write_case_killed(d, kill_at)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    assert _visible(d) == left
    rd = RunDir(d)
    assert rd.finished_keys() == set()
    if left:
        assert (d / "parts" / "k.pyperf.json").read_text() == PYPERF
    with pytest.raises(ValueError, match="not finished"):
        rd.finalize(dict(META), ["k"])
    rd.finalize(dict(META))
    assert not (d / "pyperf.json").exists()
    assert len(pd.read_parquet(d / "results.parquet")) == 0
    assert json.loads((d / "meta.json").read_text())["cases"] == 0
