"""Measure one case with the chosen backend and turn it into tidy rows.

A Plan fixes how a whole run measures: the backend (`perf`, `sim`, `time`;
`auto` resolved once, with the reason), the pinned CPU, the perf events, the
pyperf options and, for `sim`, the cache geometry.  measure_case() then runs
one case:

- timing (backends `perf` and `time`, and `sim` too unless timing is off):
  a pyperf master (`python -m bench.worker`) in a subprocess, whose pinned
  workers call C once per value; the perf_event_open group of that same call
  gives the counter rows (hardware events with `perf`; the software events
  always);
- `sim`: the same kernels under valgrind's cache simulator (bench.sim), one
  deterministic row per metric.

Every value is divided by the ops of its phase.  An event that did not open,
or opened but never ran (time_running 0), gives no row: the plan's
event_support says why, and reports print "unsupported", never 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import host as hostmod
from .errors import UsageError

BACKENDS = ["auto", "perf", "sim", "time"]
TIME_UNIT_EVENTS = {"task-clock", "cpu-clock"}


class MeasureError(UsageError):
    """A measurement that could not be made: one line, exit status 2."""


@dataclass
class Plan:
    requested: str
    backend: str                      # perf | sim | time: what counts events
    reason: str
    timing: bool                      # pyperf timings as well
    cpu: int
    events: list[str]                 # opened in every worker (hardware + software)
    event_support: dict               # name -> {"supported": bool, "reason": str|None}
    pyperf_args: list[str] = field(default_factory=list)
    cflags: str | None = None
    sim_profile: str | None = None
    sim_profile_reason: str | None = None
    sim_geometry: dict | None = None
    caches: dict = field(default_factory=dict)   # what footprint targets are sized against

    @property
    def timing_backend(self) -> str:
        return "perf" if self.backend == "perf" else "time"


def _check_cpu(cpu) -> int:
    allowed = hostmod.online_cpus()
    try:
        cpu = int(cpu)
    except (TypeError, ValueError):
        raise UsageError(f"bad --cpu {cpu!r}: one of the CPUs this process may run on, "
                         f"{allowed}") from None
    if cpu not in allowed:
        raise UsageError(f"--cpu {cpu} is not available: allowed are {allowed}")
    return cpu


def probe_events(names: list[str]) -> dict:
    """Open each event alone in this process: {name: {supported, reason}}."""
    from .events import resolve_list
    from .native import CounterGroup

    support = {}
    for spec in resolve_list(names):
        g = CounterGroup([spec])
        try:
            if g.opened:
                support[spec[0]] = {"supported": True, "reason": None}
            else:
                support[spec[0]] = {"supported": False, "reason": g.failed.get(spec[0])}
        finally:
            g.close()
    return support


def make_plan(backend: str = "auto", events=None, cpu=None, pyperf_args=(),
              sim_profile: str | None = None, cflags: str | None = None,
              timing: bool = True) -> Plan:
    from .events import DEFAULT_EVENTS, SOFTWARE_EVENTS, resolve_list

    from .build import resolve_cflags

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: allowed are {', '.join(BACKENDS)}")
    if cflags is not None:
        resolve_cflags(cflags)      # unparsable flags: one line, before anything runs
    cpu = hostmod.default_cpu() if cpu is None else _check_cpu(cpu)
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",")]
    hw_names = list(DEFAULT_EVENTS) if events is None else list(events)
    resolve_list(hw_names)          # bad names: one line, before anything runs
    hw_names = [e for e in hw_names if e not in SOFTWARE_EVENTS]
    sw_names = list(SOFTWARE_EVENTS)
    support = probe_events(hw_names + sw_names)
    hw_ok = [e for e in hw_names if support[e]["supported"]]
    hw_bad = [e for e in hw_names if not support[e]["supported"]]

    chosen, reason = backend, ""
    if backend == "auto":
        if hw_ok:
            chosen = "perf"
            reason = f"hardware events open on this host ({', '.join(hw_ok)})"
        else:
            why = support[hw_bad[0]]["reason"] if hw_bad else "none asked"
            if _sim_usable():
                chosen = "sim"
                reason = (f"no hardware counters ({hw_bad[0] if hw_bad else 'events'}: {why}); "
                          "cache misses come from valgrind's cache simulator, "
                          "timings from pyperf")
            else:
                chosen = "time"
                reason = (f"no hardware counters ({why}) and no valgrind: timings only; "
                          "install valgrind for simulated cache misses")
    elif backend == "perf" and not hw_names:
        raise UsageError(f"--backend perf: the events asked for ({', '.join(events)}) are all "
                         "software events: at least one hardware event is needed (e.g. cycles)")
    elif backend == "perf" and not hw_ok:
        first = hw_bad[0] if hw_bad else "cycles"
        raise UsageError(f"--backend perf: no hardware event opens on this host "
                         f"({first}: {support.get(first, {}).get('reason')}); "
                         "use --backend sim or time")
    elif backend == "perf":
        reason = "asked for"
    elif backend == "sim":
        _sim_usable(required=True)
        reason = "asked for: cache misses from valgrind's cache simulator"
    else:
        reason = "asked for: timings only"

    worker_events = (hw_ok if chosen == "perf" else []) + \
        [e for e in sw_names if support[e]["supported"]]
    caches = dict(hostmod.cache_sizes(cpu))
    geometry = None
    profile_reason = None
    if chosen == "sim":
        from . import sim

        sim_profile, profile_reason = choose_sim_profile(sim_profile, caches)
        geo = sim.geometry(sim_profile)
        geometry = sim.geometry_meta(geo)
        caches["L1d"] = geo["D1"].size
        caches["LLC"] = geo["LL"].size
    return Plan(requested=backend, backend=chosen, reason=reason,
                timing=timing or chosen != "sim", cpu=cpu, events=worker_events,
                event_support=support, pyperf_args=list(pyperf_args), cflags=cflags,
                sim_profile=sim_profile if chosen == "sim" else None,
                sim_profile_reason=profile_reason, sim_geometry=geometry, caches=caches)


def prepare_kernels(plan: Plan, cases: list[dict]) -> None:
    """Compile (or find in the cache) every kernel the cases need, before anything
    is measured or written, so a missing compiler or flags it rejects are one
    line up front rather than a failure in the middle of a run."""
    from .build import build_library

    for variant, ext in dict.fromkeys((c["variant"], c["ext"]) for c in cases):
        build_library(variant, ext, plan.cflags)
        if plan.backend == "sim":
            from . import sim

            sim.build_driver(variant, ext, plan.cflags)


# Under valgrind a case runs tens of times slower, so "beyond the LLC" must
# stay affordable: the `auto` sim profile simulates the host's own LLC only
# when it is at most this large, and otherwise the host's L2 as valgrind's
# last level (its D1 is the host's L1d either way).
SIM_AUTO_MAX_LLC = 32 << 20


def choose_sim_profile(profile: str | None, caches: dict) -> tuple[str, str]:
    """(profile, why) for the sim backend; `auto` (or None) decides from the host."""
    if profile not in (None, "auto"):
        return profile, "asked for"
    llc = caches.get("LLC")
    if llc is None or llc <= SIM_AUTO_MAX_LLC:
        return "host", "the host's own L1d and last-level cache"
    mib = llc / (1 << 20)
    return "host-l2", (f"the host's LLC ({mib:g} MiB) is too large to exceed affordably under "
                       f"valgrind (auto simulates the LLC only up to {SIM_AUTO_MAX_LLC >> 20} MiB), "
                       "so the host's L2 stands as the simulated last level")


def _sim_usable(required: bool = False) -> bool:
    from . import sim

    try:
        sim.check_tools()
        return True
    except UsageError:
        if required:
            raise
        return False


def plan_meta(plan: Plan) -> dict:
    d = asdict(plan)
    d["timing_backend"] = plan.timing_backend if plan.timing else None
    return d


# -- one case -------------------------------------------------------------

def _row_base(case: dict, plan: Plan, run_id: str, host: str) -> dict:
    return {"run_id": run_id, "host": host, **{k: case[k] for k in (
        "workload", "variant", "ext", "n", "heads", "order", "alloc", "seed")},
        "cpu": plan.cpu}


def _run_pyperf(case: dict, plan: Plan, tmp: Path) -> tuple[str, list[dict]]:
    counters_out = tmp / "counters.jsonl"
    pyperf_out = tmp / "pyperf.json"
    argv = [sys.executable, "-m", "bench.worker", "--case", json.dumps(case),
            "--counters-out", str(counters_out), "--affinity", str(plan.cpu),
            "--output", str(pyperf_out), "--quiet", *plan.pyperf_args,
            # pyperf workers see a filtered environment: user variant files too
            "--inherit-environ", "RMAPBENCH_USER_VARIANTS,RMAPBENCH_BUILD_DIR"]
    if plan.events:
        argv += ["--events", ",".join(plan.events)]
    if plan.cflags is not None:
        # one token: flags start with '-', which argparse would take for an option
        argv.append(f"--cflags={plan.cflags}")
    proc = subprocess.run(argv, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode != 0 or not pyperf_out.exists():
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise MeasureError(f"timing {_label(case)} failed: {last}")
    calls = [json.loads(ln) for ln in counters_out.read_text().splitlines() if ln.strip()]
    return pyperf_out.read_text(), calls


def _label(case: dict) -> str:
    return (f"{case['workload']} {case['variant']}@{case['ext']} n={case['n']} "
            f"heads={case['heads']} {case['order']} {case['alloc']}")


def _timing_rows(case, plan, base, pyperf_text, calls) -> list[dict]:
    """Pair every pyperf value with the counter read of the same C call."""
    import pyperf

    from .worker import bench_name

    suite = pyperf.BenchmarkSuite.loads(pyperf_text)
    rows = []
    backend = plan.timing_backend
    for phase in _phases(case):
        bench = suite.get_benchmark(bench_name(case, phase))
        # worker processes that produced values, in the order they ran
        by_pid: dict[int, list[dict]] = {}
        for c in calls:
            if c["phase"] == phase and c["label"] == "worker":
                by_pid.setdefault(c["pid"], []).append(c)
        procs = list(by_pid.values())
        runs = [r for r in bench.get_runs() if r.values]
        if len(runs) != len(procs):
            raise MeasureError(f"timing {_label(case)} {phase}: {len(runs)} pyperf runs "
                               f"but {len(procs)} worker counter records")
        for p, (run, recs) in enumerate(zip(runs, procs)):
            recs = recs[-len(run.values):]
            for s, (value, rec) in enumerate(zip(run.values, recs)):
                expect = rec["ns"] / 1e9 / rec["loops"]
                if abs(value - expect) > 1e-9 * max(1.0, abs(expect)):
                    raise MeasureError(f"timing {_label(case)} {phase}: pyperf value "
                                       f"{value} does not match its counter record {expect}")
                ops, loops = rec["ops"], rec["loops"]
                common = {**base, "backend": backend, "phase": phase, "ops": ops,
                          "loops": loops, "process": p, "sample": s,
                          "simulated": False, "footprint": rec["footprint"]}
                rows.append({**common, "metric": "time", "value": value * 1e9 / ops,
                             "unit": "ns/op", "enabled_ratio": 1.0})
                for name, (raw, enabled, running) in rec["counts"].items():
                    if not running:
                        plan.event_support.setdefault(name, {}).update(
                            supported=False, reason="opened but never scheduled "
                            "(time_running 0)")
                        continue
                    scaled = raw * enabled / running
                    rows.append({**common, "metric": name,
                                 "value": scaled / (loops * ops),
                                 "unit": "ns/op" if name in TIME_UNIT_EVENTS else "events/op",
                                 "enabled_ratio": running / enabled})
    return rows


def _phases(case: dict) -> list[str]:
    from .workloads import PHASES

    return PHASES[case["workload"]]


def _sim_rows(case, plan, base) -> list[dict]:
    from . import sim

    items = [(case, phase) for phase in _phases(case)]
    try:
        results = sim.run(case["variant"], case["ext"], items, profile=plan.sim_profile,
                          cflags=plan.cflags)
    except RuntimeError as e:
        raise MeasureError(f"sim {_label(case)}: {e}") from None
    rows = []
    for (c, phase), res in zip(items, results):
        ops = res["ops"]
        for m in sim.SIM_METRICS:
            rows.append({**base, "backend": "sim", "phase": phase, "metric": m,
                         "value": res[m] / ops, "unit": "events/op", "ops": ops,
                         "loops": 1, "process": 0, "sample": 0, "enabled_ratio": 1.0,
                         "simulated": True, "footprint": res["footprint"]})
    return rows


def measure_case(case: dict, plan: Plan, run_id: str, host: str) -> tuple[list[dict], str | None]:
    """Rows for one case (every phase), and its pyperf JSON text if timed."""
    case = {**case, "cpu": plan.cpu}
    base = _row_base(case, plan, run_id, host)
    rows: list[dict] = []
    pyperf_text = None
    if plan.backend == "sim":
        rows += _sim_rows(case, plan, base)
    if plan.timing:
        with tempfile.TemporaryDirectory(prefix="rmapbench-") as tmp:
            pyperf_text, calls = _run_pyperf(case, plan, Path(tmp))
        rows += _timing_rows(case, plan, base, pyperf_text, calls)
    return rows, pyperf_text


def new_run_id() -> str:
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()
