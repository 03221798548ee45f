"""The whole pipeline on a small real sweep: sweep (auto backend) -> check ->
report, as `make bench` chains them, and the report's content.

The assertions are about what the report says and where its numbers come
from, plus directions that any faithful measurement of these algorithms
shows in *simulated, exact* counts (kvm-2023's add is O(1) in chain length,
new's add is O(n) because of its count walk). No timing is asserted."""

import json
import re

import pandas as pd
import pytest

from tests.conftest import run_cli

CONFIG = """
description = "end-to-end test: tiny fork and walk grids"
[options]
backend = "{backend}"
sim_max_sptes = 16384
[options.pyperf]
processes = 1
values = 2
warmups = 0
loops = 1
[defaults]
variant = ["old", "new", "kvm-2023"]
seed = 3
[[grid]]
name = "fork"
workload = "fork"
n = [2, 8, 32, 128]
heads = 64
order = "fifo"
[[grid]]
name = "walk"
workload = "walk"
n = [8]
heads = 64
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = tmp / "tiny.toml"
    cfg.write_text(CONFIG.format(backend="auto"))
    out = tmp / "run"
    proc = run_cli("sweep", cfg, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith(str(out))
    chk = run_cli("check", "--variant", "old,new,kvm-2023", "--out", out / "check.json")
    assert chk.returncode == 0, chk.stderr
    rep = run_cli("report", out)
    assert rep.returncode == 0, rep.stderr
    assert rep.stdout.strip().endswith("report.html")
    return out


def test_run_directory_is_complete_and_tidy(run_dir):
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "complete"
    df = pd.read_parquet(run_dir / "results.parquet")
    # 3 variants x (4 fork n x 2 phases + 1 walk) phases, each with timing rows
    t = df[df.metric == "time"]
    assert len(t.groupby(["workload", "phase", "variant", "n"])) == 3 * (4 * 2 + 1)
    assert set(df.backend) <= {"perf", "sim", "time"}
    assert (df.simulated == (df.backend == "sim")).all()
    assert (df.cpu == meta["plan"]["cpu"]).all()


def test_report_files_and_labels(run_dir):
    html = (run_dir / "report.html").read_text()
    md = (run_dir / "report.md").read_text()
    summary = (run_dir / "summary.txt").read_text()
    changes = (run_dir / "changes.txt").read_text()
    assert "data:image/png;base64," in html           # plots inline
    assert "<table" in html and "fork" in html and "walk" in html
    assert re.search(r"\bsimulated\b", html) and re.search(r"\bmeasured\b", html)
    for text in (html, md):
        assert "kvm-2023" in text and "new" in text
    # summary.txt fits a commit message: the pair, one line per workload and phase
    # (measured with its interval, simulated exact), one line per history fact
    lines = summary.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 80
    assert re.match(r"rmapbench: [\w@-]+ against old, per op", lines[0])
    assert any(re.match(r"  add +time [+-]\d+\.\d% \[[+-]\d+\.\d%, [+-]\d+\.\d%\]", ln)
               for ln in lines)
    assert any(re.search(r"sim D1mr [+-]\d+\.\d%", ln) for ln in lines) or "sim" not in lines[1]
    facts = [ln for ln in lines if re.match(r"\([a-f]\) ", ln)]
    assert [ln[:3] for ln in facts] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    assert all(re.search(r": (agree|disagree|mixed|inconclusive|missing)", ln) for ln in facts)
    # changes.txt: before -> after lines with a percentage and the backend; the
    # kernel-history lines come first, one per fact, each with a verdict
    history, _, rest = changes.partition("rmapbench changes")
    facts = [ln for ln in history.splitlines() if ln.startswith("(")]
    assert [ln[:3] for ln in facts] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    assert all(re.search(r" -> (agree|disagree|mixed|inconclusive|missing)", ln) for ln in facts)
    lines = [ln for ln in rest.splitlines() if "->" in ln]
    assert lines and all(re.search(r"[+-]\d+(\.\d+)?%|n/a exact|up from 0", ln) for ln in lines)
    assert any(re.search(r"[+-]\d+(\.\d+)?% \[CI", ln) for ln in lines)   # measured, with CI
    assert any(re.search(r"[+-]\d+(\.\d+)?% exact", ln) for ln in lines)   # simulated, exact
    assert "inf%" not in summary and "inf%" not in changes
    # check results joined the report: new's lockless-walk miss is there
    assert "counterexample" in html.lower() or "can miss" in html.lower()


def test_simulated_directions_match_kernel_history(run_dir):
    """Head-only add (kvm-2023) is O(1) per op in chain length; new's add walks
    the whole chain to count, so its instructions per add grow with n."""
    df = pd.read_parquet(run_dir / "results.parquet")
    sim = df[(df.backend == "sim") & (df.metric == "Ir") & (df.workload == "fork")
             & (df.phase == "add")]
    if sim.empty:
        pytest.skip("auto did not pick the sim backend on this host (it has a PMU)")
    ir = sim.set_index(["variant", "n"])["value"]
    # flat: within 10% from 8 to 128 sptes per head
    assert abs(ir[("kvm-2023", 128)] / ir[("kvm-2023", 8)] - 1) < 0.10
    # new's count walk: over 40 more instructions per add at 128 than at 8
    assert ir[("new", 128)] - ir[("new", 8)] > 40
    assert ir[("new", 128)] > 1.5 * ir[("new", 8)]
    # old walks to the first non-full descriptor (the tail, in fifo fork)
    assert ir[("old", 128)] > 1.5 * ir[("old", 8)]
    fits = pd.read_csv(run_dir / "fits.csv")
    assert not fits.empty
