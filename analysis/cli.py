"""`rmapbench report` and `rmapbench compare` (registered in bench/cli.py).

pandas, scipy and matplotlib are imported inside the commands only.
"""

from __future__ import annotations

import sys


def _cmd_report(args) -> int:
    from .report import write_report

    path = write_report(args.dirs, out=args.out, baseline=args.baseline, pair=args.pair)
    print(path)
    return 0


def _cmd_compare(args) -> int:
    from .compare import compare_dirs

    res = compare_dirs(args.dir_a, args.dir_b, out=args.out, baseline=args.baseline or "auto")
    sys.stdout.write(res.text.rstrip("\n") + "\n")
    print(f"wrote {res.md_path} and {res.html_path}")
    return 0


def register(subparsers) -> None:
    from bench.variants import role

    r = subparsers.add_parser(
        "report", help="statistics, plots and a report (html, md, summary.txt) from run directories")
    r.add_argument("dirs", nargs="+", metavar="DIR",
                   help="finished run directories; several (e.g. hosts) merge into one report")
    r.add_argument("--baseline", default=role("baseline"), metavar="V",
                   help=f"series every other one is compared with (default: {role('baseline')})")
    r.add_argument("--pair", metavar="A,B",
                   help="the two series the headline and summary.txt compare, B against A "
                        "(default: the baseline against the newest variant in the data)")
    r.add_argument("--out", metavar="DIR", help="output directory (default: the first DIR)")
    r.set_defaults(func=_cmd_report)

    c = subparsers.add_parser(
        "compare", help="compare run B against run A (two hosts, compilers, builds)")
    c.add_argument("dir_a", metavar="DIR_A", help="the reference run")
    c.add_argument("dir_b", metavar="DIR_B", help="the run compared against it")
    c.add_argument("--baseline", default=None, metavar="V",
                   help="also show each run's series against V side by side "
                        "(default: old when both runs have it)")
    c.add_argument("--out", metavar="DIR", help="where compare.md/compare.html go (default: DIR_B)")
    c.set_defaults(func=_cmd_compare)
