"""The `rmapbench` command line.

Every subcommand turns bad input into one line on stderr naming the bad value
and what is allowed, and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import EXIT_USAGE, StdoutError, UsageError


# Modules that add a subcommand: each has register(subparsers), which adds
# its parser and sets `func` (args -> exit status).  Imports inside a
# command's func stay lazy so `rmapbench trace` does not load pandas.
COMMAND_MODULES: list[str] = [
    "bench.check",
    "bench.run",
    "bench.doctor",
    "bench.events",
    "bench.sweep",
    "bench.kimport",
    "analysis.cli",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")

    def _print_message(self, message, file=None):
        # argparse drops a failed write (--help into a full disk, a closed
        # pipe) and exits 0; let the OSError reach main(), which reports it
        # like any other failed output
        if message:
            file = file or sys.stderr
            if file is not None:
                file.write(message)


class _VersionAsked(Exception):
    pass


class _Version(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        raise _VersionAsked()


def _cmd_build(args) -> int:
    from .build import build_library
    from .values import parse_int_list
    from .variants import EXT_MAX, EXT_MIN, builtin_names, default_ext, parse_variants

    variants = parse_variants(args.variant) if args.variant is not None else builtin_names()
    given = parse_int_list("EXT", args.ext, EXT_MIN, EXT_MAX) if args.ext is not None else None
    for v in variants:
        exts = given or [default_ext(v)]
        for e in exts:
            art = build_library(v, e, args.cflags)
            print(f"{v:10s} EXT {e:2d}  {art.path}  [{art.compiler_version}; {art.cflags}]")
    return 0


def _cmd_trace(args) -> int:
    from .trace import format_records, read_ops, run_c
    from .variants import check_ext, check_variant, default_ext

    variant = check_variant(args.variant)
    ext = check_ext(args.ext) if args.ext is not None else default_ext(variant)
    linenos: list[int] = []
    ops = read_ops(args.opsfile, linenos)
    where = "<stdin>" if args.opsfile == "-" else args.opsfile
    # whole output or none: the records are written once every op has run
    sys.stdout.write(format_records(run_c(variant, ext, ops, args.cflags, where=where,
                                          linenos=linenos)))
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rmapbench",
                description="Benchmark suite for the KVM shadow-MMU reverse map (pte_list).")
    p.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("build", help="compile the native kernels (cached)")
    b.add_argument("--variant", help="comma-separated variants (default: all)")
    b.add_argument("--ext", help="comma-separated EXT values (default: each variant's own)")
    b.add_argument("--cflags", help="compiler flags (default: -O2 or $RMAPBENCH_CFLAGS)")
    b.set_defaults(func=_cmd_build)

    t = sub.add_parser("trace", help="replay an op file on a C kernel, print JSON lines")
    t.add_argument("--variant", required=True)
    t.add_argument("--ext", help="slots per descriptor (default: the variant's own)")
    t.add_argument("--cflags", help="compiler flags for the kernel library")
    t.add_argument("opsfile", help="op file, or - for stdin")
    t.set_defaults(func=_cmd_trace)

    for spec in COMMAND_MODULES:
        importlib.import_module(spec).register(sub)
    return p


# Arguments that name a file or directory: an empty one would silently mean
# "." (or, for --out, no output at all), so it is refused for every command.
PATH_ARGS = {"out": "--out", "config": "CONFIG", "opsfile": "OPSFILE", "dirs": "DIR",
             "target": "KERNEL_TREE|MMU_C",
             "dir_a": "DIR_A", "dir_b": "DIR_B"}


def _check_paths(args) -> None:
    for dest, shown in PATH_ARGS.items():
        value = getattr(args, dest, None)
        for v in value if isinstance(value, list) else [value]:
            if v == "":
                raise UsageError(f"{args.command}: {shown} {v!r}: a file or directory path "
                                 "is allowed, not an empty string")


# Options whose empty value means something stated (no compiler flags at
# all); every other option given as '' is refused rather than taken as "all"
# or "the default".
EMPTY_ALLOWED = {"cflags"}


def _check_empty(parser, args) -> None:
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    cmd = sub.choices.get(args.command) if sub else None
    for action in cmd._actions if cmd else []:
        if action.dest in EMPTY_ALLOWED or action.dest in PATH_ARGS:
            continue
        value = getattr(args, action.dest, None)
        if value == "" or (isinstance(value, list) and "" in value):
            shown = action.option_strings[-1] if action.option_strings else \
                (action.metavar or action.dest.upper())
            raise UsageError(f"{args.command}: {shown} '': an empty value is not allowed "
                             f"({action.help or 'give a value'})")


def _streams_open() -> str | None:
    """Which standard stream a command cannot do without is closed, if any."""
    for fd, name, stream in ((1, "standard output", sys.stdout),
                             (2, "standard error", sys.stderr)):
        try:
            os.fstat(fd)
        except OSError:
            return name
        if stream is None:
            return name
    return None


def _silence_stdout() -> None:
    """After stdout failed, point it at /dev/null so the interpreter's final
    flush has nothing to complain about (not when a test captures stdout)."""
    if sys.stdout is not None and sys.stdout is sys.__stdout__:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, sys.stdout.fileno())
            os.close(fd)
        except (OSError, ValueError):
            pass


def _say_error(text: str) -> None:
    try:
        print(f"rmapbench: error: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def _say_context(e: UsageError) -> None:
    """Lines before the error line (a compiler's first lines), as they are."""
    context = getattr(e, "context", "")
    if context:
        try:
            sys.stderr.write(context.rstrip("\n") + "\n")
        except (OSError, ValueError, AttributeError):
            pass


def _os_error_text(e: OSError) -> str:
    import errno as errno_mod

    code = errno_mod.errorcode.get(e.errno or 0, "")
    why = f"{e.strerror or e} ({code})" if code else f"{e.strerror or e}"
    if e.filename is not None:
        return f"cannot use {str(e.filename)!r}: {why}: check the path, its permissions and " \
               "the free space of its file system"
    return (f"writing output failed: {why}: the standard output (or a file being written) "
            "was closed or its disk is full; give a writable output (e.g. > FILE or --out)")


def main(argv: list[str] | None = None) -> int:
    from .variants import env_problem, forget_user_variants

    # a command names its own variant files; it inherits none from a caller
    # (a malformed RMAPBENCH_USER_VARIANTS is refused all the same: below)
    env_bad = env_problem()
    forget_user_variants()
    closed = _streams_open()
    if closed is not None:
        # a file opened now could land on the closed descriptor and take the
        # output meant for the stream: refuse before anything runs
        _say_error(f"{closed} is closed: rmapbench needs it open (redirect it to a file "
                   "or /dev/null instead of closing it)")
        return EXIT_USAGE
    if env_bad is not None:
        _say_error(env_bad)
        return EXIT_USAGE
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        _check_paths(args)
        _check_empty(parser, args)
        status = args.func(args)
        if sys.stdout is not None:
            sys.stdout.flush()
        return status
    except _VersionAsked:
        from . import __version__

        try:
            sys.stdout.write(f"rmapbench {__version__}\n")
            sys.stdout.flush()
            return 0
        except OSError as e:
            _silence_stdout()
            _say_error(_os_error_text(e))
            return EXIT_USAGE
    except UsageError as e:
        if isinstance(e, StdoutError):
            _silence_stdout()
        _say_context(e)
        _say_error(str(e))
        return EXIT_USAGE
    except SystemExit:              # --help, --version: what they printed must reach stdout
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except OSError as e:
            _silence_stdout()
            _say_error(_os_error_text(e))
            return EXIT_USAGE
        raise
    except KeyboardInterrupt:
        _say_error("interrupted (SIGINT)")
        return 130
    except OSError as e:
        _silence_stdout()
        _say_error(_os_error_text(e))
        return EXIT_USAGE
    except (MemoryError, RecursionError) as e:
        _say_error(f"out of {'memory' if isinstance(e, MemoryError) else 'stack'} "
                   "while reading the input: an input within the limits of docs/limits.md "
                   "is allowed")
        return EXIT_USAGE
    except Exception as e:          # the last resort: still one line, never a traceback
        if os.environ.get("RMAPBENCH_TRACEBACK"):
            raise
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        _say_error(f"unexpected {type(e).__name__}{': ' + text[:200] if text else ''}; "
                   "rerun with RMAPBENCH_TRACEBACK=1 for the traceback and report it")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
