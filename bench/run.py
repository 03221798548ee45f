"""`rmapbench run`: measure one case per variant and print a table per phase.

Every case is measured the same way (bench.runner); the null kernel (the
same loop with no rmap work) is measured beside them so the harness overhead
per op is stated as a ratio to the cheapest real phase.  With --out, the run
is also written as a run directory (results.parquet, pyperf.json, meta.json).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import UsageError


def _int(name: str, text: str, lo: int, hi: int | None = None) -> int:
    """Every integer option: bench.values.parse_int (ASCII decimal, a stated range)."""
    from .values import parse_int

    return parse_int(name, text, lo, hi)


def cases_from_args(args) -> list[dict]:
    from .variants import check_ext, default_ext, parse_variants
    from .workloads import ALLOCS, ORDERS, WORKLOADS

    variants = parse_variants(args.variant)
    if args.workload not in WORKLOADS:
        raise UsageError(f"unknown workload {args.workload!r}: allowed are {', '.join(WORKLOADS)}")
    if args.order not in ORDERS:
        raise UsageError(f"unknown order {args.order!r}: allowed are {', '.join(ORDERS)}")
    if args.alloc not in ALLOCS:
        raise UsageError(f"unknown alloc {args.alloc!r}: allowed are {', '.join(ALLOCS)}")
    from .config import HEADS_MAX, N_MAX

    # --n defaults to 16, and to 0 for guest (whose chain lengths are its own)
    n_text = args.n if args.n is not None else ("0" if args.workload == "guest" else "16")
    n = _int("--n", n_text, 0, N_MAX)
    heads = _int("--heads", args.heads, 1, HEADS_MAX)
    seed = _int("--seed", args.seed, 0, (1 << 63) - 1)     # as a sweep config's seed
    cases = []
    for v in variants:
        ext = check_ext(args.ext) if args.ext is not None else default_ext(v)
        cases.append({"workload": args.workload, "variant": v, "ext": ext, "n": n,
                      "heads": heads, "order": args.order, "alloc": args.alloc,
                      "seed": seed})
    return cases


def _bad_option(key: str, value, allowed: str) -> UsageError:
    return UsageError(f"bad --{key} {value!r}: {allowed} is allowed")


def check_cases(cases: list[dict], backend: str | None = None) -> None:
    """The sweep's validator (bench.config.check_case) under the default caps,
    named as `run`'s options."""
    from .config import check_case

    for c in cases:
        check_case(c, None, backend, _bad_option)


PYPERF_INT_OPTIONS = ("processes", "values", "warmups", "loops")


def pyperf_args_from(args) -> list[str]:
    """pyperf's own options, checked here so a bad value fails before anything runs."""
    out = []
    if args.fast and args.rigorous:
        raise UsageError("--fast and --rigorous: give at most one")
    if args.fast:
        out.append("--fast")
    if args.rigorous:
        out.append("--rigorous")
    for name in PYPERF_INT_OPTIONS:
        v = getattr(args, name, None)
        if v is not None:
            from .values import PYPERF_INT_RANGES

            lo, hi = PYPERF_INT_RANGES[name]      # as a sweep config's options.pyperf
            out += [f"--{name}", str(_int(f"--{name}", v, lo, hi))]
    if getattr(args, "min_time", None) is not None:
        from .values import parse_number

        t = parse_number("--min-time", args.min_time, 0.0, 60.0,
                         allowed="seconds, more than 0 and at most 60")
        out += ["--min-time", repr(t)]
    return out


def timing_options(args) -> tuple[float | None, float | None]:
    """(precision, budget) from --precision/--budget, checked before anything runs."""
    from .values import BUDGET_MAX, parse_number

    out = []
    for name, lo, hi, allowed in (("precision", 0.0, 1.0, "a fraction above 0 and below 1 "
                                   "(0.01 = 1%)"),
                                  ("budget", 0.0, BUDGET_MAX,
                                   f"seconds above 0 and at most {BUDGET_MAX:g}")):
        v = getattr(args, name, None)
        if v is None:
            out.append(None)
            continue
        out.append(parse_number(f"--{name}", v, lo, hi, hi_open=name == "precision",
                                allowed=allowed))
    return out[0], out[1]


