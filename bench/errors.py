"""The one error type the CLI turns into a single line and exit status 2."""

import os


class UsageError(Exception):
    """Bad input of any kind: the message names the bad value and what is allowed.

    context: lines printed before the error line as they are (a compiler's
    first lines), so that the final line is the one naming the bad value."""

    def __init__(self, *args, context: str = ""):
        super().__init__(*args)
        self.context = context

    def __reduce__(self):               # pickled across a child process (bench.isolate)
        return (_usage_error, (type(self), self.args, self.context))


def _usage_error(cls, args, context):
    return cls(*args, context=context)


def shown_path(path) -> str:
    """A path as an error message shows it: repr'd, with a byte that is not
    UTF-8 escaped as \\xNN (a str path holds it as a lone surrogate)."""
    import re

    return re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", repr(os.fsdecode(path)))


def refuse_dir_like(path: str, flag: str) -> None:
    """A file output given as a directory-looking path (a trailing slash, '.'
    or '..' as its last part) is refused: it would otherwise name a file
    the user did not mean."""
    s = os.fsdecode(path)
    if s.endswith(("/", os.sep)) or os.path.basename(s) in (".", ".."):
        raise UsageError(f"{flag} {shown_path(s)} looks like a directory (it ends in "
                         f"{'/' if s.endswith(('/', os.sep)) else os.path.basename(s)!r}): "
                         "a file path is allowed")


EXIT_USAGE = 2


class StdoutError(UsageError):
    """Standard output failed (a full disk, a closed pipe) after the command's
    output files were written completely: they are kept, and the one line
    says so (the CLI then points stdout at /dev/null for its final flush)."""


def print_result(text: str, kept: str) -> None:
    """Print a command's result line(s) on stdout, flushed; a failed write is
    a StdoutError naming standard output and what was kept (kept: e.g. "the
    run directory '/x'")."""
    import errno
    import sys

    try:
        print(text, file=sys.stdout, flush=True)
    except (OSError, ValueError) as e:
        code = errno.errorcode.get(getattr(e, "errno", None) or 0, "")
        why = f"{getattr(e, 'strerror', None) or e}" + (f" ({code})" if code else "")
        raise StdoutError(f"writing to standard output failed: {why}; {kept} was written "
                          "completely and is kept (only what it prints on stdout was lost): give "
                          "a writable standard output (e.g. > FILE)") from None


# What the suite reads at most from one file a user names (docs/limits.md).
LIMITS = {
    "ops file": 16 << 20,
    "config": 1 << 20,
    "meta.json": 64 << 20,
    "check.json": 16 << 20,
}


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def read_stream(stream, what: str, limit: int) -> bytes:
    """At most limit bytes of an open binary stream (stdin): an endless one is
    refused after limit + 1 bytes, never read until memory runs out."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{what} is larger than {_mib(limit)}: at most {_mib(limit)} "
                         "is allowed")
    return data


def file_kind(st: os.stat_result) -> str | None:
    """None for a regular file, else what it is ("a directory", "a FIFO", ...)."""
    import stat

    m = st.st_mode
    return (None if stat.S_ISREG(m) else "a directory" if stat.S_ISDIR(m) else
            "a FIFO" if stat.S_ISFIFO(m) else "a socket" if stat.S_ISSOCK(m) else "a device")


def read_user_bytes(path, what: str, limit: int | None = None) -> bytes:
    """A file the user named, as bytes: a regular file of at most limit bytes.
    A directory, a device, a FIFO or a socket is refused before anything is
    read (a FIFO is opened without waiting for a writer), and no more than
    limit + 1 bytes are ever read."""
    limit = LIMITS.get(what, 64 << 20) if limit is None else limit
    where = f"{what} {shown_path(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"{where} not found: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{where} is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"{where} cannot be read: permission denied") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{where} cannot be read: {getattr(e, 'strerror', None) or e}") from None
    try:
        st = os.fstat(fd)
        kind = file_kind(st)
        if kind == "a directory":
            raise UsageError(f"{where} is a directory, not a file")
        if kind is not None:
            hint = " (a stream goes to stdin: give '-')" if what == "ops file" else ""
            raise UsageError(f"{where} is {kind}, not a regular file: a regular file of at "
                             f"most {_mib(limit)} is allowed{hint}")
        if st.st_size > limit:
            raise UsageError(f"{where} is larger than {_mib(limit)} ({st.st_size} bytes): "
                             f"at most {_mib(limit)} is allowed")
        chunks, total = [], 0
        while total <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
        if total > limit:
            raise UsageError(f"{where} is larger than {_mib(limit)}: at most {_mib(limit)} "
                             "is allowed")
        return b"".join(chunks)
    except OSError as e:
        raise UsageError(f"{where} cannot be read: {e.strerror}") from None
    finally:
        os.close(fd)


def decode_text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{where} is not text (UTF-8 expected; bad byte at offset "
                         f"{e.start})") from None


def read_user_text(path, what: str, limit: int | None = None) -> str:
    """A file the user named (a config, an op file), as UTF-8 text; any way it
    cannot be read is one UsageError naming `what` and the path."""
    return decode_text(read_user_bytes(path, what, limit), f"{what} {str(path)!r}")
