"""The sim backend: callgrind's cache simulator around the measured phase."""

import os
import shutil
import stat

import pytest

from bench import sim
from bench.errors import UsageError

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None,
                                reason="valgrind is not installed (apt-get install valgrind)")

SMALL = dict(workload="fork", n=8, heads=300, order="random", alloc="scatter", seed=4)


def per_op(row, metric):
    return row[metric] / row["ops"]


def test_two_runs_of_one_case_give_identical_counts():
    items = [(SMALL, "add"), (SMALL, "remove")]
    a = sim.run("kvm-2021", 14, items)
    b = sim.run("kvm-2021", 14, items)
    assert a == b
    for row in a:
        assert set(sim.SIM_METRICS) <= set(row)
        assert row["ops"] == 8 * 300 and row["bad"] == 0
        assert row["Ir"] > row["ops"] and row["Dr"] > 0 and row["Dw"] > 0


def test_issue3_old_chain_walk_misses_d1_kvm2023_does_not(capsys):
    """fork n=200 heads=2000, bump, fifo: old (EXT 3) walks to the tail of
    a ~67-descriptor chain on every add; kvm-2023 (EXT 14) touches the
    first descriptor only.  D1 read misses per add differ >= 10x."""
    case = dict(workload="fork", n=200, heads=2000, order="fifo", alloc="bump", seed=0)
    old = sim.run("old", 3, [(case, "add")])[0]
    new = sim.run("kvm-2023", 14, [(case, "add")])[0]
    assert old["ops"] == new["ops"] == 400_000
    o, k = per_op(old, "D1mr"), per_op(new, "D1mr")
    with capsys.disabled():
        print(f"\n[issue 3] D1mr/add: old EXT3 {o:.3f}, kvm-2023 EXT14 {k:.3f}, ratio {o / k:.1f}x;"
              f" footprint old {old['footprint']} B, kvm-2023 {new['footprint']} B")
    assert o >= 10 * k, (o, k)
    # the footprints are beyond D1 either way: the gap is the chain walk
    assert min(old["footprint"], new["footprint"]) > 48 * 1024


def test_measured_region_starts_with_the_caches_prepare_left():
    """sim.py's docstring: collection is off but the simulated caches see
    prepare, so a walk that fits D1 starts warm (almost no D1 misses)."""
    case = dict(workload="walk", n=4, heads=64, order="fifo", alloc="bump", seed=1)
    a, b = sim.run("old", 3, [(case, "walk"), (case, "walk")])
    assert a["ops"] == 256 and a["footprint"] < 16 * 1024
    # A cold start would miss every line the walk touches (footprint / 64:
    # 168 lines here).  Warm, only a few lines of the harness's own data miss,
    # and how many (2 to 5 seen) depends on where the process's stack and
    # globals land: bound them at 5% of the touched lines.
    lines = a["footprint"] // 64
    assert a["D1mr"] <= lines // 20 and b["D1mr"] <= lines // 20, (a, b, lines)
    assert a["Dr"] >= a["ops"]            # the walk did read, it just hit
    assert a["Dw"] >= a["ops"]            # and wrote each spte (write-protect)


def test_guest_and_null_items_run():
    rows = sim.run("kvm-2023", 14, [
        (dict(workload="guest", n=0, heads=5000, order="lifo", alloc="slab", seed=1), "add"),
        (dict(workload="null", n=4, heads=100, order="fifo", alloc="bump", seed=0), "null")])
    assert rows[0]["ops"] > 0 and rows[0]["Ir"] > 0
    assert rows[1]["ops"] == 400 and rows[1]["footprint"] == 0


def test_geometry_keeps_size_and_fixes_the_set_count():
    # a 480 MiB 16-way L3 has 491520 sets: not a power of two
    assert sim.fit_assoc(480 << 20, 16, 64) == 15
    assert sim.fit_assoc(48 << 10, 12, 64) == 12           # 64 sets already
    assert sim.fit_assoc(2 << 20, 16, 64) == 16
    for size, assoc in ((480 << 20, 16), (3 << 20, 12), (40960, 10), (3 * 64, 2)):
        a = sim.fit_assoc(size, assoc, 64)
        sets = size // (a * 64)
        assert sets * a * 64 == size and sets & (sets - 1) == 0


