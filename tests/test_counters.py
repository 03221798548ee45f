"""The perf_event group (native/counters.c) and event names (bench/events.py).

This machine may have no hardware PMU: the group is proven with software
events, and tests that need hardware events skip, naming the missing PMU.
"""

import errno
import os
import shutil
import subprocess
import sys

import pytest

from bench.errors import UsageError
from bench.events import (DEFAULT_EVENTS, SOFTWARE_EVENTS, errno_reason, perf_event_paranoid,
                          resolve, resolve_list)
from bench.native import CounterGroup, Workload, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K_PAGES = 300


def _hw_reason():
    """None when `cycles` opens here, else why not."""
    with CounterGroup(["cycles"]) as cg:
        return cg.failed.get("cycles")


needs_pmu = pytest.mark.skipif(_hw_reason() is not None,
                               reason=f"no hardware PMU on this host: cycles does not open "
                                      f"({_hw_reason()})")


# -- event names --------------------------------------------------------------

def test_names_resolve_to_perf_types_and_configs():
    assert resolve("cycles") == ("cycles", 0, 0)
    assert resolve("instructions") == ("instructions", 0, 1)
    assert resolve("branch-misses") == ("branch-misses", 0, 5)
    assert resolve("ref-cycles") == ("ref-cycles", 0, 9)
    assert resolve("task-clock") == ("task-clock", 1, 1)
    assert resolve("page-faults") == ("page-faults", 1, 2)
    assert resolve("context-switches") == ("context-switches", 1, 3)
    assert resolve("cpu-migrations") == ("cpu-migrations", 1, 4)
    # hw-cache: cache | op << 8 | result << 16
    assert resolve("L1-dcache-load-misses") == ("L1-dcache-load-misses", 3, 0x10000)
    assert resolve("L1-dcache-loads") == ("L1-dcache-loads", 3, 0)
    assert resolve("LLC-load-misses") == ("LLC-load-misses", 3, 0x10002)
    assert resolve("dTLB-load-misses") == ("dTLB-load-misses", 3, 0x10003)
    assert resolve("dTLB-store-misses") == ("dTLB-store-misses", 3, 0x10103)
    assert resolve("r01d1") == ("r01d1", 4, 0x1d1)
    assert resolve("rC0") == ("rC0", 4, 0xc0)


def test_default_and_software_event_lists_resolve():
    assert DEFAULT_EVENTS == ["cycles", "instructions", "L1-dcache-load-misses",
                              "LLC-load-misses", "dTLB-load-misses", "branch-misses"]
    assert SOFTWARE_EVENTS == ["task-clock", "page-faults", "context-switches", "cpu-migrations"]
    assert [e[0] for e in resolve_list(DEFAULT_EVENTS + SOFTWARE_EVENTS)] == \
        DEFAULT_EVENTS + SOFTWARE_EVENTS


@pytest.mark.parametrize("bad", ["cylces", "r", "rxyz", "L1-dcache-load-miss", "",
                                 "cycles,,instructions", "cycles,cycles"])
def test_bad_event_names_are_one_line_usage_errors(bad):
    with pytest.raises(UsageError) as ei:
        resolve_list(bad)
    msg = str(ei.value)
    assert "\n" not in msg
    assert "allowed" in msg or "twice" in msg
    if bad == "cylces":
        assert "'cylces'" in msg and "cycles" in msg


def test_errno_reasons():
    for e in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        assert errno_reason(e).endswith("not supported by this host's PMU")
    for e in (errno.EACCES, errno.EPERM):
        r = errno_reason(e)
        assert f"kernel.perf_event_paranoid={perf_event_paranoid()}" in r
        assert "sysctl -w kernel.perf_event_paranoid=1" in r and "CAP_PERFMON" in r
    assert errno_reason(errno.EINVAL) == "EINVAL: Invalid argument"


# -- the group ----------------------------------------------------------------

