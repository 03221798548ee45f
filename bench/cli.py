"""The `rmapbench` command line.

Every subcommand turns bad input into one line on stderr naming the bad value
and what is allowed, and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import EXIT_USAGE, UsageError


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


def _cmd_build(args) -> int:
    from .build import build_library
    from .variants import builtin_names, check_ext, default_ext, parse_variants

    variants = parse_variants(args.variant) if args.variant else builtin_names()
    for v in variants:
        exts = [check_ext(e) for e in args.ext.split(",")] if args.ext else [default_ext(v)]
        for e in exts:
            art = build_library(v, e, args.cflags)
            print(f"{v:10s} EXT {e:2d}  {art.path}  [{art.compiler_version}; {art.cflags}]")
    return 0


def _cmd_trace(args) -> int:
    from .trace import format_records, read_ops, run_c
    from .variants import check_ext, check_variant, default_ext

    variant = check_variant(args.variant)
    ext = check_ext(args.ext) if args.ext is not None else default_ext(variant)
    ops = read_ops(args.opsfile)
    sys.stdout.write(format_records(run_c(variant, ext, ops, args.cflags)))
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rmapbench",
                description="Benchmark suite for the KVM shadow-MMU reverse map (pte_list).")
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


def main(argv: list[str] | None = None) -> int:
    from .variants import forget_user_variants

    # a command names its own variant files; it inherits none from a caller
    forget_user_variants()
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        _check_paths(args)
        return args.func(args)
    except UsageError as e:
        print(f"rmapbench: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rmapbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
