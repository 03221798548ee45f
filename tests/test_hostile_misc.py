"""Bad input to the event parser, doctor and sweep configs: one line naming the
bad value and what is allowed, exit 2, and nothing computed from a value out
of range (a PMU format of bit 99999999999 once made a 12 GB integer)."""
from __future__ import annotations

import os

import pytest

from conftest import assert_usage_error, run_cli


def _fake_pmu(root, fmt: str = "config:0-7", type_: str = "8") -> str:
    d = root / "fake"
    (d / "format").mkdir(parents=True)
    (d / "type").write_text(type_ + "\n")
    (d / "format" / "ev").write_text(fmt + "\n")
    return str(root)


@pytest.mark.parametrize("term, shown", [
    ("config=-1", "'-1'"),
    ("config=0x100000000000000000000", "'0x100000000000000000000'"),
    ("config1=18446744073709551616", "'18446744073709551616'"),
])
def test_whole_config_terms_must_fit_64_bits(tmp_path, term, shown):
    root = _fake_pmu(tmp_path)
    p = run_cli("events", f"fake/{term}/", env={"RMAPBENCH_PMU_SYSFS": root})
    assert_usage_error(p, shown, "0xffffffffffffffff")


def test_the_largest_config_is_taken(tmp_path):
    from bench.events import resolve_pmu

    spec = resolve_pmu("fake/config=0xffffffffffffffff,ev=3/", _fake_pmu(tmp_path))
    assert tuple(spec)[1:] == (8, (1 << 64) - 1)
    spec = resolve_pmu("fake/ev=0x81/", str(tmp_path))
    assert tuple(spec)[2] == 0x81


@pytest.mark.parametrize("fmt", ["config:99999999999", "config:0-64", "config:7-3",
                                 "config:0-7,4", "config:-1"])
def test_a_format_file_out_of_the_64_bits_is_refused(tmp_path, fmt):
    root = _fake_pmu(tmp_path, fmt=fmt)
    p = run_cli("events", "fake/ev=1/", env={"RMAPBENCH_PMU_SYSFS": root}, timeout=60)
    assert_usage_error(p, "format/ev", repr(fmt))


@pytest.mark.parametrize("type_", ["abc", "-1", "4294967296", "3.0"])
def test_a_bad_pmu_type_file_is_refused(tmp_path, type_):
    root = _fake_pmu(tmp_path, type_=type_)
    p = run_cli("events", "fake/ev=1/", env={"RMAPBENCH_PMU_SYSFS": root})
    assert_usage_error(p, "fake/type", "an integer from 0 to 2^32-1")


def test_a_fifo_or_endless_sysfs_file_is_not_read(tmp_path):
    root = _fake_pmu(tmp_path)
    (tmp_path / "fake" / "format" / "ev").unlink()
    os.mkfifo(tmp_path / "fake" / "format" / "ev")
    p = run_cli("events", "fake/ev=1/", env={"RMAPBENCH_PMU_SYSFS": root}, timeout=60)
    assert_usage_error(p, "format/ev", "not a regular file")
    (tmp_path / "fake" / "format" / "ev").unlink()
    (tmp_path / "fake" / "format" / "ev").write_text("config:" + "0," * 3000 + "1\n")
    p = run_cli("events", "fake/ev=1/", env={"RMAPBENCH_PMU_SYSFS": root}, timeout=60)
    assert_usage_error(p, "format/ev", "larger than 4096 bytes")


@pytest.mark.parametrize("argv", [["--chains", "0"], ["--repeats", "-5"],
                                  ["--variant", "nosuch"], ["--repeats", "3"]])
def test_doctor_sensitivity_options_need_sensitivity(argv):
    p = run_cli("doctor", *argv)
    assert_usage_error(p, f"{argv[0]} {argv[1]!r}", "only with --sensitivity")


def _config(tmp_path, text: str) -> str:
    f = tmp_path / "c.toml"
    f.write_text(text + '\n[[grid]]\nworkload = "fork"\nn = 1\nheads = 4\n')
    return str(f)


@pytest.mark.parametrize("opts, shown", [
    ('[options]\nsim_profile = "bogus"', 'options.sim_profile: bad value "bogus"'),
    ("[options]\nbudget = 1979-05-27", "options.budget: bad value 1979-05-27:"),
    ("[options.pyperf]\nloops = -1", "options.pyperf.loops: bad value -1: allowed an "
                                     "integer from 0 to 1073741824"),
])
def test_config_options_checked_whatever_the_backend(tmp_path, opts, shown):
    # the time backend never simulates: the profile is checked all the same
    p = run_cli("sweep", _config(tmp_path, opts), "--list", "--backend", "time")
    assert_usage_error(p, shown)


def test_config_pyperf_loops_take_what_run_takes(tmp_path):
    """docs/sweep.md's loops = 0 (pyperf calibrates) is a valid config, as
    `run --loops 0` is."""
    p = run_cli("sweep", _config(tmp_path, "[options.pyperf]\nloops = 0"), "--list",
                "--backend", "time")
    assert p.returncode == 0, p.stderr


def test_a_geometric_range_from_0_names_from(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[[grid]]\nworkload = "fork"\nn = {from = 0, to = 10, times = 2}\nheads = 4\n')
    p = run_cli("sweep", str(f), "--list", "--backend", "time")
    assert_usage_error(p, "grid[1].n.from: bad value 0", "cannot start at 0")


def test_report_without_the_registry_baseline_reads_against_the_first_series(tmp_path):
    """A run of kvm-2023 and kvm-2025 alone: `report` with no --baseline reads
    it against kvm-2023 (the data's first series in registry order), where it
    once said "unknown baseline 'old'" though no --baseline was given; a named
    baseline the data lacks is still refused."""
    out = tmp_path / "r"
    p = run_cli("run", "--variant", "kvm-2023,kvm-2025", "--workload", "fork", "--n", "2",
                "--heads", "8", "--backend", "time", "--budget", "1", "--processes", "1",
                "--out", str(out))
    assert p.returncode == 0, p.stderr
    p = run_cli("report", str(out))
    assert p.returncode == 0, p.stderr
    summary = (out / "summary.txt").read_text()
    assert "kvm-2025" in summary and "kvm-2023" in summary
    p = run_cli("report", str(out), "--baseline", "old")
    assert_usage_error(p, "unknown baseline 'old'", "kvm-2023")