def add_measure_options(p) -> None:
    """Options `run` and `sweep` share."""
    from .runner import BACKENDS

    p.add_argument("--backend", default="auto", help=f"one of {', '.join(BACKENDS)} (default auto)")
    p.add_argument("--cpu", help="CPU to pin workers to (default: isolated, else highest)")
    p.add_argument("--events", help="comma-separated perf events (default: DESIGN.md set)")
    p.add_argument("--sim-profile", help="cache geometry for sim: host, host-l2 or a named profile")
    p.add_argument("--fast", action="store_true", help="pyperf --fast")
    p.add_argument("--rigorous", action="store_true", help="pyperf --rigorous")
    for name in PYPERF_INT_OPTIONS:
        p.add_argument(f"--{name}", help=f"pyperf --{name}")
    p.add_argument("--min-time", help="pyperf --min-time (seconds per value)")
    p.add_argument("--precision", help="target 95%% CI half-width of each variant's ratio to "
                                       "the first, as a fraction (default 0.01 = 1%%)")
    p.add_argument("--budget", help="seconds of timing per case group at most (default 12)")
    p.add_argument("--cflags", help="compiler flags for the kernels (default -O2)")
    p.add_argument("--pages", help="page size of a timed case's descriptor arena and shadow "
                                   "pages: 2M (default, as the kernel's direct map) or 4K")


def summarize(df):
    """Per (phase, variant, ext, metric): mean, stdev, backend, unit."""
    g = df.groupby(["workload", "phase", "variant", "ext", "metric", "backend", "unit"],
                   sort=False)["value"]
    return g.agg(["mean", "std", "count"]).reset_index()