def test_page_faults_of_a_first_touch_region_are_counted():
    with CounterGroup(["page-faults", "task-clock"]) as cg:
        assert cg.opened == ["page-faults", "task-clock"] and not cg.failed
        counts = cg.touch_pages(K_PAGES)
    faults, enabled, running = counts["page-faults"]
    assert K_PAGES <= faults <= K_PAGES + 8, counts
    assert enabled > 0 and running == enabled          # software: never multiplexed
    assert counts["task-clock"][0] > 0


def test_a_disabled_group_counts_nothing():
    with CounterGroup(["page-faults", "task-clock", "context-switches"]) as cg:
        counts = cg.touch_pages(K_PAGES, enable=False)
        assert all(v == (0, 0, 0) for v in counts.values()), counts
        # and the same group enabled again does count: the 0 above is not a dead group
        assert cg.touch_pages(K_PAGES)["page-faults"][0] >= K_PAGES


def test_counts_cover_the_measured_region_only():
    """Prepare and undo fault in and touch far more than the phase: the
    group sees none of it (no page faults in a measured fork add), and
    task-clock agrees with the region clock."""
    k = load("kvm-2023", 14)
    with CounterGroup(SOFTWARE_EVENTS) as cg, \
            Workload(k, "fork", n=32, heads=4000, order="fifo", alloc="bump", seed=1) as w:
        assert cg.opened == SOFTWARE_EVENTS
        r = w.run("add", loops=3, counters=cg)
    assert r.counts["page-faults"][0] <= 2, r.counts
    tc, enabled, running = r.counts["task-clock"]
    assert enabled == running
    # CPU time of the regions cannot exceed their wall time (no lower bound: on a
    # loaded host the worker can be descheduled inside a region)
    assert 0 < tc <= 1.5 * r.ns + 200_000, (tc, r.ns)
    # enabled time is the measured regions only, not the untimed prepare/undo
    assert enabled <= 1.5 * r.ns + 200_000, (enabled, r.ns)


def test_group_times_restart_per_run():
    k = load("old", 3)
    with CounterGroup(["task-clock"]) as cg, \
            Workload(k, "null", n=4, heads=1000, order="fifo", alloc="bump", seed=0) as w:
        first = w.run("null", loops=20000, counters=cg)
        r = w.run("null", loops=1, counters=cg)
    # the first run's regions were enabled for well over the bound below, so
    # times carried over from it would show
    assert first.counts["task-clock"][1] > 400_000
    assert r.counts["task-clock"][1] <= r.ns + 200_000


def test_reset_reaches_every_member():
    """page-faults as a member, not the leader: touching K fresh pages twice
    reads about K the second time, not 2K."""
    with CounterGroup(["task-clock", "page-faults"]) as cg:
        first = cg.touch_pages(K_PAGES)["page-faults"][0]
        second = cg.touch_pages(K_PAGES)["page-faults"][0]
    assert K_PAGES <= first <= K_PAGES + 8
    assert K_PAGES <= second <= K_PAGES + 8


def test_members_count_every_region_of_every_run():
    """task-clock leads, cpu-clock is a member: both count the CPU time of
    the same measured regions, on a group reused for several runs of
    several repetitions each (a member switched off by the first region's
    end and never on again would read 0)."""
    k = load("kvm-2023", 14)
    with CounterGroup(["task-clock", "cpu-clock"]) as cg, \
            Workload(k, "fork", n=32, heads=2000, order="fifo", alloc="bump", seed=1) as w:
        runs = [w.run("add", loops=loops, counters=cg) for loops in (1, 5, 5)]
    for r in runs:
        leader, member = r.counts["task-clock"][0], r.counts["cpu-clock"][0]
        assert leader > 0 and 0.8 * leader <= member <= 1.2 * leader, r.counts


def test_software_events_count_kernel_side_when_allowed():
    """Software events are opened with exclude_kernel = 0 where that is
    allowed (root, or kernel.perf_event_paranoid <= 1); otherwise task-clock
    and the page faults fall back to exclude_kernel = 1 and context-switches
    stays unopened (it would read 0)."""
    with CounterGroup(SOFTWARE_EVENTS) as cg:
        if os.geteuid() == 0 or perf_event_paranoid() <= 1:
            assert cg.exclude_kernel == {e: False for e in SOFTWARE_EVENTS}
        else:
            assert cg.exclude_kernel["task-clock"] is True
            assert cg.exclude_kernel["page-faults"] is True
            assert "context-switches" in cg.failed