def test_host_profiles_follow_sysfs():
    caches = sim.host_caches()
    if "L1d" not in caches or "L2" not in caches:
        pytest.skip("this host's sysfs shows no L1d/L2 caches")
    g, g2 = sim.geometry("host"), sim.geometry("host-l2")
    assert g["D1"].size == caches["L1d"][0] and g["D1"].host_assoc == caches["L1d"][1]
    last = max((k for k in caches if k[-1].isdigit()), key=lambda k: int(k[1:]))
    assert g["LL"].size == caches[last][0]
    assert g2["LL"].size == caches["L2"][0]
    m = sim.geometry_meta(g)
    assert m["D1"] == [g["D1"].size, g["D1"].assoc, 64]


def test_named_profile_and_bad_profile():
    g = sim.geometry("skylake-sp")
    assert (g["D1"].size, g["D1"].assoc, g["LL"].size) == (32768, 8, 1 << 20)
    with pytest.raises(UsageError, match="unknown sim profile 'haswel'.*host, host-l2"):
        sim.geometry("haswel")


def test_a_named_profile_changes_the_simulated_misses():
    """A kvm-2021 fork case of 1.8 MB fits a 2 MiB LL (host-l2 here) but not
    skylake-sp's 1 MiB one: same instructions, more LL misses."""
    case = dict(workload="fork", n=24, heads=4000, order="fifo", alloc="bump", seed=0)
    geo = sim.geometry("host-l2")
    if geo["LL"].size < 2 << 20:
        pytest.skip(f"this host's L2 ({geo['LL'].size} B) is smaller than 2 MiB")
    host = sim.run("kvm-2021", 14, [(case, "remove")], profile="host-l2")[0]
    sky = sim.run("kvm-2021", 14, [(case, "remove")], profile="skylake-sp")[0]
    assert 1 << 20 < host["footprint"] < 2 << 20
    assert host["Ir"] == sky["Ir"] and host["Dr"] == sky["Dr"]
    assert sky["DLmr"] > 10 * max(host["DLmr"], 1), (host, sky)


def test_parse_dump_pads_omitted_trailing_zeros():
    text = ("version: 1\ndesc: Trigger: Client Request: i3\n"
            "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 100 20 10 1 5\n")
    tag, counts = sim.parse_dump(text)
    assert tag == "i3"
    assert counts == {"Ir": 100, "Dr": 20, "Dw": 10, "I1mr": 1, "D1mr": 5, "D1mw": 0,
                      "ILmr": 0, "DLmr": 0, "DLmw": 0}


def test_missing_valgrind_is_a_usage_error(monkeypatch):
    sim.valgrind_version.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(UsageError, match="valgrind not found.*apt-get install valgrind"):
            sim.check_tools()
    finally:
        sim.valgrind_version.cache_clear()


def test_missing_callgrind_header_is_a_usage_error(tmp_path):
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\necho 'fatal error: valgrind/callgrind.h: No such file' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(UsageError, match="callgrind.h.*apt-get install valgrind"):
        sim._check_header.__wrapped__(str(fake))
    assert os.path.exists(fake)


# -- valgrind failing during a run: a fake `valgrind` first on PATH ---------------
# Each answers --version (the run is planned with it) and then fails its own way
# when the run starts it; the real callgrind.h is still needed for planning.

_VERSION = '#!/bin/sh\nif [ "$1" = --version ]; then echo valgrind-3.99.fake; {gone}exit 0; fi\n'
FAKE_VALGRIND = {
    "exit-1": ('echo "==1== valgrind noise" >&2\necho "fake: cannot load the tool" >&2\nexit 1\n',
               ["valgrind (callgrind) failed", "exit status 1", "fake: cannot load the tool",
                "valgrind --version", "--backend time"]),
    "sigkill": ("kill -KILL $$\n",
                ["valgrind (callgrind) failed", "killed by SIGKILL", "--backend time"]),
    "no-output": ("exit 0\n",
                  ["valgrind (callgrind) exited 0", "no result for fork/", "no output file",
                   "--backend time"]),
    "bad-output": ('echo "i0 ops=lots"\nexit 0\n',
                   ["valgrind (callgrind)", "'i0 ops=lots'", "--backend time"]),
    # removed from PATH between planning and the run (PATH holds nothing else)
    "gone": ("exit 3\n", ["valgrind (callgrind) cannot be started", "old EXT 3",
                          "No such file", "apt-get install valgrind", "--backend time"]),
}