def print_tables(df, baseline_variant: str, out=None) -> None:
    """One table per phase: a row per variant, every metric per op with the
    backend that produced it in the header; time with its spread and its
    ratio to the baseline variant."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out or sys.stdout, width=220)
    s = summarize(df[df.workload != "null"])
    for (workload, phase), sp in s.groupby(["workload", "phase"], sort=False):
        t = Table(title=f"{workload} / {phase}: per op", title_justify="left")
        t.add_column("variant")
        metrics = list(dict.fromkeys(sp.metric))
        for m in metrics:
            r = sp[sp.metric == m].iloc[0]
            tag = r.backend
            name = {"time": "time raw", "time-net": "time net"}.get(m, m)
            t.add_column(f"{name}\n{r.unit} [{tag}]", justify="right")
            if m == "time":
                t.add_column(f"ratio\nvs {baseline_variant}", justify="right")
        timed = "halfwidth" in df.columns and "time" in metrics
        if timed:
            t.add_column("95% CI\nhalf-width", justify="right")
            t.add_column("re-measured\n(why)", justify="left")
        base = sp[(sp.variant == baseline_variant) & (sp.metric == "time")]["mean"]
        base = base.iloc[0] if len(base) else None
        for (v, e), sv in sp.groupby(["variant", "ext"], sort=False):
            cells = [f"{v}@{e}"]
            for m in metrics:
                r = sv[sv.metric == m]
                if r.empty:
                    cells.append("unsupported")
                else:
                    mean, std, cnt = r["mean"].iloc[0], r["std"].iloc[0], r["count"].iloc[0]
                    cells.append(f"{mean:.4g}" + (f" ± {std:.2g}" if cnt > 1 else ""))
                if m == "time":
                    cells.append(f"{r['mean'].iloc[0] / base:.3f}x" if base and not r.empty else "")
            if timed:
                d = df[(df.workload == workload) & (df.phase == phase) & (df.variant == v)
                       & (df.ext == e) & (df.metric == "time")]
                hw = d["halfwidth"].iloc[0] if len(d) else float("nan")
                of = d["halfwidth_of"].iloc[0] if len(d) else ""
                cells.append("n/a" if hw != hw else f"±{hw:.2%} ({of})")
                rm = int(d["remeasured"].iloc[0]) if len(d) else 0
                why = d["remeasure_reasons"].iloc[0] if len(d) else ""
                cells.append(f"{rm} of {len(d)}" + (f" ({why})" if why else ""))
            t.add_row(*cells)
        console.print(t)


def budget_line(df, timing) -> str | None:
    """Where the budget stopped the timing short of the target: the interval
    that would need the most time, and about what --budget would reach the
    target at the noise this run showed (bench.measure.budget_shortfall)."""
    from .measure import budget_shortfall
    from .values import BUDGET_MAX

    if "metric" not in df.columns:
        return None
    short = budget_shortfall(df[df.metric == "time"], timing.precision)
    if short is None:
        return None
    w, need = short["row"], short["need"]
    text = (f"precision: the budget ({timing.budget:g}s) stopped {short['count']} interval(s) "
            f"short of ±{timing.precision:.1%}; the furthest, {w.variant}@{w.ext} {w.phase} "
            f"({w.halfwidth_of}), at ±{float(w.halfwidth):.2%} after {float(w.timing_s):.0f}s "
            "of worker processes: ")
    if need <= BUDGET_MAX:
        return text + (f"at the noise this run showed, about --budget {need:.0f} would reach "
                       "the target (half-widths narrow as 1/sqrt(time))")
    return text + (f"that would take about {need:.0f}s, beyond --budget's {BUDGET_MAX:g}s: "
                   f"--budget {BUDGET_MAX:g} would reach about ±{short['reach']:.1%} at this "
                   "noise")


def overhead_line(df) -> str | None:
    """The harness's own cost, measured in the same worker processes: the
    fixed cost per repetition and the null kernel per op, against the
    cheapest real phase (raw)."""
    if "null_ns_per_op" not in df.columns:
        return None
    t = df[df.metric == "time"]
    if t.empty:
        return None
    real = t.groupby(["variant", "ext", "phase"])["value"].mean()
    (v, e, ph), cheapest = real.idxmin(), real.min()
    null = t["null_ns_per_op"].median()
    return (f"harness overhead: null kernel {null:.3g} ns/op = {null / cheapest:.1%} of the "
            f"cheapest real phase ({v}@{e} {ph}, {cheapest:.3g} ns/op raw); fixed cost "
            f"{t['fixed_ns'].median():.3g} ns per repetition; time-net = raw minus both")


def cmd_run(args) -> int:
    from .meta import build_meta
    from .results import RunDir, check_output_dir
    from .runner import make_plan, new_run_id, prepare_kernels

    cases = cases_from_args(args)
    check_cases(cases)
    if args.crosscheck is not None:
        from .perfstat import check_crosscheck_arg
        check_crosscheck_arg(args.crosscheck)
    if args.out is not None:
        check_output_dir(args.out)
    precision, budget = timing_options(args)
    plan = make_plan(args.backend, events=args.events, cpu=args.cpu,
                     pyperf_args=pyperf_args_from(args), sim_profile=args.sim_profile,
                     cflags=args.cflags, precision=precision, budget=budget,
                     pages=args.pages)
    check_cases(cases, plan.backend)      # the backend's own caps (sim: tighter)
    prepare_kernels(plan, cases)
    print(f"backend: {plan.backend} ({plan.reason}); pinned to CPU {plan.cpu}", file=sys.stderr)
    if plan.sim_profile:
        print(f"sim cache profile: {plan.sim_profile} ({plan.sim_profile_reason})", file=sys.stderr)
    run_id = new_run_id()
    meta = build_meta(plan, run_id, config={"command": "run", "cases": cases})
    host = meta["host"]["name"]
    rundir = RunDir(args.out) if args.out is not None else None
    created = _created_by_begin(Path(args.out)) if rundir else None
    if rundir:
        rundir.begin(meta)
    try:
        return _measure_and_report(args, cases, plan, run_id, meta, host, rundir)
    except Exception:
        # a run that failed (valgrind, a worker, a full disk) leaves nothing
        # half-written: what begin() made is removed; `run` has no resume
        if rundir:
            _discard(rundir, created)
        raise


def _created_by_begin(out: Path) -> Path | None:
    """The outermost directory RunDir.begin() will create for out; None when
    out exists already (an empty directory: then only its contents are the run's)."""
    if out.exists() or out.is_symlink():
        return None
    top = out
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    return top


def _discard(rundir, created: Path | None) -> None:
    import shutil

    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
        return
    for p in rundir.path.iterdir():     # it was empty when the run began
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _measure_and_report(args, cases, plan, run_id, meta, host, rundir) -> int:
    from .meta import now
    from .results import case_key
    from .runner import measure_group

    t = plan.timing
    print(f"measuring {len(cases)} variant(s) interleaved in the same worker processes: "
          f"{cases[0]['workload']} n={cases[0]['n']} heads={cases[0]['heads']}; until every "
          f"ratio to {cases[0]['variant']}@{cases[0]['ext']} has a 95% CI within "
          f"±{t.precision:.1%} or {t.budget:g}s", file=sys.stderr)

    def progress(p, worst, seconds):
        shown = "n/a" if worst == float("inf") else f"±{worst:.2%}"
        print(f"  worker process {p} done: {seconds:.1f}s, widest CI half-width {shown}",
              file=sys.stderr, flush=True)

    all_rows = []
    def note(msg):
        print(msg, file=sys.stderr, flush=True)

    from .sweep import Interrupted, SignalGuard

    # SIGINT/SIGTERM/SIGHUP: the pinned workers (and valgrind) are killed, the
    # temporary directories removed on the way out, a run directory is left
    # "incomplete" with the signal named, and the exit status is 128+signal
    guard = SignalGuard()
    try:
        with guard:
            measured = measure_group(cases, plan, run_id, host, progress, note)
            with guard.protect():
                for case, rows, pyperf_text in measured:
                    all_rows += rows
                    if rundir:
                        rundir.write_case(case_key(case), rows, pyperf_text)
    except Interrupted as e:
        if rundir:
            rundir.write_meta({**meta, "status": "incomplete", "interrupted": e.name})
        print(f"rmapbench: run interrupted by {e.name}: its worker processes were stopped"
              + (f"; {rundir.path} is left incomplete" if rundir else ""), file=sys.stderr)
        return 128 + e.signum
    import pandas as pd

    df = pd.DataFrame(all_rows)
    print_tables(df, cases[0]["variant"])
    for line in (overhead_line(df), budget_line(df, plan.timing)):
        if line:
            print(line)
    xrows = None
    if args.crosscheck is not None:
        from .perfstat import crosscheck, render, write_rows
        xrows = crosscheck(cases, plan.events, plan.cpu, pages=plan.timing.pages)
        print("\n".join(render(xrows)))
        if rundir:
            write_rows(rundir.path, xrows)
    if rundir:
        rundir.finalize({**meta, "events": plan.event_support, "finished": now()})
        print(f"run directory: {rundir.path}")
    if xrows and any(r["ok"] is False for r in xrows):
        bad = sorted({r["event"] for r in xrows if r["ok"] is False})
        print(f"rmapbench: crosscheck perf-stat: {', '.join(bad)} disagree beyond the "
              "stated tolerance", file=sys.stderr)
        return 1
    return 0


def register(sub) -> None:
    p = sub.add_parser("run", help="measure one case per variant, print per-phase tables")
    p.add_argument("--variant", required=True, help="comma-separated variants")
    p.add_argument("--workload", default="fork")
    p.add_argument("--n", help="sptes per head (default 16; guest: 0)")
    p.add_argument("--heads", default="1000")
    p.add_argument("--ext", help="slots per descriptor (default: each variant's own)")
    p.add_argument("--order", default="fifo", help="exit order: fifo, lifo, random")
    p.add_argument("--alloc", default="bump", help="bump, slab, scatter")
    p.add_argument("--seed", default="1")
    p.add_argument("--out", help="write a run directory here")
    p.add_argument("--crosscheck", metavar="perf-stat",
                   help="also count every phase's regions with perf stat (through its "
                        "control FIFO) and compare with the suite's counts")
    add_measure_options(p)
    p.set_defaults(func=cmd_run)
