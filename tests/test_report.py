"""Reports from synthetic run directories written with bench.results.RunDir
in the exact schema: content, summary format, merging hosts, the check
section, and refusal of corrupt input (exit 2, one line)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.load import load_run, load_runs
from analysis.report import build_report, write_report
from bench.errors import UsageError
from bench.results import RunDir
from tests.analysis_synth import make_meta, write_run
from tests.conftest import assert_usage_error, run_cli

SMALL_CACHES = {"L1d": 32768, "L2": 262144, "L3": 2097152, "LLC": 2097152}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {
        # new-fixed: same counters as old but 1.5x its time: nothing recorded explains it
        "a": write_run(base / "a", "hostA", "perf", seed=1, caches=SMALL_CACHES,
                       time_factor={"new-fixed": 1.5}),
        "s": write_run(base / "s", "hostA", "sim", seed=2),
        "b": write_run(base / "b", "hostB", "perf", seed=3, mux=0.8),
    }


@pytest.fixture(scope="module")
def report_ab(runs, tmp_path_factory):
    """report of hostA (perf + sim) and hostB (perf) through the real CLI."""
    out = tmp_path_factory.mktemp("report")
    # the shape `rmapbench check --json` prints (bench/check.py run_check)
    check = [{"variant": "new", "ext": 3,
              "deviations": [{"kind": "add-return", "ops": ["add 1", "add 2", "add 3"],
                              "detail": "returns the count after the add"}],
              "differences": [],
              "race": {"can_miss": True, "ext": 3, "missed": [2],
                       "bounds": {"runs": [{"ext": 3, "max_initial_len": 4, "max_writer_ops": 2,
                                            "can_miss": True}]},
                       "counterexample": [
                           {"actor": "init", "action": "built by: add 1; add 2; add 3; add 4",
                            "layout": "head=D0 D0[4 3 2] -> D1[1 - -]"},
                           {"actor": "walker", "action": "reads D0 slot 0: spte 4",
                            "layout": "head=D0 D0[4 3 2] -> D1[1 - -]"},
                           {"actor": "writer", "action": "remove 4",
                            "layout": "head=D0 D0[2 3 -] -> D1[1 - -]"}]}},
             {"variant": "kvm-2023", "ext": 14, "deviations": [], "differences": [],
              "race": {"can_miss": False,
                       "bounds": {"runs": [{"ext": 2, "max_initial_len": 5, "max_writer_ops": 2,
                                            "can_miss": False}]},
                       "counterexample": None}}]
    (runs["a"] / "check.json").write_text(json.dumps(check))
    try:
        proc = run_cli("report", runs["a"], runs["s"], runs["b"], "--out", out)
    finally:
        (runs["a"] / "check.json").unlink()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "report.html")
    return out


def test_html_is_self_contained_with_tables_and_inline_plots(report_ab):
    html = (report_ab / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<table id=" in html and "$body" not in html and "$title" not in html
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    pngs = sorted((report_ab / "plots").glob("*.png"))
    # a headline figure per workload, then per phase: hostA perf time, cycles and L1d
    # misses + hostA sim Ir, D1mr and DLmr + hostB perf the same 3, for 3 phases each
    assert len(imgs) == len(pngs) == 2 + (3 + 3 + 3) * 3
    assert all(src.startswith("data:image/png;base64,") for src in imgs)
    # the page opens with the headline figures: the first image before the first table
    assert html.index("<img ") < html.index("<table ")
    assert {p.name for p in pngs} >= {"headline-fork.png", "headline-walk.png"}
    assert not re.search(r'(src|href)="(https?:|//|/)', html)
    assert "<link" not in html and "<script" not in html
    for phase in ("fork add", "fork remove", "walk walk"):
        for where in ("host hostA, perf, measured", "host hostA, sim, simulated",
                      "host hostB, perf, measured"):
            assert f"{phase}, {where}: mean per op" in html
            assert f"{phase}, {where}: change against old" in html
            assert f"{phase}, {where}: scaling with n" in html


def test_report_says_backend_and_simulated(report_ab):
    md = (report_ab / "report.md").read_text()
    assert "backend sim: simulated (valgrind cache simulator" in md
    assert "backend perf: measured on this host" in md
    # every table caption names its backend and whether it is simulated
    captions = re.findall(r"^\*(.*(?:mean per op|change against old|scaling with n))\*$", md, re.M)
    assert len(captions) == 3 * 3 * 3
    assert all(re.search(r"(perf, measured|sim, simulated)", c) for c in captions)
    # plots are written beside report.md
    for name in re.findall(r"!\[[^\]]*\]\((plots/[^)]+\.png)\)", md):
        assert (report_ab / name).is_file()


def test_method_section_from_meta(report_ab):
    md = (report_ab / "report.md").read_text()
    assert "| LLC-load-misses | unsupported | ENOENT: event not supported by this PMU |" in md
    assert "governor is 'powersave'" in md and "turbo boost is on" in md
    assert "pinned CPU(s) of the measured workers | 2 |" in md
    # hostB's L1d misses were multiplexed at 0.8; hostA's were not
    b = md[md.index("## Host hostB"):md.index("## Statistical method")]
    assert "| L1-dcache-load-misses | 600/600 | 0.800 |" in b
    a = md[md.index("## Host hostA"):md.index("## Host hostB")]
    assert "Multiplexing: none" in a


def test_footprint_placed_against_host_and_sim_caches(report_ab):
    md = (report_ab / "report.md").read_text()
    # hostA has a 2 MiB LLC: n=1024 of old (2.9 MiB) does not fit; on hostB (8 MiB) it does
    a_perf = md[md.index("### fork / add — host hostA, perf"):]
    a_perf = a_perf[:a_perf.index("*fork add, host hostA, perf, measured: change")]
    assert re.search(r"\| 1024 \| old \| 3 \| 100 \| 2\.9 MiB \| beyond LLC \|", a_perf)
    assert re.search(r"\| 4 \| old \| 3 \| 100 \| 16\.4 KiB \| inside L1d \|", a_perf)
    b_perf = md[md.index("### fork / add — host hostB, perf"):]
    assert re.search(r"\| 1024 \| old \| 3 \| 100 \| 2\.9 MiB \| inside LLC \|", b_perf)
    a_sim = md[md.index("### fork / add — host hostA, sim"):]
    assert re.search(r"\| 1024 \| old \| 3 \| 100 \| 2\.9 MiB \| inside LL \|", a_sim)


def _findings(md: str) -> dict[str, tuple[list[str], dict[str, list[list[str]]]]]:
    """'#### findings, every case — <workload>, host <host>, <tag>' of the
    per-workload sections -> (its bullet lines, its evidence table's rows by
    series: [phase/case, series, change, interval, verdict, evidence])."""
    out = {}
    for part in md.split("\n#### findings, every case — ")[1:]:
        head, _, body = part.partition("\n")
        body = re.split(r"\n#{1,4} ", body)[0]
        wl, _, rest = head.partition(", ")
        head = f"{wl} — {rest}"
        bullets = [l[2:] for l in body.splitlines() if l.startswith("- ")]
        rows: dict[str, list[list[str]]] = {}
        for l in body.splitlines():
            if l.startswith("| ") and not l.startswith("| phase, case"):
                cells = [c.strip() for c in l.strip("|").split(" | ")]
                rows.setdefault(cells[1], []).append(cells)
        out[head] = (bullets, rows)
    return out


def _row(rows: dict, label: str, case: str) -> list[str]:
    (r,) = [r for r in rows[label] if r[0] == case]
    return r


@pytest.fixture(scope="module")
def raw(runs):
    """Per host, the raw values the run directories hold."""
    return {"hostA": pd.concat([pd.read_parquet(runs[k] / "results.parquet") for k in "as"]),
            "hostB": pd.read_parquet(runs["b"] / "results.parquet")}


def _raw_ratio(df, workload, phase, n, label, metric, backend, base="old"):
    """mean(label) / mean(base) of the raw per-op values of one point (unpaired
    synthetic data: the method's estimator is the ratio of means)."""
    sel = df[(df.workload == workload) & (df.phase == phase) & (df.n == n)
             & (df.metric == metric) & (df.backend == backend)]
    return sel[sel.variant == label].value.mean() / sel[sel.variant == base].value.mean()


def test_comparisons_agree_with_raw_values_and_the_known_costs(raw, report_ab):
    """comparisons.csv, which the findings and summary tests read, against what
    the run directories hold and what the synthetic costs are (tests/analysis_synth):
    every ratio is the ratio of the raw means, within 3% of the true cost ratio
    (2% noise, 10 values), and the intervals cover the true ratio about as
    often as 95% intervals do."""
    from tests.analysis_synth import cost

    cmp = pd.read_csv(report_ab / "comparisons.csv")
    factor = {("hostA", "new-fixed", "time"): 1.5}
    covered = tested = 0
    assert len(cmp) == (4 + 3 + 4) * 3 * 5 * 3
    for r in cmp.itertuples():
        got = _raw_ratio(raw[r.host], r.workload, r.phase, r.n, r.label, r.metric, r.backend)
        assert r.ratio == pytest.approx(got, rel=1e-9), r
        true = cost(r.label, r.n, r.metric) / cost("old", r.n, r.metric) * \
            factor.get((r.host, r.label, r.metric), 1.0)
        assert r.ratio == pytest.approx(true, rel=0.03 if r.backend == "perf" else 1e-12), r
        if r.backend == "perf":
            tested += 1
            covered += r.ci_lo <= true <= r.ci_hi
    assert tested == (4 + 4) * 3 * 5 * 3
    assert covered >= 0.85 * tested, (covered, tested)


def test_findings_come_from_the_numbers(raw, report_ab):
    md = (report_ab / "report.md").read_text()
    cmp = pd.read_csv(report_ab / "comparisons.csv")
    f = _findings(md)
    assert set(f) == {f"{wl} — host {h}, {tag}" for wl in ("fork", "walk")
                      for h, tag in (("hostA", "perf, measured"), ("hostA", "sim, simulated"),
                                     ("hostB", "perf, measured"))}
    bullets, rows = f["fork — host hostA, perf, measured"]
    # one short line per phase and case: fork add, fork remove
    assert len(bullets) == 2
    line = next(l for l in bullets if l.startswith("fork add at n=1024 [perf, measured]"))

    def point(label, metric, host="hostA"):
        row = cmp[(cmp.host == host) & (cmp.backend == "perf") & (cmp.workload == "fork")
                  & (cmp.phase == "add") & (cmp.n == 1024) & (cmp.label == label)
                  & (cmp.metric == metric)].iloc[0]
        # the number the report is checked against is itself the raw data's
        assert row.ratio == pytest.approx(_raw_ratio(raw[host], "fork", "add", 1024, label,
                                                     metric, "perf"), rel=1e-9)
        return row

    def change(label, host="hostA"):
        p = point(label, "time", host)
        return (f"{(p.ratio - 1) * 100:+.1f}% [CI {(p.ci_lo - 1) * 100:+.1f}%, "
                f"{(p.ci_hi - 1) * 100:+.1f}%]")

    # the short line: best and worst against old with their interval, cause in a few words
    assert f"best kvm-2023 {change('kvm-2023')} — O(1) per op vs O(n) per op for old" in line
    worst = line[line.index("worst new "):]
    assert worst.startswith(f"worst new {change('new')} — ")
    assert "per extra spte" in worst.split(";")[0]  # new and old both O(n): the slopes
    assert f"{point('new', 'L1-dcache-load-misses').ratio:.2f}x" in worst
    assert "new-fixed" not in line.split("best")[0] and len(line) < 400

    # the table: every series with its evidence
    new = _row(rows, "new", "add n=1024")
    assert new[4] == "worse" and new[3] == change("new").split("[CI ")[1].rstrip("]")
    assert new[5].startswith(f"{point('new', 'time').ratio:.2f}x slower; because")
    assert f"{point('new', 'instructions').ratio:.2f}x the instructions per op" in new[5]
    assert f"{point('new', 'L1-dcache-load-misses').ratio:.2f}x the L1d load misses" in new[5]
    assert "per extra spte" in new[5]  # the scaling evidence
    kvm = _row(rows, "kvm-2023", "add n=1024")
    assert kvm[5].startswith(f"{1 / point('kvm-2023', 'time').ratio:.2f}x faster; because")
    assert "O(1) per op" in kvm[5]
    # new-fixed is slower in time only: its counters must not be given as the reason
    nf = _row(rows, "new-fixed", "add n=1024")
    assert nf[4] == "worse"
    assert nf[5].startswith(f"{point('new-fixed', 'time').ratio:.2f}x slower")
    assert "because" not in nf[5] and "do not account for it" in nf[5]
    # hostB: new-fixed and old are drawn from the same distribution
    b_bullets, b_rows = f["fork — host hostB, perf, measured"]
    b_add = next(l for l in b_bullets if l.startswith("fork add at n=1024"))
    assert re.search(r"n\.s\.: [\w@, -]*new-fixed", b_add)
    assert "best new-fixed" not in b_add and "worst new-fixed" not in b_add
    assert _row(b_rows, "new-fixed", "add n=1024")[4] == "n.s."
    assert "because" not in _row(b_rows, "new-fixed", "add n=1024")[5]
    # simulated findings are exact and say so
    s_bullets, s_rows = f["fork — host hostA, sim, simulated"]
    s_add = next(l for l in s_bullets if l.startswith("fork add at n=1024"))
    assert "[sim, simulated]" in s_add and "CI" not in s_add and " exact — " in s_add
    s_new = _row(s_rows, "new", "add n=1024")
    assert s_new[3] == "exact"
    # a count is explained by its scaling only; other counts are reported beside it
    assert "because its instructions (simulated) per op grows by" in s_new[5]
    assert "it also has" in s_new[5] and "D1 read misses (simulated)" in s_new[5]
    assert "because it incurs" not in s_new[5]


SUMMARY_LINE = re.compile(
    r"^(?P<wl>fork|walk) (?P<ph>add|remove|walk) n=(?P<n>\d+) +old (?P<a>[\d.]+) (?P<u>\S+/op) -> "
    r"(?P<v>[\w-]+) (?P<b>[\d.]+) (?P=u) +(?P<pct>[+-]\d+\.\d%) "
    r"(?:\[CI (?P<lo>[+-]\d+\.\d%), (?P<hi>[+-]\d+\.\d%)\] +(?P<be>perf)|exact +sim, simulated)"
    r"(?:, (?P<verdict>no significant difference|equal))?$")


def test_summary_txt_is_a_commit_message(report_ab):
    """At most 40 lines of 80 columns: the pair, hosts and backends, per host,
    workload and phase one line (measured change with its interval, simulated
    exact), the history check one line per fact; the numbers those of
    comparisons.csv at the headline case and largest n."""
    text = (report_ab / "summary.txt").read_text()
    lines = text.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 80
    assert lines[0] == "rmapbench: kvm-2023 against old, per op (lower is better)"
    assert lines[1] == ("hosts: hostA, hostB; backends: perf (measured), sim (simulated)")
    cmp = pd.read_csv(report_ab / "comparisons.csv")
    pct = lambda r: f"{(r - 1) * 100:+.1f}%"  # noqa: E731
    for host in ("hostA", "hostB"):
        block = text[text.index(f"host {host}:") + 1:]
        block = re.split(r"\n(?:host |\n)", block)[0]
        assert "fork [heads=100] fifo bump, n=1024" in block
        for phase in ("add", "remove"):
            (line,) = [l for l in block.splitlines() if l.startswith(f"  {phase} ")]
            c = cmp[(cmp.host == host) & (cmp.workload == "fork") & (cmp.phase == phase)
                    & (cmp.n == 1024) & (cmp.label == "kvm-2023")]
            t = c[(c.metric == "time") & (c.backend == "perf")].iloc[0]
            assert f"time {pct(t.ratio)} [{pct(t.ci_lo)}, {pct(t.ci_hi)}]" in line, line
            s = c[(c.metric == "D1mr") & (c.backend == "sim")]
            if host == "hostA":
                assert f"sim D1mr {pct(s.iloc[0].ratio)}, Ir " in line, line
            else:
                assert s.empty and "sim" not in line
    hist = lines[lines.index("History check (kernel pte_list history against this run):") + 1:]
    assert [l[:3] for l in hist[:6]] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    assert all(re.search(r": (agree|disagree|mixed|inconclusive|missing)", l) for l in hist[:6])


def test_pair_names_what_summary_and_headline_compare(runs, tmp_path):
    proc = run_cli("report", runs["s"], "--pair", "new,new-fixed", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "summary.txt").read_text()
    assert text.startswith("rmapbench: new-fixed against new, per op")
    cmp = pd.read_csv(tmp_path / "comparisons.csv")  # the full table stays against old
    assert set(cmp["baseline"]) == {"old"}
    assert "## Headline: new-fixed against new" in (tmp_path / "report.md").read_text()
    for bad in ("old", "old,old", "old,nope", "old,new,kvm-2023"):
        out = tmp_path / f"bad{len(bad)}"
        proc = run_cli("report", runs["s"], "--pair", bad, "--out", out)
        assert_usage_error(proc, "old")
        assert not (out / "report.html").exists()


def test_html_opens_with_headline_findings_history_and_precision(report_ab):
    html = (report_ab / "report.html").read_text()
    body = html[html.index("<body>"):]
    at = {k: body.index(k) for k in (
        '<h2 id="headline', '<h2 id="findings"', '<h2 id="what-the-kernel',
        '<h2 id="interleaving', '<h2 id="fork-host-hosta-perf-measured"',
        '<h2 id="statistical-method"')}
    assert (at['<h2 id="headline'] < body.index("<img ") < at['<h2 id="findings"']
            < at['<h2 id="what-the-kernel'] < at['<h2 id="interleaving']
            < at['<h2 id="fork-host-hosta-perf-measured"'] < at['<h2 id="statistical-method"'])
    # the precision table is open (not folded) and names each workload and phase
    md = (report_ab / "report.md").read_text()
    sec = md[md.index("## Interleaving, disturbance and precision"):]
    sec = sec[:sec.index("\n## ", 5)]
    assert "*how the times were taken — host hostA, perf, measured*" in sec
    assert "<details>" not in sec
    assert re.search(r"\| fork \| add \| \d+ \| 4, interleaved \| \d+ \|", sec)


def test_analysis_modules_import_without_a_circle():
    code = ("import sys, analysis.load, analysis.fmt, analysis.tables; "
            "assert 'analysis.report' not in sys.modules, sorted(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr


def test_changes_txt_format_matches_comparisons(report_ab):
    full = (report_ab / "changes.txt").read_text()
    cmp = pd.read_csv(report_ab / "comparisons.csv")
    # the kernel-history lines come first, one per fact, each ending in its verdict
    history, _, rest = full.partition("rmapbench changes")
    hl = history.strip().splitlines()
    assert hl[0] == "What the kernel's history predicts, and what this run shows:"
    assert [l[:3] for l in hl[1:]] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    assert all(re.search(r" -> (agree|disagree|mixed|inconclusive|missing)", l) for l in hl[1:])
    text = "rmapbench changes" + rest
    lines = [l for l in text.splitlines() if l and not l.startswith(("#", "rmapbench changes"))]
    headers = [l for l in text.splitlines() if l.startswith("# host")]
    assert len(headers) == 3  # hostA perf, hostA sim, hostB perf
    # perf: time + L1 misses (LLC unsupported: no rows); sim: Ir, D1mr, DLmr
    assert len(lines) == (2 + 3 + 2) * 3 * 5 * 3
    host, seen = None, 0
    for l in text.splitlines():
        if l.startswith("# host"):
            host = l.split()[2].rstrip(",")
            continue
        m = SUMMARY_LINE.match(l)
        if not m:
            assert not l or l.startswith("rmapbench changes"), l
            continue
        metric = m["u"][:-3]
        metric = "time" if metric == "ns" else metric
        row = cmp[(cmp.host == host) & (cmp.workload == m["wl"]) & (cmp.phase == m["ph"])
                  & (cmp.n == int(m["n"])) & (cmp.label == m["v"]) & (cmp.metric == metric)
                  & (cmp.backend == ("perf" if m["be"] else "sim"))]
        assert len(row) == 1, l
        row = row.iloc[0]
        assert m["pct"] == f"{(row.ratio - 1) * 100:+.1f}%"
        if m["be"]:
            assert m["lo"] == f"{(row.ci_lo - 1) * 100:+.1f}%"
            assert m["hi"] == f"{(row.ci_hi - 1) * 100:+.1f}%"
            assert (m["verdict"] is None) == (row.verdict in ("better", "worse"))
        seen += 1
    assert seen == len(lines)
    assert re.search(r"^fork add n=64 +old [\d.]+ ns/op -> kvm-2023 [\d.]+ ns/op +-\d+\.\d% "
                     r"\[CI -\d+\.\d%, -\d+\.\d%\] +perf$", text, re.M)


def test_two_hosts_merge_with_host_as_facet(runs, report_ab):
    loaded = load_runs([runs["a"], runs["b"]])
    assert loaded.hosts == ["hostA", "hostB"]
    assert set(loaded.df["host"]) == {"hostA", "hostB"}
    assert len(loaded.df) == len(load_run(runs["a"]).df) + len(load_run(runs["b"]).df)
    md = (report_ab / "report.md").read_text()
    for h in ("hostA", "hostB"):
        assert f"## Host {h}: hardware and method" in md
        assert f"## fork — host {h}, perf, measured" in md
        # the headline figure has a row of panels per host (the host is a facet)
        assert f"host {h}: [heads=100] fifo bump" in md
    cmp = pd.read_csv(report_ab / "comparisons.csv")
    # hostA's new-fixed is compared with hostA's old, not hostB's
    nf = cmp[(cmp.label == "new-fixed") & (cmp.metric == "time") & (cmp.backend == "perf")]
    assert (nf[nf.host == "hostA"].ratio > 1.4).all()
    assert (nf[nf.host == "hostB"].ratio.between(0.95, 1.05)).all()


def test_check_section_rendered(report_ab):
    md = (report_ab / "report.md").read_text()
    assert "## Behaviour check and lockless-walk race" in md
    assert ("| new | 3 | add-return: returns the count after the add (3 ops: add 1; add 2; add 3) "
            "| none | yes | EXT 3: lists up to 4 sptes, up to 2 writer ops: miss | 3 steps, below |") in md
    assert "new: shortest counterexample at EXT 3; missed spte(s) 2:" in md
    assert " writer: remove 4    [head=D0 D0[2 3 -] -> D1[1 - -]]" in md
    assert re.search(r"\| kvm-2023 \| 14 \| none \| none \| no \| EXT 2: .*: no miss \|  \|", md)
    html = (report_ab / "report.html").read_text()
    assert "Behaviour check and lockless-walk race" in html


def test_default_output_is_first_run_dir_and_baseline(runs, tmp_path):
    d = tmp_path / "a"
    shutil.copytree(runs["s"], d)
    proc = run_cli("report", d, "--baseline", "kvm-2023")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(d / "report.html")
    text = (d / "changes.txt").read_text()
    assert "baseline kvm-2023" in text and "-> old " in text and "-> kvm-2023" not in text
    # summary.txt: the baseline against the newest other variant
    assert (d / "summary.txt").read_text().startswith("rmapbench: new-fixed against kvm-2023,")


def test_build_report_in_process_without_plots(runs):
    r = build_report(load_runs([runs["s"]]), "old", plots=False)
    assert not any(type(b).__name__ == "Image" for b in r.blocks)
    exact = r.comparisons
    assert exact["exact"].all() and exact["ci_lo"].isna().all()
    assert set(exact["verdict"]) <= {"better", "worse", "equal"}
    # new-fixed == old in the synthetic sim data: equal within 1%
    assert set(exact[exact.label == "new-fixed"]["verdict"]) == {"equal"}


def test_compare_two_runs(runs, tmp_path):
    proc = run_cli("compare", runs["a"], runs["b"], "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "A = " in out and "host hostA" in out and "host hostB" in out
    line = next(l for l in out.splitlines() if l.startswith("fork add n=1024 new-fixed "))
    # hostA's new-fixed time is 1.5x hostB's
    assert re.search(r"A [\d.]+ ns/op -> B [\d.]+ ns/op +-3\d\.\d% \[CI -\d+\.\d%, -\d+\.\d%\] +better", line)
    line = next(l for l in out.splitlines() if l.startswith("fork add n=1024 new "))
    assert line.endswith("no significant difference")
    short = (tmp_path / "compare-summary.txt").read_text().splitlines()
    assert len(short) <= 40 and max(map(len, short)) <= 80
    assert short[1].startswith(f"A = {runs['a']} (host hostA") and "(host hostB" in short[2]
    cmp = pd.read_csv(tmp_path / "compare.csv")
    r = cmp[(cmp.workload == "fork") & (cmp.phase == "add") & (cmp.n == 1024)
            & (cmp.label == "kvm-2023") & (cmp.metric == "time")].iloc[0]
    (line,) = [l for l in short if l.startswith("  fork add n=1024 ")]
    assert f"kvm-2023 {(r.ratio - 1) * 100:+.1f}% [" in line
    html = (tmp_path / "compare.html").read_text()
    md = (tmp_path / "compare.md").read_text()
    assert "<table id=" in html and "B against A" in html
    assert "## Series against old, within A and within B" in md
    assert re.search(r"\| perf, measured \| fork \| add \| heads=100, order=fifo, alloc=bump "
                     r"\| 1024 \| new-fixed \| time \| \+50\.\d% .* "
                     r"\| [+-]\d\.\d% .* n\.s\. \| NO \|", md)


# -- refusing bad input: exit 2, one line, no report ----------------------------------

def _fresh(runs, tmp_path, name="r"):
    d = tmp_path / name
    shutil.copytree(runs["s"], d)
    return d


def test_missing_directory(tmp_path):
    assert_usage_error(run_cli("report", tmp_path / "nope"), "nope", "does not exist")


def test_incomplete_run_refused(tmp_path):
    d = tmp_path / "inc"
    RunDir(d).begin(make_meta("h", "sim"))
    assert_usage_error(run_cli("report", d), str(d), "incomplete", "complete runs are allowed")
    assert not (d / "report.html").exists()


def test_missing_results_parquet(runs, tmp_path):
    d = _fresh(runs, tmp_path)
    (d / "results.parquet").unlink()
    assert_usage_error(run_cli("report", d), "results.parquet", "finalized")
    assert not (d / "report.html").exists()


def test_unreadable_parquet(runs, tmp_path):
    d = _fresh(runs, tmp_path)
    (d / "results.parquet").write_bytes(b"PAR1 this is not parquet at all")
    assert_usage_error(run_cli("report", d), "results.parquet", "not readable parquet")


def test_missing_columns(runs, tmp_path):
    d = _fresh(runs, tmp_path)
    df = pd.read_parquet(d / "results.parquet").drop(columns=["value", "unit"])
    df.to_parquet(d / "results.parquet")
    assert_usage_error(run_cli("report", d), "value, unit", "the schema needs")


def test_corrupt_meta(runs, tmp_path):
    d = _fresh(runs, tmp_path)
    (d / "meta.json").write_text("{not json")
    assert_usage_error(run_cli("report", d), "meta.json", "not valid JSON")


def test_simulated_flag_must_match_backend(runs, tmp_path):
    d = _fresh(runs, tmp_path)
    df = pd.read_parquet(d / "results.parquet")
    df["simulated"] = False
    df.to_parquet(d / "results.parquet")
    assert_usage_error(run_cli("report", d), "'sim'", "simulated must be true exactly")


def test_bad_baseline_and_duplicate_and_out(runs, tmp_path):
    assert_usage_error(run_cli("report", runs["s"], "--baseline", "nosuch", "--out", tmp_path),
                       "'nosuch'", "old, new, new-fixed, kvm-2023")
    assert_usage_error(run_cli("report", runs["s"], runs["s"], "--out", tmp_path),
                       "run_id", "given once")
    f = tmp_path / "file"
    f.write_text("x")
    assert_usage_error(run_cli("report", runs["s"], "--out", f), str(f), "not a directory")
    assert not (tmp_path / "report.html").exists()


def test_malformed_check_json(runs, tmp_path):
    d = _fresh(runs, tmp_path)
    (d / "check.json").write_text(json.dumps({"variant": "new"}))
    assert_usage_error(run_cli("report", d), "check.json", "list of objects")


def test_compare_errors(runs, tmp_path):
    assert_usage_error(run_cli("compare", runs["a"], runs["s"], "--out", tmp_path),
                       "no case in common")
    assert_usage_error(run_cli("compare", runs["a"], tmp_path / "nope"), "does not exist")
    assert_usage_error(run_cli("compare", runs["a"]), "DIR_B")


def test_load_errors_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no run directory"):
        load_runs([])
    with pytest.raises(UsageError, match="not a run directory"):
        load_run(tmp_path)


def test_findings_cite_only_material_counter_changes():
    from analysis.findings import sentence

    def row(metric, mean, base, verdict="better"):
        return {"label": "kvm-2023", "metric": metric, "unit": "ns/op" if metric == "time" else
                "events/op", "mean": mean, "base_mean": base, "ratio": mean / base,
                "exact": False, "ci_lo": mean / base * 0.98, "ci_hi": mean / base * 1.02,
                "verdict": verdict, "qvalue": 1e-6, "threshold": 0.01}

    head = row("time", 50.0, 100.0)
    point = pd.DataFrame([head, row("instructions", 100.0, 101.0),  # 1%: too small
                          row("LLC-load-misses", 0.0, 3e-4),        # -100% but 3e-4/op
                          row("L1-dcache-load-misses", 1.0, 2.5)])  # cited
    text = sentence(pd.Series(head), point, None, "old",
                    ["instructions", "L1-dcache-load-misses", "LLC-load-misses"])
    assert "because it incurs 0.40x the L1d load misses per op (1.00 vs 2.50)" in text
    assert "LLC" not in text and "instructions per op" not in text
    point = pd.DataFrame([head, row("instructions", 100.0, 101.0)])
    text = sentence(pd.Series(head), point, None, "old", ["instructions"])
    assert "because" not in text
    assert "the recorded counters (instructions 0.99x) do not account for it" in text


def test_heads_sized_by_footprint_target(tmp_path):
    """Every variant and n has its own head count (a sweep's heads = "l2"):
    series still compare at each n and the scaling fits span all n."""
    d = write_run(tmp_path / "t", "hostT", "sim", seed=4, target_bytes=512 * 1024)
    df = load_run(d).df
    assert df.groupby("n")["heads"].nunique().min() > 1  # heads differs between variants
    r = build_report(load_runs([d]), "old", plots=False)
    cmp = r.comparisons
    per_n = cmp[(cmp.metric == "Ir") & (cmp.workload == "fork") & (cmp.phase == "add")]
    assert sorted(per_n.n.unique()) == [4, 16, 64, 256, 1024]
    assert len(per_n) == 5 * 3
    fits = r.fits[(r.fits.metric == "Ir") & (r.fits.workload == "fork") & (r.fits.phase == "add")]
    assert (fits.points == 5).all() and len(fits) == 4
    assert fits.set_index("label").loc["kvm-2023", "growth"] == "O(1) per op"
    assert "[footprint ~" in next(l for l in r.changes.splitlines() if l.startswith("# host"))
    assert re.search(r"^fork \[footprint ~[\d.]+ KiB\] fifo bump, n=1024$", r.summary, re.M)


# -- kernel history section, host table, simulated geometry ---------------------------

def _facts(report) -> dict:
    return {f.key: f for f in report.facts}


def test_history_agrees_when_kvm2023_is_flat_and_new_grows(runs, report_ab):
    """The synthetic data has kvm-2023's add flat in n and new's growing as 0.5/spte:
    (c) and (d) agree, on both the measured and the simulated backend, with the fits cited."""
    r = build_report(load_runs([runs["a"], runs["s"]]), "old", plots=False)
    f = _facts(r)
    assert f["c"].verdict == "agree" and f["d"].verdict == "agree"
    c, d = f["c"].line(), f["d"].line()
    assert re.search(r"time n\^-?0\.0\d, \S+ ns/op per spte \(perf, measured\)", c)
    assert "Ir n^0.00, 0 Ir/op per spte (sim, simulated)" in c
    fits = r.fits
    new_ir = fits[(fits.label == "new") & (fits.metric == "Ir") & (fits.workload == "fork")
                  & (fits.phase == "add")].iloc[0]
    from analysis.fmt import num

    assert (f"Ir new n^{new_ir.exponent_large:.2f}, {num(new_ir.slope)} Ir/op per spte vs "
            "kvm-2023 n^0.00, 0 (sim, simulated)") in d
    # series the data lacks are named, never guessed
    assert f["a"].verdict == "missing"
    assert f["a"].line().endswith("Ours: series old@14 not in this data "
                                  "(needed: old@14 vs old) -> missing")
    assert f["e"].verdict == "missing"
    assert f["e"].line().endswith("Ours: series kvm-2021 not in this data "
                                  "(needed: kvm-2021 vs old) -> missing")
    # the history's own numbers are not quoted as if this run had measured them
    assert "473.90 -> 351.00" not in f["e"].line()
    # the report and summary.txt carry the section; (f) from check.json: new can miss
    md = (report_ab / "report.md").read_text()
    assert "## What the kernel's history predicts, and what this run shows" in md
    assert md.index("## Findings") < md.index("## What the kernel's history") < md.index("## Host")
    (short,) = [l for l in (report_ab / "summary.txt").read_text().splitlines()
                if l.startswith("(f)")]
    assert short == "(f) walker misses in new, not kvm-2023-lf: agree; none in: kvm-2023"
    summary = (report_ab / "changes.txt").read_text()
    (fl,) = [l for l in summary.splitlines() if l.startswith("(f)")]
    assert "can miss an spte in: new;" in fl and "cannot within the search bounds: kvm-2023" in fl
    assert "check.json has no race result for kvm-2023-lf" in fl
    assert fl.endswith("-> agree")


def test_history_disagrees_when_the_data_says_otherwise(tmp_path, monkeypatch):
    """kvm-2023 and new swapped (kvm-2023 grows, new is flat): (c) and (d) must say
    disagree.  kvm-2021 is cheaper than old: (e) agrees, quoting the history beside ours."""
    import tests.analysis_synth as synth

    real = synth.cost

    def swapped(variant, n, metric):
        v = {"new": "kvm-2023", "kvm-2023": "new", "kvm-2021": "kvm-2023"}.get(variant, variant)
        return real(v, n, metric)

    monkeypatch.setattr(synth, "cost", swapped)
    monkeypatch.setitem(synth.VARIANTS, "kvm-2021", 14)
    d_perf = write_run(tmp_path / "p", "hostS", "perf", seed=5)
    d_sim = write_run(tmp_path / "s", "hostS", "sim", seed=6)
    r = build_report(load_runs([d_perf, d_sim]), "old", plots=False)
    f = _facts(r)
    assert f["c"].verdict == "disagree", f["c"].line()
    assert f["d"].verdict == "disagree", f["d"].line()
    assert re.search(r"Ir n\^0\.[5-9]\d", f["c"].line())
    e = f["e"]
    assert e.verdict == "agree", e.line()
    assert re.search(r"time -\d+\.\d% \[CI -\d+\.\d%, -\d+\.\d%\] \(perf, measured\)", e.line())
    assert re.search(r"Ir -\d+\.\d% exact", e.line()) and "473.90 -> 351.00" in e.line()
    assert "fork add+remove per spte at n=1024" in e.line()


def test_host_table_is_compact_and_sim_geometry_is_a_sentence(tmp_path):
    host = {**make_meta("hostC", "sim")["host"],
            "cache_levels": [
                {"level": 1, "type": "Data", "size": 49152, "assoc": 12, "line": 64},
                {"level": 1, "type": "Instruction", "size": 65536, "assoc": 16, "line": 64},
                {"level": 2, "type": "Unified", "size": 2097152, "assoc": 16, "line": 64},
                {"level": 3, "type": "Unified", "size": 503316480, "assoc": 16, "line": 64}],
            "online_cpus": [0, 1, 2, 3, 6], "isolated_cpus": [2, 3]}
    sim = {"valgrind": "valgrind-3.19.0", "profile": "host-l2",
           "profile_reason": "the host's LLC (480 MiB) is too large to simulate",
           "geometry": {"profile": "host-l2", "I1": [65536, 16, 64], "D1": [49152, 12, 64],
                        "LL": [2097152, 16, 64], "LL_host_assoc": 12}}
    d = write_run(tmp_path / "c", "hostC", "sim", seed=7, extra_meta={"host": host, "sim": sim})
    r = build_report(load_runs([d]), "old", plots=False)
    from analysis.render import to_html, to_markdown

    md = to_markdown(r.blocks, r.title)
    host_md = md[md.index("## Host hostC"):md.index("## Statistical method")]
    assert ("| caches | L1d 48 KiB 12-way, L1i 64 KiB 16-way, L2 2 MiB 16-way, "
            "L3 480 MiB 16-way; 64 B lines |") in host_md
    assert "| online_cpus | 0-3,6 |" in host_md and "| isolated_cpus | 2-3 |" in host_md
    table = host_md[:host_md.index("*backends that produced")]
    assert "cache_levels" not in table and "{" not in table and "[" not in table
    assert "| pyperf | processes=2, values=5 |" in table
    (para,) = [l for l in host_md.splitlines() if l.startswith("Simulated cache")]
    assert para == ("Simulated cache (valgrind's cache simulator, valgrind-3.19.0): profile "
                    "host-l2, chosen because the host's LLC (480 MiB) is too large to simulate. "
                    "Simulated D1 48 KiB 12-way 64 B lines and LL 2 MiB 16-way 64 B lines (the "
                    "host's is 12-way: valgrind needs a power-of-two set count). "
                    "(I1 64 KiB 16-way 64 B lines.)")
    # HTML: text columns are left-aligned; a column of numbers only is right-aligned
    html = to_html(r.blocks, r.title)
    m = re.search(r'(<style>[^<]*</style>)?<table id="t\d+"><caption>host hostC \(', html)
    assert m and m.group(1) is None  # field | value: text, left-aligned
    assert "<td>hostC</td>" in html and "<td>0-3,6</td>" in html
    assert re.search(r"<td>model</td><td>85</td>", html)
    m = re.search(r'<style>([^<]*)</style><table id="(t\d+)"><caption>fork add, host hostC, '
                  r'sim, simulated: mean per op', html)
    assert m, "the values table right-aligns its columns of numbers"
    rule = m.group(1)
    assert f"#{m.group(2)} td:nth-child(1)," in rule  # n
    assert not re.search(r"nth-child\(2\)[,{]", rule)  # series names


def test_precision_note_says_what_page_size_the_kernel_memory_got():
    from analysis.sections.precision import pages_note

    nan = float("nan")

    def note(pages, huge):
        return pages_note(pd.DataFrame({"kmem_pages": pages, "kmem_huge": huge}))

    assert pages_note(pd.DataFrame({"value": [1.0]})) == ""     # runs from before
    assert note(["4K", "4K"], [nan, nan]) == \
        " Kernel memory (arena, shadow pages): 2 values asked for 4 KiB pages."
    whole = note(["2M", "2M", "2M"], [1.0, 1.0, nan])
    assert "2 of 3 values asked for 2 MiB pages had all of it" in whole
    assert "1 had no region of 2 MiB or more" in whole and "part of it" not in whole
    part = note(["2M", "2M", "2M", "4K"], [1.0, 0.5, 0.0, nan])
    assert "1 of 3 values" in part and "2 part of it only" in part
    assert "1 values asked for 4 KiB pages" in part


def test_precision_note_says_how_long_a_budget_stopped_case_would_need():
    from analysis.sections.precision import budget_note, target_precision

    def rows(hw, stopped, spent=20.0):
        return pd.DataFrame({
            "workload": "fork", "phase": ["add", "add", "remove"], "n": 16, "size": 1,
            "heads": 1008, "order": "fifo", "alloc": "bump", "seed": 1,
            "label": ["old", "new", "new"], "variant": ["old", "new", "new"], "ext": 3,
            "halfwidth": hw, "halfwidth_of": ["mean", "ratio to old@3", "ratio to old@3"],
            "stopped": stopped, "timing_s": spent})

    # the remove ratio missed a 1% target by 3x after 20 s: 9 times the time
    text = budget_note(rows([0.008, 0.004, 0.03], "budget"), 0.01)
    assert "stopped 1 interval(s) in 1 case(s)" in text and "±3.0% after 20s" in text
    assert "new@3, ratio to old@3" in text and "about 180s" in text
    # the one furthest in time, not in width: 2% after 60 s needs 240 s, 3% after 20 s 180 s
    both = rows([0.015, 0.02, 0.03], "budget").assign(timing_s=[60.0, 60.0, 20.0])
    assert "stopped 3 interval(s) in 1 case(s)" in budget_note(both, 0.01)
    assert "about 240s" in budget_note(both, 0.01)
    # beyond the largest budget: what it would reach instead
    far = budget_note(rows([0.008, 0.004, 0.3], "budget"), 0.01)
    assert "beyond the largest budget (3600s" in far and "about ±2.2%" in far
    # a row whose seconds are unknown (a run from before timing_s, with a new one)
    mixed = rows([0.005, 0.02, 0.03], "budget").assign(timing_s=[20.0, 20.0, float("nan")])
    assert "±2.0% after 20s" in budget_note(mixed, 0.01)
    # the baseline's own interval (mean) counts too: stopping waits for it
    mean = budget_note(rows([0.05, 0.004, 0.009], "budget"), 0.01)
    assert "stopped 1 interval(s)" in mean and "old@3, mean, ±5.0%" in mean
    assert budget_note(rows([0.008, 0.004, 0.009], "budget"), 0.01) == ""
    # stopped by precision, no target, or a run from before timing_s: nothing
    assert budget_note(rows([0.05, 0.004, 0.03], "precision"), 0.01) == ""
    assert budget_note(rows([0.05, 0.004, 0.03], "budget"), None) == ""
    assert budget_note(rows([0.05, 0.004, 0.03], "budget").drop(columns="timing_s"), 0.01) == ""
    # the target: a sweep config's options, else the plan's timing (a run)
    assert target_precision([{"config": {"options": {"precision": 0.02}}}]) == 0.02
    assert target_precision([{"plan": {"timing": {"precision": 0.005}}}]) == 0.005
    assert target_precision([{"plan": {"timing": {"precision": True}}}, {}]) is None


def test_timing_table_says_each_budget_stopped_ratios_seconds_for_the_target():
    from analysis.sections.timing import _seconds

    r = {"halfwidth": 0.02, "halfwidth_of": "ratio to old@3", "stopped": "budget",
         "timing_s": 15.0}
    assert _seconds(r, 0.01) == "15 (about 60)"
    assert _seconds({**r, "halfwidth": 0.3}, 0.01) == "15 (about 13500: beyond 3600)"
    assert _seconds({**r, "halfwidth_of": "mean"}, 0.01) == "15 (about 60)"
    assert _seconds({**r, "stopped": "precision"}, 0.01) == "15"
    assert _seconds({**r, "halfwidth": 0.005}, 0.01) == "15"
    assert _seconds(r, None) == "15"
    assert _seconds({k: v for k, v in r.items() if k != "timing_s"}, 0.01) == "not recorded"
