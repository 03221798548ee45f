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


def compare_attrs(names, describe=None) -> list[str]:
    """One line per field where the attr counters.c opens differs from
    perf's for the same name ([] when all agree)."""
    from .events import ATTR_FIELDS, PERF_TYPE_SOFTWARE, opened_attr, resolve

    bad = []
    for name in names:
        spec = resolve(name)
        hw = spec[1] != PERF_TYPE_SOFTWARE
        ours = opened_attr(spec, leader=False)
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


def _parse_csv(text: str) -> dict:
    """perf stat -x, lines: value,unit,event,... -> {event: value or None}."""
    out = {}
    for ln in text.splitlines():
        parts = ln.split(",")
        if len(parts) < 3 or ln.startswith("#"):
            continue
        val, ev = parts[0].strip(), parts[2].strip()
        ev = re.sub(r":u$", "", ev)
        try:
            out[ev] = float(val)
        except ValueError:
            out[ev] = None          # <not counted> / <not supported>
    return out


class PerfStatControl:
    """`perf stat` attached to this process, enabled and disabled through its
    control FIFO.  Use as a context manager; counts() after the exit."""

    def __init__(self, events, pid: int | None = None):
        perf = perf_path()
        if not perf:
            raise UsageError("--crosscheck perf-stat needs perf (Debian package linux-perf)")
        self.dir = tempfile.mkdtemp(prefix="rmapbench-perfctl-")
        self.ctl, self.ack = os.path.join(self.dir, "ctl"), os.path.join(self.dir, "ack")
        self.out = os.path.join(self.dir, "stat.csv")
        os.mkfifo(self.ctl)
        os.mkfifo(self.ack)
        self.events = list(events)
        self.cmd = [perf, "stat", "-x", ",", "-o", self.out, "--delay=-1",
                    "--control", f"fifo:{self.ctl},{self.ack}",
                    "-e", ",".join(self.events), "-p", str(pid or os.getpid())]
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
                    self._counts = _parse_csv(f.read())
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
