"""The native code of a user's variant runs in a child process.

A built-in variant's C code is the suite's own and runs inside the rmapbench
process.  A user's variant file (and an imported one) is not trusted: its
code may fault, abort or loop.  `call(fn)` runs fn in a forked child that
sends fn's result (or its exception) back over a pipe, so a crash or a hang
of that code ends the child, never rmapbench: the parent turns it into one
UsageError naming the variant, what it was doing (`note()`, breadcrumbs the
child leaves in memory shared with the parent) and the signal, and a
watchdog stops a child that runs longer than its wall-time limit (below;
docs/variants.md).  The child's standard output goes to standard error (so
`trace` prints nothing but its records on stdout); its standard error is
passed through, or, with capture_stderr, kept to quote its last line.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import pickle
import select
import signal
import struct
import sys
import time

from .errors import UsageError

# Wall time a child may take (docs/variants.md), generous for legitimate
# work: trace's replay of the largest op file (16 MiB) takes seconds;
# check of the two built-ins with the longest searches at EXT 64 took 6.5
# minutes for both on a loaded 2-core host; loading a library and reading its
# declaration, or import's probe (2 * (EXT + 1) + 1 ops), well under one.
TRACE_S = 600               # trace: every op and the slot dumps
CHECK_S = 1800              # check: every search for one variant
LOAD_S = 60                 # a library's load check; import's probe
# One call into the variant's code (an add, a remove, a walk, a dump, the
# probe) takes microseconds; one that has not returned after NATIVE_S is a
# loop, and the child is stopped then rather than at the whole-task limit.
NATIVE_S = 10
# The breadcrumbs: a 64-bit counter, then two short UTF-8 texts (what the
# child is doing; the detail of it), each a 32-bit length and its bytes.
_CRUMB_BYTES = 1032
_BUSY = 1024                # a double: when the running native call began, 0 if none
_TEXT = 8, 512              # (offset, room) of the first text
_DETAIL = 520, 504          # and of the second
_SHARED: mmap.mmap | None = None
ACTIVE = False              # true in a child: note() records, else it does nothing
_MAX_STDERR = 64 << 10      # what the parent keeps of a captured stderr


def _put(where: tuple[int, int], text: str) -> None:
    off, room = where
    b = text.encode("utf-8", "backslashreplace")[:room - 4]
    _SHARED[off + 4:off + 4 + len(b)] = b
    struct.pack_into("<I", _SHARED, off, len(b))


def _get(shared: mmap.mmap, where: tuple[int, int]) -> str:
    off, room = where
    n = min(struct.unpack_from("<I", shared, off)[0], room - 4)
    return bytes(shared[off + 4:off + 4 + n]).decode("utf-8", "replace")


def note(text: str) -> None:
    """In a child: what the native code is doing now (shown if it crashes);
    clears the detail."""
    if _SHARED is None:
        return
    _put(_TEXT, text)
    struct.pack_into("<I", _SHARED, _DETAIL[0], 0)


def detail(text: str) -> None:
    """In a child: the detail of what note() said (the op being run)."""
    if _SHARED is not None:
        _put(_DETAIL, text)


def crumb(i: int) -> None:
    """In a child: a progress counter (an op's index), cheaper than note()."""
    if _SHARED is not None:
        struct.pack_into("<q", _SHARED, 0, i)


def native_enter() -> None:
    """In a child: a call into the variant's code begins (see NATIVE_S)."""
    if _SHARED is not None:
        struct.pack_into("<d", _SHARED, _BUSY, time.monotonic())


def native_exit() -> None:
    """In a child: that call returned."""
    if _SHARED is not None:
        struct.pack_into("<d", _SHARED, _BUSY, 0.0)


def guarded(fn):
    """A method that calls into a variant's code, marked for the watchdog
    while it runs in a child (outside one, it is fn as it is)."""
    import functools

    @functools.wraps(fn)
    def run(*args, **kw):
        if _SHARED is None:
            return fn(*args, **kw)
        native_enter()
        try:
            return fn(*args, **kw)
        finally:
            native_exit()
    return run


def _read_crumbs(shared: mmap.mmap) -> tuple[int, str]:
    text, more = _get(shared, _TEXT), _get(shared, _DETAIL)
    return struct.unpack_from("<q", shared, 0)[0], f"{text}: {more}" if more else text


def signal_name(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
    what = signal.strsignal(sig) or ""
    return f"{name} ({what.lower()})" if what else name


def _die_with_parent() -> None:
    """The child is killed when the parent goes (SIGKILL to rmapbench must
    not leave a looping variant behind): prctl(PR_SET_PDEATHSIG, SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _child(fn, wfd: int, efd: int | None, ppid: int) -> None:
    """The forked child: run fn, send ("ok", result) or ("err", exception)."""
    global ACTIVE
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent handles ^C
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        _die_with_parent()
        if os.getppid() != ppid:                          # the parent is gone already
            os._exit(1)
        if efd is not None:
            os.dup2(efd, 2)
            os.close(efd)
        os.dup2(2, 1)           # the variant's printf: not into trace's records
        ACTIVE = True
        try:
            res = ("ok", fn())
        except BaseException as e:          # noqa: BLE001 - sent to the parent as it is
            res = ("err", e)
        try:
            data = pickle.dumps(res)
        except Exception as e:              # noqa: BLE001 - an unpicklable result or error
            data = pickle.dumps(("err", RuntimeError(f"{type(res[1]).__name__}: {res[1]}"
                                                     if res[0] == "err" else
                                                     f"result not transferable: {e}")))
        view = memoryview(struct.pack("<Q", len(data)) + data)
        while view:
            view = view[os.write(wfd, view):]
        _flush_c_stdio()
    finally:
        os._exit(0)


def call(fn, *, label: str, timeout: float, describe=None,
         capture_stderr: bool = False, allowed: str = ""):
    """fn() run in a forked child; its result, or its exception re-raised
    here.  A child that dies from a signal, exits without a result, or runs
    longer than timeout seconds is a UsageError:
    "<label> crashed with SIGSEGV (...) <where>: <allowed>", where comes
    from describe(counter, text) over the child's breadcrumbs (note/crumb)
    or is left out.  capture_stderr: the child's stderr is kept and its
    last line quoted, not printed."""
    global _SHARED
    shared = mmap.mmap(-1, _CRUMB_BYTES)
    struct.pack_into("<q", shared, 0, -1)
    rfd, wfd = os.pipe()
    efd_r, efd_w = os.pipe() if capture_stderr else (None, None)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    ppid = os.getpid()
    pid = os.fork()
    if pid == 0:                                # pragma: no cover - the child
        os.close(rfd)
        if efd_r is not None:
            os.close(efd_r)
        _SHARED = shared
        _child(fn, wfd, efd_w, ppid)
    os.close(wfd)
    if efd_w is not None:
        os.close(efd_w)
    data, err, reaped, status, timed_out = bytearray(), bytearray(), False, 0, False
    stuck = False
    try:
        deadline = time.monotonic() + timeout
        fds = [rfd] + ([efd_r] if efd_r is not None else [])
        while rfd in fds:
            now = time.monotonic()
            left = deadline - now
            began = struct.unpack_from("<d", shared, _BUSY)[0]
            if began and now - began > NATIVE_S:
                stuck = timed_out = True
                break
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(fds, [], [], min(left, 1.0))
            for fd in ready:
                b = os.read(fd, 1 << 16)
                if not b:
                    fds.remove(fd)
                elif fd == rfd:
                    data += b
                elif len(err) < _MAX_STDERR:
                    err += b
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        reaped = True
        if efd_r is not None and efd_r in fds:      # what the child wrote last
            os.set_blocking(efd_r, False)
            try:
                while len(err) < _MAX_STDERR and (b := os.read(efd_r, 1 << 16)):
                    err += b
            except (BlockingIOError, OSError):
                pass
    finally:
        if not reaped:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(rfd)
        if efd_r is not None:
            os.close(efd_r)
        counter, text = _read_crumbs(shared)
        shared.close()
    where = describe(counter, text) if describe else (text or "")
    where = f" {where}" if where else ""
    tail = ""
    if capture_stderr:
        lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
        if lines:
            last = lines[-1] if len(lines[-1]) <= 200 else lines[-1][:200] + "..."
            tail = f" (its last message: {last!r})"
    rest = f": {allowed}" if allowed else ""
    if stuck:
        raise UsageError(f"{label} did not return from one call into its code within "
                         f"{NATIVE_S:g} s{where} (a loop?), stopped{tail}{rest}")
    if timed_out:
        raise UsageError(f"{label} did not finish within {timeout:g} s{where}, stopped"
                         f"{tail}{rest}")
    if os.WIFSIGNALED(status):
        raise UsageError(f"{label} crashed with {signal_name(os.WTERMSIG(status))}{where}"
                         f"{tail}{rest}")
    if len(data) >= 8:
        n = struct.unpack_from("<Q", data, 0)[0]
        if len(data) == 8 + n:
            kind, value = pickle.loads(bytes(data[8:]))
            if kind == "ok":
                return value
            raise value
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    raise UsageError(f"{label} ended the process with exit status {code}{where}{tail}{rest}")