def test_an_event_that_cannot_open_is_failed_with_its_reason_never_zero():
    bogus = ("bogus-hw", 0, 0xfff)   # PERF_TYPE_HARDWARE, no such generic event
    with CounterGroup([bogus, ("page-faults", 1, 2)]) as cg:
        assert cg.opened == ["page-faults"]
        assert "bogus-hw" in cg.failed and cg.failed["bogus-hw"].startswith("E")
        counts = cg.touch_pages(64)
        assert "bogus-hw" not in counts
        # the event that failed first did not take the leader's place
        assert counts["page-faults"][0] >= 64


def test_unsupported_hardware_events_are_reported_not_counted():
    reason = _hw_reason()
    if reason is None:
        pytest.skip("this host has a hardware PMU: cycles opens")
    k = load("old", 3)
    with CounterGroup(DEFAULT_EVENTS + SOFTWARE_EVENTS) as cg, \
            Workload(k, "fork", n=8, heads=500, seed=0) as w:
        assert set(cg.failed) == set(DEFAULT_EVENTS)
        for name in DEFAULT_EVENTS:
            assert "not supported by this host's PMU" in cg.failed[name], cg.failed
        assert cg.opened == SOFTWARE_EVENTS          # task-clock leads
        r = w.run("add", counters=cg)
        assert set(r.counts) == set(SOFTWARE_EVENTS)
        assert r.counts["task-clock"][0] > 0


def test_software_events_unprivileged(tmp_path):
    """Under the host's perf_event_paranoid, an unprivileged process still
    counts task-clock and page faults (user-only fallback), while
    context-switches, which would read 0 user-only, is refused with the
    paranoid reason rather than counted as 0."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to drop to an unprivileged user")
    k = load("old", 3)  # built here, as root; the child only loads it
    code = ("import json; from bench.native import CounterGroup\n"
            "cg = CounterGroup(['task-clock', 'page-faults', 'context-switches', 'cycles'])\n"
            "c = cg.touch_pages(200)\n"
            "print(json.dumps([cg.opened, cg.failed, cg.exclude_kernel, c]))\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ROOT,
           "RMAPBENCH_BUILD_DIR": str(k.artifact.path.parent.parent), "HOME": str(tmp_path)}
    os.chmod(tmp_path, 0o777)
    proc = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=120)
    if proc.returncode != 0 and "Permission denied" in proc.stderr:
        pytest.skip("the unprivileged user cannot read the venv or build dir")
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json
    opened, failed, excl, counts = json.loads(proc.stdout)
    assert {"task-clock", "page-faults"} <= set(opened), failed
    assert counts["page-faults"][0] >= 200 and counts["task-clock"][0] > 0
    if (perf_event_paranoid() or 0) >= 2:
        assert all(excl.values()), excl       # refused kernel counting -> user only
        assert "context-switches" not in opened
        assert failed["context-switches"].startswith(("EACCES", "EPERM"))
        assert "perf_event_paranoid=" in failed["context-switches"]
        if "cycles" in failed:
            assert failed["cycles"].split(":")[0] in ("ENOENT", "EOPNOTSUPP", "ENODEV",
                                                       "EACCES", "EPERM")


@needs_pmu
def test_hardware_counts_of_a_workload():
    k = load("kvm-2023", 14)
    with CounterGroup(["cycles", "instructions"]) as cg, \
            Workload(k, "fork", n=16, heads=2000, seed=0) as w:
        assert cg.opened == ["cycles", "instructions"]
        assert cg.exclude_kernel == {"cycles": True, "instructions": True}
        r = w.run("add", loops=3, counters=cg)
    ins = r.per_op("instructions")
    assert 5 < ins < 500, ins
    assert r.per_op("cycles") > 0