@pytest.mark.parametrize("kind", sorted(FAKE_VALGRIND))
def test_valgrind_failing_mid_run_is_one_line_and_leaves_nothing(kind, tmp_path):
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT
    from tests.test_hostile import _session_alive

    try:
        sim._check_header(sim.find_compiler())
    except UsageError as e:
        pytest.skip(str(e))
    body, needles = FAKE_VALGRIND[kind]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "valgrind"
    fake.write_text(_VERSION.replace("{gone}", '/bin/rm -f "$0"; ' if kind == "gone" else "")
                    + body)
    fake.chmod(0o755)
    tmpdir = tmp_path / "TMPDIR"
    tmpdir.mkdir()
    out = tmp_path / "out" / "run"
    path = str(bindir) if kind == "gone" else f"{bindir}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "TMPDIR": str(tmpdir), "CC": sim.find_compiler()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--variant", "old", "--n", "2", "--heads",
         "4", "--backend", "sim", "--processes", "1", "--values", "1", "--warmups", "0",
         "--loops", "1", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        start_new_session=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "unexpected" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("rmapbench: error: ") and sum("error:" in ln for ln in
                                                        err.splitlines()) == 1, err
    for n in needles:
        assert n in last, (n, last)
    assert fake.exists() == (kind != "gone")        # the run really started it
    assert not (tmp_path / "out").exists(), "a half-written run directory is left"
    assert not any(tmpdir.iterdir()), list(tmpdir.iterdir())
    time.sleep(0.05)
    assert not _session_alive(proc.pid), "a process of the command is still running"


def test_a_groups_valgrind_runs_one_per_cpu_after_its_timing(tmp_path):
    """After a group's timing nothing is timed, so its valgrind runs go one
    per online CPU at a time: with two variants and two CPUs the two runs
    overlap in time (a wrapper around the real valgrind logs when each
    starts and ends), and the counts are the ones a valgrind run gives."""
    import subprocess
    import sys
    import shutil

    from bench import host
    from tests.conftest import ROOT

    if len(host.online_cpus()) < 2:
        pytest.skip("one online CPU: valgrind runs go one after another")
    real = shutil.which("valgrind")
    if real is None:
        pytest.skip("valgrind is not installed")
    log = tmp_path / "vg.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrap = bindir / "valgrind"
    wrap.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then exec {real} --version; fi\n'
        f'echo "start $$ $(date +%s.%N)" >> {log}\n'
        "sleep 0.3\n"
        f'{real} "$@"\nrc=$?\n'
        f'echo "end $$ $(date +%s.%N)" >> {log}\n'
        "exit $rc\n")
    wrap.chmod(0o755)
    out = tmp_path / "run"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    p = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--variant", "old,kvm-2023",
                        "--n", "2", "--heads", "40", "--backend", "sim", "--processes", "1",
                        "--values", "1", "--warmups", "0", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    spans: dict = {}
    for line in log.read_text().splitlines():
        what, pid, ts = line.split()
        spans.setdefault(pid, {})[what] = float(ts)
    runs = sorted((s["start"], s["end"]) for s in spans.values())
    assert len(runs) == 2, runs
    assert runs[1][0] < runs[0][1], f"the two valgrind runs did not overlap: {runs}"
    import pandas as pd

    df = pd.read_parquet(out / "results.parquet")
    sim = df[df.simulated.astype(bool) & (df.metric == "Ir")]
    assert set(sim.variant) == {"old", "kvm-2023"} and (sim.value > 0).all()


_COUNTS = r"""
import json, sys
from bench import sim
case = dict(workload="fork", n=1024, heads=17, order="fifo", alloc="bump", seed=1)
rows = sim.run("kvm-2021", 14, [(case, "add"), (case, "remove")])
print(json.dumps([{m: r[m] for m in sim.SIM_METRICS} for r in rows]))
"""


def test_counts_do_not_depend_on_the_callers_environment_or_paths(tmp_path):
    """The lengths of valgrind's working directory and of the driver's
    arguments and environment move the driver's stack in 16-byte steps, and
    with it the simulated cache sets of its locals: this case's D1mw was
    2520 with a TMPDIR of 14 bytes and 3424 with one of 29.  The driver now
    runs from a scratch directory of fixed length, as "./driver cases.txt",
    with a fixed environment: the same counts whoever runs it, from where."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    got = []
    for extra, name in (("", "t"), ("x" * 4096, "a-much-longer-temporary-directory-name")):
        tmpdir = tmp_path / name
        tmpdir.mkdir()
        env = {**os.environ, "RMAPBENCH_PAD": extra, "TMPDIR": str(tmpdir),
               "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", _COUNTS], capture_output=True, text=True,
                             cwd=tmpdir, env=env, timeout=300, check=True).stdout
        got.append(json.loads(out))
        assert not any(tmpdir.iterdir())
    assert got[0] == got[1]
