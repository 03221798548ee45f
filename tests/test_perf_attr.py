"""The attr the suite opens equals perf's own, field by field (DESIGN.md
section 6), checked against the installed perf: `perf stat -vv` prints every
perf_event_attr before opening it, so this works on a host without a PMU.

Fields compared: type, config, config1, config2, exclude_user, exclude_kernel,
exclude_hv, exclude_idle, exclude_host, exclude_guest, read_format.  The
suite's attr comes from counters.c itself (rb_counters_fill_attr).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import events
from bench.errors import UsageError
from bench.events import (DEFAULT_EVENTS, HARDWARE, HW_CACHE, HW_CACHE_INVALID, SOFTWARE,
                          SOFTWARE_EVENTS, resolve)
from bench.perfstat import compare_attrs, perf_path, perf_vv

ROOT = Path(__file__).resolve().parent.parent
DEVICES = Path("/sys/bus/event_source/devices")

pytestmark = pytest.mark.skipif(perf_path() is None,
                                reason="perf not installed (Debian linux-perf; make setup "
                                       "installs it)")

GENERIC = list(dict.fromkeys(DEFAULT_EVENTS + SOFTWARE_EVENTS + list(HARDWARE)
                             + list(SOFTWARE) + list(HW_CACHE)))
RAW = ["r01d1", "rC0", "r1", "r530110", "r1234abcd5678", "rffffffffffffffff"]


def test_every_generic_name_and_raw_event_opens_as_perf_opens_it():
    assert len(HW_CACHE) == 32          # 42 cache/op/result names minus perf's 10 invalid
    assert compare_attrs(GENERIC + RAW) == []


def test_the_comparison_fails_on_one_wrong_table_entry(monkeypatch):
    monkeypatch.setitem(events.HW_CACHE, "LLC-load-misses", 0x10003)   # dTLB's id
    monkeypatch.setitem(events.HARDWARE, "branch-misses", 4)           # branches
    bad = compare_attrs(["LLC-load-misses", "branch-misses", "dTLB-load-misses"])
    assert bad == ["LLC-load-misses: config suite 0x10003 perf 0x10002",
                   "branch-misses: config suite 0x4 perf 0x5"]


def test_the_comparison_sees_the_exclude_bits(monkeypatch):
    """A software event opened user-only would differ from perf's plain name."""
    real = events.opened_attr

    def user_only(spec, leader=True, user_only=None):
        return real(spec, leader, True)
    monkeypatch.setattr(events, "opened_attr", user_only)
    bad = compare_attrs(["page-faults"])
    assert "page-faults: exclude_kernel suite 0x1 perf 0x0" in bad
    assert "page-faults: exclude_hv suite 0x1 perf 0x0" in bad


def test_perf_and_the_suite_refuse_the_same_cache_pairs():
    assert len(HW_CACHE_INVALID) == 10
    for name in sorted(HW_CACHE_INVALID):
        blocks, text = perf_vv(name)
        assert blocks == [], f"perf accepts {name}"
        with pytest.raises(UsageError, match="invalid combination"):
            resolve(name)


def test_pmu_syntax_on_a_pmu_this_host_has():
    """msr is in sysfs even in this guest: its type and format file, and an
    events/ alias, resolved as perf resolves them."""
    if not (DEVICES / "msr" / "type").is_file():
        pytest.skip("no msr PMU in sysfs on this host")
    names = ["msr/tsc/", "msr/event=0x2/", "msr/config=0x10/", "msr/tsc,config1=0x5/"]
    assert compare_attrs(names) == []
    assert resolve("msr/event=0x2/")[1] == int((DEVICES / "msr/type").read_text())


def test_cpu_pmu_syntax_here_says_the_cpu_pmu_is_missing():
    if (DEVICES / "cpu" / "type").is_file():
        pytest.skip("this host has a cpu PMU in sysfs")
    with pytest.raises(UsageError) as ei:
        resolve("cpu/event=0xd1,umask=0x08/")
    msg = str(ei.value)
    assert "no PMU 'cpu'" in msg and "guest without a virtual PMU" in msg
    # perf cannot resolve it here either
    blocks, text = perf_vv("cpu/event=0xd1,umask=0x08/")
    assert blocks == [] and "Cannot find PMU `cpu'" in text


@pytest.mark.skipif(not (DEVICES / "cpu" / "type").is_file(),
                    reason="no cpu PMU in sysfs (guest without a virtual PMU): "
                           "the faked-sysfs test below covers the syntax")
def test_cpu_pmu_syntax_on_the_real_cpu_pmu():
    assert compare_attrs(["cpu/event=0xd1,umask=0x08/", "cpu/event=0x24,umask=0x3f,cmask=1/",
                          "cpu/config=0x1234/"]) == []


# The layouts of the x86 core PMU's sysfs format files, as documented for the
# kernel's Intel and AMD core PMUs (format/<term> holds "config:<bits>").
INTEL_FORMAT = {"event": "config:0-7", "umask": "config:8-15", "edge": "config:18",
                "pc": "config:19", "any": "config:21", "inv": "config:23",
                "cmask": "config:24-31", "in_tx": "config:32", "in_tx_cp": "config:33",
                "offcore_rsp": "config1:0-63", "ldlat": "config1:0-15"}
AMD_FORMAT = {"event": "config:0-7,32-35", "umask": "config:8-15", "edge": "config:18",
              "inv": "config:23", "cmask": "config:24-31"}
