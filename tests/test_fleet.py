"""deploy/fleet.yml run for real by ansible-playbook (ansible-core, a test
extra) against local "hosts": distinct inventory names and directories, the
local connection, a sweep of seconds (deploy/tiny.toml, timing only).  One
host fails on its first attempt; the others are not blocked, the failure is
reported, and a rerun measures only that host and merges all three."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PLAYBOOK = ROOT / "deploy" / "fleet.yml"
EXAMPLE = ROOT / "deploy" / "inventory.example.yml"
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"


def _need_ansible():
    if not ANSIBLE.exists():
        pytest.skip("ansible-core is not installed (pip install -e '.[test]')")


# A host that cannot be reached: ssh to a port of this machine nothing listens
# on (refused at once), without asking for anything.
UNREACHABLE = ["          ansible_connection: ssh", "          ansible_host: 127.0.0.1",
               "          ansible_port: 1", "          ansible_timeout: 5",
               "          ansible_ssh_common_args: -o BatchMode=yes -o StrictHostKeyChecking=no"
               " -o UserKnownHostsFile=/dev/null -o ConnectionAttempts=1"]


def _inventory(tmp: Path, hosts: dict[str, Path], down: tuple[str, ...] = ()) -> Path:
    lines = ["all:", "  vars:", f"    fleet_out: {tmp / 'out'}",
             f"    rmapbench_local_cmd: {Path(sys.executable).parent / 'rmapbench'}",
             "  children:", "    fleet:", "      hosts:"]
    for name in down:
        lines += [f"        {name}:", *UNREACHABLE,
                  f"          rmapbench_home: {tmp / 'homes' / name}",
                  f"          rmapbench_config: {ROOT / 'deploy' / 'tiny.toml'}"]
    for name, cfg in hosts.items():
        lines += [f"        {name}:", "          ansible_connection: local",
                  f"          ansible_python_interpreter: {sys.executable}",
                  f"          rmapbench_home: {tmp / 'homes' / name}",
                  f"          rmapbench_cmd: {Path(sys.executable).parent / 'rmapbench'}",
                  f"          rmapbench_config: {cfg}"]
    inv = tmp / "inventory.yml"
    inv.write_text("\n".join(lines) + "\n")
    return inv


def _play(inv: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ANSIBLE), "-i", str(inv), str(PLAYBOOK)], capture_output=True,
                          text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PIPELINING": "1",
                               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                               "ANSIBLE_LOCAL_TEMP": str(inv.parent / "ansible-tmp"),
                               "ANSIBLE_REMOTE_TEMP": str(inv.parent / "ansible-tmp"),
                               "ANSIBLE_ASYNC_DIR": str(inv.parent / "ansible-async")})


def test_example_inventory_has_two_local_hosts_with_their_own_directories():
    _need_ansible()
    proc = subprocess.run([str(ANSIBLE.parent / "ansible-inventory"), "-i", str(EXAMPLE),
                           "--list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    hosts = inv["fleet"]["hosts"]
    assert len(hosts) == 2
    hv = inv["_meta"]["hostvars"]
    assert all(hv[h]["ansible_connection"] == "local" for h in hosts)
    assert len({hv[h]["rmapbench_home"] for h in hosts}) == 2


def test_fleet_sweeps_each_host_fetches_and_merges(tmp_path):
    _need_ansible()
    tiny = ROOT / "deploy" / "tiny.toml"
    late = tmp_path / "late.toml"  # host-c's config: missing on the first attempt
    inv = _inventory(tmp_path, {"host-a": tiny, "host-b": tiny, "host-c": late})

    first = _play(inv)
    out = first.stdout + first.stderr
    assert first.returncode != 0, out  # a host failed: the play says so in its status
    assert "FAILED host-c: The sweep config" in out, out
    runs = tmp_path / "out" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["host-a", "host-b"]
    for h in ("host-a", "host-b"):
        meta = json.loads((runs / h / "meta.json").read_text())
        assert meta["status"] == "complete"
        assert not (runs / h / "parts").exists()
    summary = (tmp_path / "out" / "report" / "summary.txt").read_text()
    assert "host-a" in summary and "host-b" in summary and "host-c" not in summary
    stamp = {h: (runs / h / "results.parquet").stat().st_mtime_ns for h in ("host-a", "host-b")}

    shutil.copy(tiny, late)
    second = _play(inv)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert "FAILED" not in out
    # the finished hosts are neither measured nor fetched again
    assert {h: (runs / h / "results.parquet").stat().st_mtime_ns for h in stamp} == stamp
    import pandas as pd

    df = pd.read_parquet(runs / "host-c" / "results.parquet")
    assert set(df["host"]) == {"host-c"}
    report = tmp_path / "out" / "report"
    summary = (report / "summary.txt").read_text()
    html = (report / "report.html").read_text()
    for h in ("host-a", "host-b", "host-c"):
        assert h in summary
        assert f"Host {h}: hardware and method" in html
    assert len(summary.splitlines()) <= 40
    assert max(len(l) for l in summary.splitlines()) <= 80


def test_an_unreachable_host_is_named_and_the_others_merged(tmp_path):
    _need_ansible()
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client: an ssh host cannot be tried")
    tiny = ROOT / "deploy" / "tiny.toml"
    inv = _inventory(tmp_path, {"host-a": tiny}, down=("host-down",))
    proc = _play(inv)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    # named like a failed host, with the connection's own message
    assert "FAILED host-down: unreachable: " in out, out
    assert "port 1" in out or "refused" in out.lower(), out
    assert "1 host(s) failed or were unreachable: host-down" in out, out
    runs = tmp_path / "out" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["host-a"]
    assert json.loads((runs / "host-a" / "meta.json").read_text())["status"] == "complete"
    summary = (tmp_path / "out" / "report" / "summary.txt").read_text()
    assert "host-a" in summary and "host-down" not in summary
    stamp = (runs / "host-a" / "results.parquet").stat().st_mtime_ns

    # reachable again: a rerun measures only that host and merges both
    second = _play(_inventory(tmp_path, {"host-a": tiny, "host-down": tiny}))
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert "FAILED" not in out
    assert (runs / "host-a" / "results.parquet").stat().st_mtime_ns == stamp
    summary = (tmp_path / "out" / "report" / "summary.txt").read_text()
    assert "host-a" in summary and "host-down" in summary


def test_no_reachable_host_ends_with_a_clear_message(tmp_path):
    _need_ansible()
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client: an ssh host cannot be tried")
    inv = _inventory(tmp_path, {}, down=("host-x", "host-y"))
    proc = _play(inv)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    # the merge play ran: each host named, then one message instead of a merge error
    assert "FAILED host-x: unreachable: " in out and "FAILED host-y: unreachable: " in out, out
    assert "no host produced a run, so there is nothing to merge" in out, out
    assert re.search(r"TASK \[rmapbench report [^\n]*\n(skipping: \[localhost\]\n)", out), out
    assert not (tmp_path / "out" / "report").exists()
