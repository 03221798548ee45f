"""`rmapbench sweep [CONFIG.toml] [--backend B] [--out DIR] [--resume] [--quick]`.

Expands a sweep config (bench.config) into cases, measures each with the
runner and persists it at once (RunDir.write_case: atomic, the parquet part
last), then finalizes the run directory (results.parquet, pyperf.json,
meta.json "complete").  Nothing is measured before the whole config has been
validated and the output directory checked.

Interruption: SIGINT, SIGTERM and SIGHUP abort the case being measured (its
worker processes are killed; a case being written is finished first), leave
meta.json "incomplete" with the signal named, and exit 128+signal.  A SIGKILL
loses only the case in progress too: every finished case is a complete part
file.  Timing runs in passes (one worker process of every unfinished group
per pass); each finished worker process is kept under pending/ in the run
directory until its group is written, so an interrupted sweep loses at most
the process in flight.  `--resume` measures exactly the cases of the stored
plan whose parts are missing, continuing their groups from the processes kept
in pending/; the config, case list, run id and host label come from the
run's meta.json so that a resumed run is the run it continues.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .errors import UsageError, print_result

ROOT = Path(__file__).resolve().parent.parent
from .backends import NAMES as BACKENDS  # noqa: E402
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
PENDING = "pending"       # run-dir folder: finished worker processes of unwritten groups


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


# -- signals ----------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    """Every live descendant of pid, children first (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class SignalGuard:
    """Turn SIGINT/SIGTERM/SIGHUP into Interrupted, except inside protect()."""

    def __init__(self):
        self.critical = False
        self.pending: int | None = None
        self.old = {}

    def _handler(self, signum, frame):
        if self.critical:
            self.pending = signum
            return
        self.pending = signum
        self._stop_children()
        raise Interrupted(signum)

    @staticmethod
    def _stop_children():
        # pyperf workers and valgrind are grandchildren: once the direct child
        # is killed they would be orphaned and keep running, so end them now.
        for pid in _descendants(os.getpid()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self):
        for s in SIGNALS:
            self.old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)

    @contextlib.contextmanager
    def protect(self):
        """Signals wait until the block (writing one case) is done."""
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
        if self.pending is not None:
            self._stop_children()
            raise Interrupted(self.pending)


# -- progress ---------------------------------------------------------------

_quiet = False


