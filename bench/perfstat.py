"""perf itself as the independent check of the counter path.

1. What perf opens for an event name: `perf stat -vv -e EXPR true` prints
   every perf_event_attr before it calls perf_event_open, also when the open
   then fails (as every hardware event does on a host without a PMU), so the
   encoding can be compared on any machine.  compare_attrs() puts the attr
   counters.c builds (bench.events.opened_attr) beside perf's, field by field.

2. The same regions counted by perf too (`run --crosscheck perf-stat`):
   `perf stat --delay=-1 --control fifo:CTL,ACK -p PID` attaches to the
   measuring process with its events disabled; the process writes `enable`
   to CTL just before each measured region and `disable` right after it,
   waiting for perf's `ack` each time, so perf counts exactly the regions
   the in-process group counts (plus the two control writes' own tails).
   crosscheck() measures that and compares the counts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from .errors import UsageError

_ATTR_LINE = re.compile(r"^\s{2}(\w+|\{ \w+, \w+ \})\s+(.+?)\s*$")


def perf_path() -> str | None:
    return shutil.which("perf")


def parse_vv(text: str) -> list[dict]:
    """The perf_event_attr blocks of `perf stat -vv` output, in order; a field
    perf leaves out (it prints only non-zero ones) is absent."""
    out, cur = [], None
    for ln in text.splitlines():
        if ln.startswith("perf_event_attr:"):
            cur = {}
            out.append(cur)
            continue
        if cur is None:
            continue
        m = _ATTR_LINE.match(ln)
        if m and not ln.startswith("---"):
            key = m.group(1)
            if key.startswith("{"):          # "{ bp_addr, config1 }": the union's names
                key = key.strip("{} ").split(", ")[-1]
            cur[key] = m.group(2)
        else:
            cur = None
    return out


def _field(attr: dict, key: str):
    v = attr.get(key)
    if key == "read_format":
        return frozenset(v.split("|")) if v else frozenset()
    return int(v, 0) if v else 0


def perf_vv(expr: str, env: dict | None = None, timeout: float = 30) -> tuple[list[dict], str]:
    """(attr blocks, perf's stderr) of `perf stat -vv -e expr true`."""
    perf = perf_path()
    if not perf:
        raise UsageError("perf is not installed (Debian package linux-perf): "
                         "`make setup` installs it")
    proc = subprocess.run([perf, "stat", "-vv", "-e", expr, "true"], capture_output=True,
                          text=True, timeout=timeout, env=env)
    text = proc.stdout + proc.stderr
    return parse_vv(text), text


def perf_expr(name: str, hardware: bool) -> str:
    """A two-event group whose member is `name`: perf then reads it as the
    suite does (read_format GROUP|ID) and, for hardware, user only (:u)."""
    leader = "cpu-clock" if name != "cpu-clock" else "task-clock"
    return "{" + f"{leader},{name}" + "}" + (":u" if hardware else "")


def perf_attr_of(name: str, hardware: bool) -> tuple[dict | None, str]:
    """perf's attr for `name` as a group member, or None and perf's output."""
    blocks, text = perf_vv(perf_expr(name, hardware))
    return (blocks[1] if len(blocks) >= 2 else None), text


def compare_attrs(names, user_only: bool | None = None) -> list[str]:
    """One line per field where the attr counters.c opens differs from
    perf's for the same name ([] when all agree).  user_only None: the
    group's first choice (hardware user only, as EVENT:u; software as EVENT);
    True: the user-only reopening of a software event, as EVENT:u."""
    from .events import ATTR_FIELDS, PERF_TYPE_SOFTWARE, opened_attr, resolve

    bad = []
    for name in names:
        spec = resolve(name)
        hw = spec[1] != PERF_TYPE_SOFTWARE if user_only is None else user_only
        ours = opened_attr(spec, leader=False, user_only=hw)
        theirs, text = perf_attr_of(name, hw)
        if theirs is None:
            last = [ln for ln in text.splitlines() if ln.strip()][-3:]
            bad.append(f"{name}: perf printed no attr for {perf_expr(name, hw)!r} "
                       f"({' / '.join(last)})")
            continue
        for f in ATTR_FIELDS:
            o = ours[f]
            o = frozenset(o.split("|")) if f == "read_format" else o
            t = _field(theirs, f)
            if o != t:
                show = (lambda v: "|".join(sorted(v))) if f == "read_format" else hex
                bad.append(f"{name}: {f} suite {show(o)} perf {show(t)}")
    return bad


# -- the same regions counted by perf stat -------------------------------------

CROSSCHECK_EVENTS = ["task-clock", "page-faults"]


def _parse_csv(text: str, names: list[str]) -> dict:
    """perf stat -x, lines (value,unit,event,...), one per -e event in its
    order -> {our name: count or None (<not counted>, <not supported>)}.
    task-clock and cpu-clock come in msec (two decimals) and are returned
    in ns."""
    rows = [ln.split(",") for ln in text.splitlines()
            if ln.strip() and not ln.startswith("#") and ln.count(",") >= 2]
    out = {}
    for name, parts in zip(names, rows):
        val, unit = parts[0].strip(), parts[1].strip()
        try:
            v = float(val)
        except ValueError:
            out[name] = None
            continue
        out[name] = v * 1e6 if unit == "msec" else v
    return out


class PerfStatControl:
    """`perf stat` attached to this process, enabled and disabled through its
    control FIFO.  Use as a context manager; counts() after the exit."""

    def __init__(self, events, tid: int | None = None):
        perf = perf_path()
        if not perf:
            raise UsageError("--crosscheck perf-stat needs perf (Debian package linux-perf)")
        self.dir = tempfile.mkdtemp(prefix="rmapbench-perfctl-")
        self.ctl, self.ack = os.path.join(self.dir, "ctl"), os.path.join(self.dir, "ack")
        self.out = os.path.join(self.dir, "stat.csv")
        os.mkfifo(self.ctl)
        os.mkfifo(self.ack)
        self.events = list(events)              # (our name, perf's name) or names
        self.names = [e[0] if isinstance(e, tuple) else e for e in self.events]
        perf_names = [e[1] if isinstance(e, tuple) else e for e in self.events]
        self.cmd = [perf, "stat", "-x", ",", "-o", self.out, "--delay=-1",
                    "--control", f"fifo:{self.ctl},{self.ack}",
                    "-e", ",".join(perf_names), "-t", str(tid or threading.get_native_id())]
        self.proc = None
        self.ctl_fd = self.ack_fd = -1
        self._counts = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        # perf opens ctl for reading and ack for writing; open our ends (these
        # opens block until perf has opened its own, so time them out)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.ctl_fd = os.open(self.ctl, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                    self._cleanup()
                    raise RuntimeError(f"perf stat did not open its control fifo: "
                                       f"{err.strip()[-300:] or 'timeout'}")
                time.sleep(0.01)
        os.set_blocking(self.ctl_fd, True)
        self.ack_fd = os.open(self.ack, os.O_RDONLY)
        return self

    def _cmd(self, word: str) -> None:
        os.write(self.ctl_fd, (word + "\n").encode())
        got = os.read(self.ack_fd, 16)
        if not got.startswith(b"ack"):
            raise RuntimeError(f"perf stat answered {got!r} to {word!r}")

    def enable(self) -> None:
        self._cmd("enable")

    def disable(self) -> None:
        self._cmd("disable")

    def __exit__(self, *exc):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(2)          # SIGINT: perf prints and exits
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if os.path.exists(self.out):
                with open(self.out) as f:
                    self._counts = _parse_csv(f.read(), self.names)
        finally:
            self._cleanup()
        return False

    def _cleanup(self) -> None:
        for fd in (self.ctl_fd, self.ack_fd):
            if fd >= 0:
                os.close(fd)
        self.ctl_fd = self.ack_fd = -1
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def counts(self) -> dict:
        return dict(self._counts or {})


# Tolerances of the cross-check (perf stat's window encloses the group's by
# the group's enable/disable ioctls and the FIFO round trips):
# - task-clock, cpu-clock: perf - suite between -TC_RES_NS (perf prints msec
#   with two decimals) and TC_REL * suite + TC_RES_NS + TC_PER_REGION_NS per region;
# - page-faults and other software counts: perf - suite between 0 and one per
#   region; context-switches and cpu-migrations 0 .. two per region (the
#   thread blocks for perf's ack while perf counts: a switch out and back);
# - hardware events (user only on both sides): |perf - suite| at most
#   HW_REL * suite + HW_PER_REGION per region.
TC_RES_NS = 10_000
TC_REL = 0.02
TC_PER_REGION_NS = 50_000
HW_REL = 0.02
HW_PER_REGION = 5_000


def tolerance(name: str, type_: int, suite: float, regions: int) -> tuple[float, float, str]:
    """(lowest, highest) allowed perf - suite, and the rule in words."""
    from .events import PERF_TYPE_SOFTWARE

    if name in ("task-clock", "cpu-clock"):
        return (-TC_RES_NS, TC_REL * suite + TC_RES_NS + TC_PER_REGION_NS * regions,
                f"-{TC_RES_NS / 1e3:g} us .. +{TC_REL:.0%} +{TC_RES_NS / 1e3:g} us "
                f"+{TC_PER_REGION_NS / 1e3:g} us/region")
    if name in ("context-switches", "cs", "cpu-migrations", "migrations"):
        return 0, 2 * regions, "0 .. +2/region"
    if type_ == PERF_TYPE_SOFTWARE:
        return 0, regions, "0 .. +1/region"
    d = HW_REL * suite + HW_PER_REGION * regions
    return -d, d, f"±{HW_REL:.0%} ±{HW_PER_REGION}/region"


def perf_name(spec) -> str | None:
    """How perf stat spells the event the suite opens (user only for hardware)."""
    from .events import PERF_TYPE_SOFTWARE

    name, type_, config = spec[0], spec[1], spec[2]
    if type_ == PERF_TYPE_SOFTWARE:
        return name
    src = getattr(spec, "source", "")
    if src in ("hardware", "hw-cache", "raw"):
        return name + ":u"
    if src == "pmu":
        return name + "u"
    if getattr(spec, "config1", 0) or getattr(spec, "config2", 0):
        return (f"cpu/config={config:#x},config1={spec.config1:#x},"
                f"config2={spec.config2:#x}/u")
    return f"r{config:x}:u"


def crosscheck_counts(group, perf_events, run_regions) -> tuple[dict, dict]:
    """Run run_regions() (which enables and disables `group` around each
    measured region) with perf stat switched on and off at the same points;
    returns (the group's scaled counts, perf stat's counts)."""
    with PerfStatControl(perf_events) as ps:
        group.set_control(ps.ctl_fd, ps.ack_fd)
        try:
            counts = run_regions()
        finally:
            group.set_control()
    return counts, ps.counts()


def compare(events, ours: dict, theirs: dict, regions: int) -> list[dict]:
    """One row per event: suite, perf, difference, tolerance, ok (None when
    one side could not count it, with why)."""
    rows = []
    for spec in events:
        name = spec[0]
        o, t = ours.get(name), theirs.get(name)
        row = {"event": name, "suite": o, "perf": t, "regions": regions}
        if o is None or t is None:
            row.update(ok=None, why=("the suite could not open it" if o is None else
                                     "perf stat could not count it"))
        else:
            lo, hi, rule = tolerance(name, spec[1], o, regions)
            row.update(diff=t - o, tolerance=rule, ok=bool(lo <= t - o <= hi))
        rows.append(row)
    return rows


def crosscheck_case(case: dict, phases, events, loops: int = 10,
                    pages: str | None = None) -> list[dict]:
    """`run --crosscheck perf-stat` for one case: each phase run `loops`
    times with the suite's group and perf stat both counting its regions,
    its kernel memory on the pages the timing workers use (Timing.pages)."""
    from .native import CounterGroup, Workload, load
    from .runner import Timing

    pages = pages or Timing.pages

    k = load(case["variant"], case["ext"])
    rows = []
    with CounterGroup(events, kernel=k) as cg, \
            Workload(k, case["workload"], n=case["n"], heads=case["heads"],
                     order=case["order"], alloc=case["alloc"], seed=case["seed"],
                     pages=pages) as w:
        opened = [e for e in cg.events if e[0] in cg.opened]
        pe = [(e[0], perf_name(e)) for e in opened]
        for phase in (phases or w.phases):
            def regions():
                r = w.run(phase, loops=loops, counters=cg)
                return {n: v * en / rn if rn else None for n, (v, en, rn) in r.counts.items()}
            ours, theirs = crosscheck_counts(cg, pe, regions)
            for row in compare(cg.events, ours, theirs, loops):
                row.update(variant=case["variant"], ext=case["ext"], phase=phase)
                if row["event"] in cg.failed:
                    row["why"] = cg.failed[row["event"]]
                rows.append(row)
    return rows


def crosscheck(cases: list[dict], events, cpu: int, loops: int = 10,
               pages: str | None = None) -> list[dict]:
    """Every case's phases, counted by the suite's group and by perf stat at
    once, on the pinned CPU (restored afterwards)."""
    from .events import resolve_list

    specs = resolve_list(events)
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        rows = []
        for case in cases:
            rows += crosscheck_case(case, None, specs, loops, pages)
        return rows
    except (RuntimeError, OSError) as e:
        raise UsageError(f"--crosscheck perf-stat: {e}".replace("\n", " ")) from None
    finally:
        os.sched_setaffinity(0, before)


def render(rows: list[dict]) -> list[str]:
    out = ["crosscheck perf-stat (measured; both count the same regions of this process, "
           "perf stat switched through its control FIFO):",
           f"  {'case':14s} {'phase':8s} {'event':24s} {'suite':>14s} {'perf stat':>14s}  verdict"]

    def num(v):
        return "-" if v is None else f"{v:.6g}"
    for r in rows:
        verdict = ("agree" if r["ok"] else "DISAGREE") + f" ({r['tolerance']})" \
            if r["ok"] is not None else f"not compared: {r['why']}"
        out.append(f"  {r['variant'] + '@' + str(r['ext']):14s} {r['phase']:8s} {r['event']:24s} "
                   f"{num(r['suite']):>14s} {num(r['perf']):>14s}  {verdict}")
    return out


CROSSCHECKS = ["perf-stat"]


def check_crosscheck_arg(value: str) -> None:
    """--crosscheck's value, and perf being there, before anything runs."""
    if value not in CROSSCHECKS:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise UsageError(f"bad --crosscheck {shown!r}: allowed is {', '.join(CROSSCHECKS)}")
    if not perf_path():
        raise UsageError("--crosscheck perf-stat: perf is not installed (Debian package "
                         "linux-perf); allowed only where perf is")


def write_rows(path, rows: list[dict]) -> None:
    import json
    from pathlib import Path

    tmp = Path(path) / "crosscheck.json.tmp"
    tmp.write_text(json.dumps({"backend": "perf_event_open group and perf stat",
                               "measured": True, "rows": rows}, indent=2))
    tmp.rename(Path(path) / "crosscheck.json")