CPU_NAMES = {
    "intel": ["cpu/event=0xd1,umask=0x08/", "cpu/event=0x24,umask=0x3f,cmask=1,inv/",
              "cpu/event=0xb7,umask=0x01,offcore_rsp=0x3f84000001/", "cpu/edge,event=0xc0/",
              "cpu/config=0x12345,config1=0x6,config2=0x7/", "cpu/event=0xcd,umask=0x1,ldlat=3/"],
    "amd": ["cpu/event=0x43,umask=0x40/", "cpu/event=0x1d1,umask=0x01,cmask=2,inv/",
            "cpu/event=0xfff,umask=0xff/", "cpu/event=0x45,umask=0xff,edge/"],
}


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "needs root to bind-mount a sysfs cpu PMU in a private mount namespace"
    if not shutil.which("unshare"):
        return "needs unshare(1)"
    p = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else f"unshare -m refused: {p.stderr.strip()}"


@pytest.mark.parametrize("vendor", ["intel", "amd"])
def test_cpu_pmu_syntax_against_perf_with_a_sysfs_cpu_pmu(tmp_path, vendor):
    """Where the host has no cpu PMU, one is faked: in a private mount
    namespace a directory holding the host's real PMUs plus a `cpu` PMU
    (type 4, the x86 core PMU's type, and the vendor's format files) is
    bind-mounted over /sys/bus/event_source/devices.  perf and the suite both
    resolve cpu/../ names from it; their attrs must agree."""
    why = _can_unshare()
    if why:
        pytest.skip(why)
    fake = tmp_path / "devices"
    (fake / "cpu" / "format").mkdir(parents=True)
    for d in DEVICES.iterdir():
        if d.name != "cpu":
            (fake / d.name).symlink_to(os.path.realpath(d))
    (fake / "cpu" / "type").write_text("4\n")
    for term, fmt in (INTEL_FORMAT if vendor == "intel" else AMD_FORMAT).items():
        (fake / "cpu" / "format" / term).write_text(fmt + "\n")
    names = CPU_NAMES[vendor]
    code = ("import json, sys; from bench.perfstat import compare_attrs; "
            "from bench.events import resolve; "
            f"names = {names!r}; "
            "print(json.dumps({'bad': compare_attrs(names), "
            "'configs': [[resolve(n)[2], resolve(n).config1, resolve(n).config2] "
            "for n in names]}))")
    script = (f"mount --bind {fake} {DEVICES} && "
              f"exec {sys.executable} -c \"{code}\"")
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       cwd=ROOT, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["bad"] == []
    # and the placement itself, worked by hand from the format files
    if vendor == "amd":
        assert out["configs"][1][0] == 0xd1 | 1 << 32 | 0x01 << 8 | 1 << 23 | 2 << 24
        assert out["configs"][2][0] == 0xff | 0xf << 32 | 0xff << 8
    else:
        assert out["configs"][2] == [0x01b7, 0x3f84000001, 0]
        assert out["configs"][4] == [0x12345, 6, 7]


def test_pmu_syntax_refuses_what_perf_refuses():
    if not (DEVICES / "msr" / "type").is_file():
        pytest.skip("no msr PMU in sysfs on this host")
    for bad in ["msr/event=0x10,/", "msr/nosuchterm=1/"]:
        blocks, _ = perf_vv(bad)
        assert blocks == [], f"perf accepts {bad}"
        with pytest.raises(UsageError):
            resolve(bad)


@pytest.mark.parametrize("argv,shown", [
    (["events", ""], "an empty value is not allowed"),
    (["events", "L1-icache-stores"], "'L1-icache-stores'"),
    (["events", "msr/event=zz/"], "'zz'"),
    (["events", "msr/event=0x1,nosuch=2/"], "'nosuch'"),
    (["events", "nosuchpmu/event=1/"], "'nosuchpmu'"),
    (["events", "cycles,cycles"], "twice"),
    (["run", "--variant", "old", "--crosscheck", "perf"], "'perf'"),
])
def test_bad_event_input_is_one_line_exit_2(argv, shown):
    p = subprocess.run([sys.executable, "-m", "bench.cli", *argv], capture_output=True,
                       text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and shown in lines[0], p.stderr


def test_event_lists_split_as_perf_splits_them():
    from bench.events import split_events
    assert split_events("cycles, msr/event=0x1,config1=2/,task-clock") == \
        ["cycles", "msr/event=0x1,config1=2/", "task-clock"]
    assert split_events("cpu/event=0xd1,umask=0x08/") == ["cpu/event=0xd1,umask=0x08/"]
    assert split_events("a,,b") == ["a", "", "b"]


def test_the_user_only_reopening_of_software_events_is_perfs_colon_u():
    """Where perf_event_paranoid refuses kernel counting, counters.c reopens
    task-clock, cpu-clock and the page faults user only: that attr is perf's
    EVENT:u."""
    from bench.events import SW_USER_COUNTABLE, describe
    names = [n for n, c in SOFTWARE.items() if c in SW_USER_COUNTABLE]
    assert {"task-clock", "cpu-clock", "page-faults", "minor-faults"} <= set(names)
    assert compare_attrs(names, user_only=True) == []
    assert describe("page-faults")["user_only_fallback"]["exclude_kernel"] == 1
    assert describe("context-switches")["user_only_fallback"] is None