def _say(msg: str, file=None) -> None:
    """Print a progress/status line; a closed pipe silences progress, never the sweep."""
    global _quiet
    if _quiet:
        return
    try:
        print(msg, file=file or sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        _quiet = True


def case_weight(case: dict) -> float:
    """Rough relative cost of measuring a case, for the ETA: cases inside L2 cost
    about the same; bigger ones grow with the square root of their footprint
    (measured on the reference host), and a scattered arena costs more to set up."""
    from .config import estimate_footprint

    w = max(1.0, math.sqrt(estimate_footprint(case) / (1 << 20)))
    return w * (1.5 if case["alloc"] == "scatter" else 1.0)


class _Lines:
    """Progress for a log (stderr not a terminal): one line per case."""

    def __init__(self, total: int, done: int, work: float):
        self.total, self.done = total, done
        self.work_left = work
        self.start = time.monotonic()
        self.work_done = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def current(self, label: str, weight: float):
        self.label, self.weight = label, weight

    def advance(self, seconds: float, cases: int = 1):
        self.done += cases
        self.work_done += self.weight
        self.work_left -= self.weight
        eta = (time.monotonic() - self.start) / self.work_done * max(self.work_left, 0)
        _say(f"[{self.done}/{self.total}] {self.label}  {seconds:.1f}s  ETA {_hms(eta)}")


class _Bar:
    """A rich progress bar: cases done/total, the current case, elapsed and ETA.

    The bar itself advances by each case's weight, so the ETA accounts for the
    big cases still to come; the counter shows cases."""

    def __init__(self, total: int, done: int, work: float):
        from rich.console import Console
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.total, self.done = total, done
        self.progress = Progress(
            TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.fields[cases]} cases"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True), speed_estimate_period=3600)
        self.task = self.progress.add_task("", total=work, cases=f"{done}/{total}")

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def current(self, label: str, weight: float):
        self.weight = weight
        self.progress.update(self.task, description=label)

    def advance(self, seconds: float, cases: int = 1):
        self.done += cases
        self.progress.update(self.task, advance=self.weight,
                             cases=f"{self.done}/{self.total}")


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


# -- the command ------------------------------------------------------------

def _check_backend(b: str | None) -> str | None:
    if b is not None and b not in BACKENDS:
        raise UsageError(f"bad --backend {b!r}: allowed are {', '.join(BACKENDS)}")
    return b


def _nonempty(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _load_requested_config(args):
    from .config import load_builtin, load_config

    if args.config and args.quick:
        raise UsageError(f"sweep: give a CONFIG ({args.config!r}) or --quick, not both")
    if args.config:
        return load_config(args.config)
    return load_builtin("quick" if args.quick else "default")


HOST_LABEL_MAX = 100       # characters of a --host label, at most


def check_host_label(label, what: str = "--host") -> str:
    """A host label (the results' host column): printable text (UTF-8, no
    control characters, no bytes that are not UTF-8), 1 to HOST_LABEL_MAX
    characters, not only spaces."""
    allowed = (f"printable UTF-8 text of 1 to {HOST_LABEL_MAX} characters (no control "
               "characters), e.g. a hostname")
    if not isinstance(label, str):
        raise UsageError(f"{what} {label!r}: {allowed} is allowed")
    shown = repr(label) if len(label) <= 60 else repr(label[:57]) + "..."
    if not label.strip() or len(label) > HOST_LABEL_MAX or not label.isprintable():
        raise UsageError(f"{what} {shown} ({len(label)} characters): {allowed} is allowed")
    return label        # printable: no lone surrogate, so it encodes as UTF-8


def _resume_state(args, out: Path):
    """(config, stored meta) when continuing the run in out, else (config, None)."""
    from .results import RunDir

    requested = _load_requested_config(args)      # validated even when resuming
    if not _nonempty(out):
        if args.resume:
            what = "an empty directory" if out.is_dir() else "does not exist"
            raise UsageError(f"--resume --out {str(out)!r}: {what}, there is no run in it to "
                             "resume: a run directory a sweep wrote (its meta.json and parts/) "
                             "is allowed; to start a new run, leave out --resume")
        return requested, None
    if not args.resume:
        raise UsageError(f"output directory {str(out)!r} is not empty: give --resume to "
                         "continue the run in it, or another --out")
    meta = RunDir(out).read_meta()
    stored = meta.get("config")
    if not isinstance(stored, dict) or "text" not in stored or "sweep" not in meta:
        raise UsageError(f"{str(out)!r} holds no sweep run (its meta.json has no sweep "
                         "config): --resume continues only a sweep")
    cfg = _stored_config(meta, out)     # parsed first: it registers the variant files
    check_stored_meta(meta, out, cfg)
    if (args.config or args.quick) and requested.text != stored["text"]:
        raise UsageError(f"config {requested.source!r} differs from the one the run in "
                         f"{str(out)!r} was started with ({stored.get('source')}): "
                         "resume without a CONFIG, or use another --out")
    return cfg, meta


def _corrupt(out: Path, key: str, value, allowed: str) -> UsageError:
    """meta.json KEY: bad value ...: one line naming the stored run's file and key."""
    from .config import _show

    return UsageError(f"{str(out / 'meta.json')!r} {key}: bad value {_show(value)}: allowed "
                      f"{allowed}; --resume needs the meta.json the sweep wrote (or start a "
                      "new run with another --out)")


def _stored_config(meta: dict, out: Path):
    """The config a stored sweep was started with (meta.json config.text),
    parsed as a config file is; its faults are named as meta.json's."""
    from .config import parse_config

    stored = meta["config"]
    source, text = stored.get("source", "meta.json"), stored.get("text")
    if not isinstance(source, str) or not source or "\0" in source or len(source) > 4096:
        raise _corrupt(out, "config.source", source, "the path (or builtin:NAME) of the "
                       "config the sweep was started with")
    if not isinstance(text, str):
        raise _corrupt(out, "config.text", text, "the sweep's TOML text")
    try:
        return parse_config(text, source)
    except UsageError as e:
        raise UsageError(f"{str(out / 'meta.json')!r} config.text (the config {source!r} the "
                         f"run was started with) is refused: {e}; --resume needs the "
                         "meta.json the sweep wrote (or start a new run with another "
                         "--out)") from None


def check_stored_meta(meta: dict, out: Path, cfg) -> None:
    """The parts of a stored sweep's meta.json that --resume relies on, checked
    before anything runs: a damaged meta.json is one line naming meta.json and
    the key, not a traceback.  Every stored case gets the checks and caps a
    config's case gets (bench.config.check_case, under the stored config's
    options and the run's backend)."""
    from .config import _is_int as is_int, check_case
    from .results import CASE_KEYS, case_key
    from .variants import VARIANTS
    from .workloads import WORKLOADS

    if not isinstance(meta.get("run_id"), str) or not meta["run_id"]:
        raise _corrupt(out, "run_id", meta.get("run_id"), "a non-empty string")
    b = meta.get("backend")
    if not isinstance(b, dict) or b.get("requested") not in BACKENDS \
            or b.get("chosen") not in BACKENDS[1:]:
        raise _corrupt(out, "backend", b, "an object with requested (auto, perf, sim, "
                       "time) and chosen (perf, sim, time)")
    sw = meta["sweep"]
    if not isinstance(sw, dict):
        raise _corrupt(out, "sweep", sw, "an object")
    try:
        check_host_label(sw.get("host"), "sweep.host")
    except UsageError:
        raise _corrupt(out, "sweep.host", sw.get("host"), "a host label: printable text "
                       f"of 1 to {HOST_LABEL_MAX} characters") from None
    if not isinstance(sw.get("sessions", []), list):
        raise _corrupt(out, "sweep.sessions", sw.get("sessions"), "a list")
    cases = sw.get("cases")
    if not isinstance(cases, list) or not cases:
        raise _corrupt(out, "sweep.cases", cases, "a non-empty list of cases")
    plan = meta.get("plan") if isinstance(meta.get("plan"), dict) else {}
    cpu = plan.get("cpu")
    if cpu is not None:
        from .host import online_cpus

        allowed = online_cpus()
        if cpu not in allowed:
            raise UsageError(f"{str(out / 'meta.json')!r} plan.cpu: the run is pinned to CPU "
                             f"{cpu}, which this host does not have online (allowed: "
                             f"{', '.join(map(str, allowed))}): a run keeps one pinned CPU; "
                             "resume it where it was started, or start a new run with "
                             "another --out")
    seen: dict[str, int] = {}
    for i, c in enumerate(cases):
        where = f"sweep.cases[{i}]"
        if not isinstance(c, dict):
            raise _corrupt(out, where, c, "an object with " + ", ".join(CASE_KEYS))
        if c.get("workload") not in WORKLOADS:        # as check_case: the first key named
            raise _corrupt(out, f"{where}.workload", c.get("workload"), ", ".join(WORKLOADS))
        v = c.get("variant")
        if not isinstance(v, str) or v not in VARIANTS:
            raise _corrupt(out, f"{where}.variant", v, ", ".join(VARIANTS) + " (a variant "
                           "file: the same path as when the sweep was started)")
        check_case(c, cfg.options, b["chosen"],
                   lambda k, value, allowed: _corrupt(out, f"{where}.{k}", value, allowed))
        for k in c:
            if k not in CASE_KEYS + ["cpu"]:
                raise _corrupt(out, f"{where}.{k}", c[k], "only the keys "
                               + ", ".join(CASE_KEYS + ["cpu"]) + " (unknown key)")
        if "cpu" in c and not (is_int(c["cpu"]) and c["cpu"] >= 0):
            raise _corrupt(out, f"{where}.cpu", c["cpu"], "a CPU number")
        key = case_key(c)
        if key in seen:
            raise _corrupt(out, where, c, f"each case once (sweep.cases[{seen[key]}] is the "
                           "same case)")
        seen[key] = i


def check_parts(rundir, cases: list[dict], run_id: str) -> None:
    """Before anything is measured or written: the run's parts/ and pending/
    have the shape a sweep writes (directories of files, parts/ writable), and
    every part a resumed run keeps is one the loader would accept
    (bench.results.check_results: its schema and values), of this run and of
    its case, with a pyperf part pyperf reads.  A damaged one is named, with
    how to measure that case again."""
    import pandas as pd
    import pyarrow

    from .results import (CASE_KEYS, _probe_dir, _results_bad, case_key, check_results,
                          load_pyperf_part)

    anew = "delete it and --resume again to measure that case anew"
    parts = rundir.parts
    if os.path.lexists(parts) and (parts.is_symlink() or not parts.is_dir()):
        raise UsageError(f"{str(parts)!r} is not a directory: the run's parts directory (as "
                         "a sweep writes it) is allowed; remove it and --resume again "
                         "to measure every case anew")
    if parts.is_dir():
        for p in sorted(parts.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                raise UsageError(f"{str(p)!r} in the run's parts is a directory: only the "
                                 "part files a sweep writes are allowed; remove it and "
                                 "--resume again")
            if not p.is_file():
                raise UsageError(f"{str(p)!r} in the run's parts is a device, FIFO or socket: "
                                 "only the part files a sweep writes are allowed; remove it "
                                 "and --resume again")
        why = _probe_dir(parts)
        if why is not None:
            raise UsageError(f"{str(parts)!r} cannot be written ({why}): a writable "
                             "parts directory is needed to resume the run")
    pending = rundir.path / PENDING
    if os.path.lexists(pending) and (pending.is_symlink() or not pending.is_dir()):
        raise UsageError(f"{str(pending)!r} is not a directory: the worker processes a sweep "
                         "keeps (a directory of directories) are allowed; remove it and "
                         "--resume again")
    if pending.is_dir():
        for p in sorted(pending.iterdir()):
            if not p.name.startswith(".") and (p.is_symlink() or not p.is_dir()):
                raise UsageError(f"{str(p)!r} in the run's pending is not a directory: only "
                                 "the directories of kept worker processes a sweep writes "
                                 "are allowed; remove it and --resume again")
    by_key = {case_key(c): c for c in cases}
    for k in sorted(rundir.finished_keys() & set(by_key)):
        p = parts / f"{k}.parquet"
        where = repr(str(p))
        try:
            df = pd.read_parquet(p)
        except (OSError, ValueError, TypeError, KeyError, IndexError,
                pyarrow.ArrowException) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"part {where} is corrupt ({first[:100]}): a parquet file is "
                             f"allowed; {anew}") from None
        try:
            df = check_results(df, where)
        except UsageError as e:
            raise UsageError(f"part {e}; {anew}") from None
        case = by_key[k]
        for col in ["run_id"] + CASE_KEYS:
            want = run_id if col == "run_id" else case[col]
            wrong = df[col] != want
            if wrong.any():
                i = int(wrong.to_numpy().nonzero()[0][0])
                e = _results_bad(where, col, df[col].iloc[i], i,
                                 f"{want!r} (the run's and the case's)")
                raise UsageError(f"part {e}; {anew}")
        q = parts / f"{k}.pyperf.json"
        if os.path.lexists(q):
            try:
                load_pyperf_part(q)
            except UsageError as e:
                raise UsageError(f"part {e}; delete it and {p.name} and --resume again to "
                                 "measure that case anew") from None


def cmd_sweep(args) -> int:
    from .config import describe_caps, expand

    from .results import check_output_dir

    backend_arg = _check_backend(args.backend)
    if args.host is not None:
        check_host_label(args.host)
    out = check_output_dir(args.out, empty=False) if args.out is not None else None
    if out is None and args.resume:
        raise UsageError("--resume needs --out DIR: the run directory to continue")
    if out is not None and not args.list:
        cfg, stored = _resume_state(args, out)
    else:
        cfg, stored = _load_requested_config(args), None

    opts = cfg.options
    if stored is not None:
        from .results import RunDir

        check_parts(RunDir(out), stored["sweep"]["cases"], stored["run_id"])
        s_backend = stored["backend"]["requested"]
        if backend_arg is not None and backend_arg != s_backend:
            raise UsageError(f"--backend {backend_arg} differs from the run's ({s_backend}): "
                             "a run keeps one backend")
        backend = s_backend
        plan_meta = stored.get("plan")
        cpu = plan_meta.get("cpu") if isinstance(plan_meta, dict) else None
        pages = _stored_pages(stored, out)      # a resumed run keeps its own
        if args.pages is not None and args.pages != pages:
            raise UsageError(f"--pages {args.pages} differs from the run's ({pages}): "
                             "a run keeps one page size")
        if args.cpu is not None and str(args.cpu) != str(cpu):
            raise UsageError(f"--cpu {args.cpu} differs from the run's ({cpu}): "
                             "a run keeps one pinned CPU")
        if args.host and args.host != stored["sweep"]["host"]:
            raise UsageError(f"--host {args.host!r} differs from the run's host label "
                             f"({stored['sweep']['host']!r})")
    else:
        backend = backend_arg or opts.backend
        cpu = args.cpu if args.cpu is not None else opts.cpu
        pages = args.pages if args.pages is not None else opts.pages

    from .runner import make_plan

    plan = make_plan(backend, events=opts.events, cpu=cpu, pyperf_args=opts.pyperf_args(),
                     sim_profile=opts.sim_profile, cflags=opts.cflags,
                     precision=opts.precision, budget=opts.budget,
                     sim_beside=opts.sim_beside, pages=pages)
    if stored is not None and plan.backend != stored["backend"]["chosen"]:
        raise UsageError(f"backend {backend} now picks {plan.backend}, but the run in "
                         f"{str(out)!r} was measured with {stored['backend']['chosen']}: "
                         "a run keeps one backend; start a new run with another --out")
    planned = expand(cfg, plan.caches, plan.cpu, plan.backend)    # validated before any line
    note = f" ({plan.reason})" if plan.requested == "auto" else ""
    _say(f"backend: {plan.backend}{note}; pinned to CPU {plan.cpu}")
    if plan.sim_profile:
        _say(f"sim cache profile: {plan.sim_profile} ({plan.sim_profile_reason})")
    if args.list:
        return _print_list(cfg, plan, planned)
    if stored is not None:
        cases = stored["sweep"]["cases"]
    else:
        cases = [p.case for p in planned]
    from .runner import prepare_kernels

    prepare_kernels(plan, cases)
    return _run(args, out, cfg, plan, cases, stored, describe_caps(planned), planned)


def _print_list(cfg, plan, planned) -> int:
    from .config import describe_caps, fmt_size

    print(f"# {cfg.source}: {len(planned)} cases; footprint targets sized against "
          + ", ".join(f"{k} {fmt_size(v)}" for k, v in plan.caches.items()
                      if k in ("L1d", "L2", "LLC")))
    for line in describe_caps(planned):
        print(f"# {line}")
    for i, p in enumerate(planned, 1):
        tgt = f"{p.target}={fmt_size(p.target_bytes)}" if p.target else "count"
        cap = "  CAPPED" if p.capped else ""
        print(f"{i:4d}  {p.grid:14s} {p.label():58s} ~{fmt_size(p.footprint):>10s} "
              f"[{tgt}]{cap}")
    return 0


def _run(args, out, cfg, plan, cases, stored, caps, planned) -> int:
    from .meta import build_meta, now
    from .results import RunDir, case_key
    from .runner import new_run_id

    if stored is not None:
        run_id = stored["run_id"]
        meta = {k: v for k, v in stored.items() if k not in ("interrupted", "error")}
        meta["events"] = plan.event_support
        host = meta["sweep"]["host"]
    else:
        run_id = new_run_id()
        meta = build_meta(plan, run_id, config=cfg.meta())
        host = args.host or meta["host"].get("name") or "unknown"
        by_grid: dict[str, int] = {}
        for p in planned:
            by_grid[p.grid] = by_grid.get(p.grid, 0) + 1
        meta["sweep"] = {"host": host, "total": len(cases), "grids": by_grid, "caps": caps,
                         "caches": plan.caches, "cases": cases, "sessions": []}
        if out is None:
            out = ROOT / "results" / run_id if (ROOT / "pyproject.toml").exists() \
                else Path.cwd() / "results" / run_id
    if args.host and args.host != host:
        raise UsageError(f"--host {args.host!r} differs from the run's host label ({host!r})")

    rundir = RunDir(out)
    keys = [case_key(c) for c in cases]
    done = rundir.finished_keys() if stored is not None else set()
    todo = [(k, c) for k, c in zip(keys, cases) if k not in done]
    skipped = len(cases) - len(todo)

    if stored is not None and not todo and rundir.is_complete():
        _say(f"nothing to measure: all {len(cases)} cases of {out} are finished and the run "
             "is complete")
        print_result(str(out), f"the run directory {str(out)!r}")
        return 0

    for line in caps:
        _say(f"note: {line}")
    _say(f"sweep {cfg.source}: {len(cases)} cases, {skipped} already measured, "
         f"{len(todo)} to measure -> {out}")

    session = {"started": now(), "skipped": skipped, "measured": 0, "status": "running"}
    meta["sweep"]["sessions"].append(session)
    rundir.begin(meta)             # status "incomplete"; stale results.parquet removed

    guard = SignalGuard()
    progress = _Bar if sys.stderr.isatty() else _Lines
    weights = {k: case_weight(c) for k, c in todo}
    pending = out / PENDING
    if stored is None:
        shutil.rmtree(pending, ignore_errors=True)   # a fresh run resumes nothing
    try:
        with guard, progress(len(cases), skipped, sum(weights.values())) as bar, \
                tempfile.TemporaryDirectory(prefix="rmapbench-") as tmp:
            from .runner import GroupTimer, group_cases, measure_group

            by_case = {id(c): k for k, c in todo}
            groups = group_cases([c for _, c in todo])
            gkeys = [[by_case[id(c)] for c in g] for g in groups]
            stores = [pending / hashlib.sha256("\n".join(k).encode()).hexdigest()[:16]
                      for k in gkeys]
            timers = [GroupTimer(g, plan, store=st) if plan.timed else None
                      for g, st in zip(groups, stores)]
            gweight = [sum(weights[k] for k in ks) for ks in gkeys]
            used = [0.0] * len(groups)
            steps = plan.timing.min_processes + 1   # processes a group is planned for
            # Passes: one worker process of every unfinished group per pass, in a
            # fresh random order, so that each group's processes are spread over
            # the whole sweep (docs/measurement.md); a group whose timing is done
            # is simulated (sim backend) and written at once.
            rng = random.Random(run_id)
            active = list(range(len(groups)))
            npass = 0
            while active:
                npass += 1
                order = list(active)
                rng.shuffle(order)
                for gi in order:
                    group, timer = groups[gi], timers[gi]
                    label = _group_label(group)
                    t0 = time.monotonic()
                    if timer is not None and not timer.done:
                        w = min(gweight[gi] / steps, gweight[gi] - used[gi])
                        bar.current(f"pass {npass}: {label}", w)
                        timer.step(Path(tmp))
                        used[gi] += w
                        bar.advance(time.monotonic() - t0, 0)
                        if not timer.done:
                            continue
                        t0 = time.monotonic()
                    bar.current(label, gweight[gi] - used[gi])
                    measured = measure_group(group, plan, run_id=run_id, host=host,
                                             timed=timer.result() if timer else None)
                    with guard.protect():
                        for case, (_, rows, pyperf_text) in zip(group, measured):
                            rundir.write_case(by_case[id(case)], rows, pyperf_text)
                            session["measured"] += 1
                        shutil.rmtree(stores[gi], ignore_errors=True)
                    bar.advance(time.monotonic() - t0, len(group))
                    active.remove(gi)
            shutil.rmtree(pending, ignore_errors=True)
            guard.critical = True          # a late signal no longer interrupts
            session.update(status="finished", ended=now())
            rundir.finalize({**meta, "events": plan.event_support, "finished": now()},
                            keys=keys)
    except Interrupted as e:
        session.update(status=f"interrupted by {e.name}", ended=now())
        rundir.write_meta({**meta, "status": "incomplete", "interrupted": e.name})
        n_done = len(rundir.finished_keys() & set(keys))
        _say(f"rmapbench: sweep interrupted by {e.name}: {n_done} of {len(cases)} cases "
             f"finished and kept in {out}; continue with: rmapbench sweep --resume --out {out}")
        return 128 + e.signum
    except Exception as e:
        # the run stays incomplete, with the reason; what was finished is kept
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        session.update(status=f"failed: {text}", ended=now())
        rundir.write_meta({**meta, "status": "incomplete", "error": text})
        if isinstance(e, UsageError):
            n_done = len(rundir.finished_keys() & set(keys))
            raise UsageError(f"{text}; the sweep stopped: {n_done} of {len(cases)} cases "
                             f"finished and kept in {out} (incomplete); once the cause is "
                             f"fixed, continue with: rmapbench sweep --resume --out {out} "
                             "(or remove that directory)") from None
        raise
    _say(f"sweep complete: {session['measured']} cases measured, {skipped} kept from before; "
         f"{out / 'results.parquet'}")
    print_result(str(out), f"the run directory {str(out)!r}")
    return 0


def _stored_pages(stored: dict, out) -> str:
    """The page size a stored run was timed with (4K for runs from before
    options.pages)."""
    from .native import KMEM_PAGES

    st = stored.get("plan") if isinstance(stored.get("plan"), dict) else {}
    st = st.get("timing") if isinstance(st.get("timing"), dict) else {}
    kept = st.get("pages", "4K")
    if kept not in KMEM_PAGES:
        raise UsageError(f"the run in {str(out)!r} records pages {kept!r}: allowed are "
                         f"{', '.join(KMEM_PAGES)}; start a new run with another --out")
    return kept


def _group_label(group: list[dict]) -> str:
    c = group[0]
    return (f"{c['workload']} n={c['n']} heads={c['heads']} {c['order']} {c['alloc']}: "
            f"{len(group)} variant(s) interleaved")


def _label(case: dict) -> str:
    return (f"{case['workload']} {case['variant']}@{case['ext']} n={case['n']} "
            f"heads={case['heads']} {case['order']} {case['alloc']}")


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="measure a grid of cases into a run directory",
        description="Measure every case of a sweep config (default: the built-in default "
                    "sweep; see docs/sweep.md) into one run directory.")
    p.add_argument("config", nargs="?", help="TOML sweep config (default: built-in default)")
    p.add_argument("--backend", help="auto, perf, sim or time (default: the config's, auto)")
    p.add_argument("--out", help="run directory (default: results/<run-id>/)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: measure only the cases it lacks")
    p.add_argument("--quick", action="store_true", help="the built-in quick sweep")
    p.add_argument("--cpu", help="CPU to pin workers to (default: the config's, else "
                                 "isolated, else the highest)")
    p.add_argument("--pages", help="page size of a timed case's descriptor arena and shadow "
                                   "pages: 2M or 4K (default: the config's, else 2M)")
    p.add_argument("--host", help="host label for the results' host column "
                                  "(default: this machine's hostname)")
    p.add_argument("--list", action="store_true",
                   help="print the expanded cases and exit without measuring")
    p.set_defaults(func=cmd_sweep)
