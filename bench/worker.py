"""The pyperf script that times one case: `python -m bench.worker --case JSON ...`.

pyperf runs this file as its master and again as each worker process
(calibration, warmups, values; `--affinity` pins the workers).  In a worker,
every timing value is one call into C: `Workload.run(phase, loops, counters)`
runs all `loops` repetitions of the phase with the clock and the perf_event
group enabled only around the measured region.  The counters of that same
call are appended to the `--counters-out` JSON-lines file, one line per call,
so the runner can pair each pyperf value with its counts.

Each worker checks with sched_getaffinity that it is pinned to exactly the
CPU it was given, and refuses to measure otherwise.
"""

from __future__ import annotations

import json
import os
import sys

import pyperf


def _add_cmdline_args(cmd: list[str], args) -> None:
    cmd.extend(["--case", args.case, "--counters-out", args.counters_out])
    if args.events:
        cmd.extend(["--events", args.events])
    if args.cflags is not None:
        cmd.append(f"--cflags={args.cflags}")   # flags start with '-': one token


def bench_name(case: dict, phase: str) -> str:
    return (f"{case['workload']}/{phase}/{case['variant']}/ext{case['ext']}/n{case['n']}"
            f"/h{case['heads']}/{case['order']}/{case['alloc']}/s{case['seed']}")


def check_pinned(cpu: int) -> None:
    """pyperf pins a worker (--affinity) just before its task runs: verify it,
    outside the measured region, before every value."""
    got = os.sched_getaffinity(0)
    if got != {cpu}:
        sys.stderr.write(f"rmapbench worker: not pinned to CPU {cpu} (affinity {sorted(got)})\n")
        sys.stderr.flush()
        os._exit(3)


class _Timer:
    """The pyperf time function for one phase, recording counters per call."""

    def __init__(self, workload, phase, counters, out, label, cpu):
        self.workload, self.phase, self.counters = workload, phase, counters
        self.cpu = cpu
        self.out, self.label = out, label
        self.calls = 0

    def __call__(self, loops: int) -> float:
        check_pinned(self.cpu)
        r = self.workload.run(self.phase, loops, self.counters)
        rec = {"pid": os.getpid(), "label": self.label, "phase": self.phase,
               "call": self.calls, "loops": loops, "ns": r.ns, "ops": r.ops,
               "footprint": r.footprint, "peak_descs": r.peak_descs,
               "counts": {k: list(v) for k, v in r.counts.items()}}
        self.calls += 1
        with open(self.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return r.ns / 1e9


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_cmdline_args)
    ap = runner.argparser
    ap.add_argument("--case", required=True, help="the case, as JSON")
    ap.add_argument("--counters-out", required=True, help="JSON-lines file for counts")
    ap.add_argument("--events", default="", help="comma-separated perf event names")
    ap.add_argument("--cflags", default=None)
    args = runner.parse_args()
    case = json.loads(args.case)

    if not args.worker:
        # master: pyperf spawns the workers from here on
        from bench.native import Workload  # noqa: F401  (fail fast on a bad build)
        phases = _phases(case)
        for phase in phases:
            runner.bench_time_func(bench_name(case, phase), lambda loops: 0.0,
                                   metadata={"rmapbench_phase": phase})
        return

    cpu = case["cpu"]
    from bench.events import resolve_list
    from bench.native import CounterGroup, Workload, load

    kernel = load(case["variant"], case["ext"], args.cflags)
    workload = Workload(kernel, workload=case["workload"], n=case["n"], heads=case["heads"],
                        order=case["order"], alloc=case["alloc"], seed=case["seed"])
    events = resolve_list(args.events) if args.events else []
    counters = CounterGroup(events) if events else None
    label = "calibration" if (args.calibrate_loops or args.recalibrate_loops) else "worker"
    try:
        for phase in workload.phases:
            timer = _Timer(workload, phase, counters, args.counters_out, label, cpu)
            runner.bench_time_func(bench_name(case, phase), timer,
                                   metadata={"rmapbench_phase": phase,
                                             "rmapbench_cpu": cpu})
    finally:
        if counters is not None:
            counters.close()
        workload.close()


def _phases(case: dict) -> list[str]:
    from bench.workloads import PHASES

    return PHASES[case["workload"]]


if __name__ == "__main__":
    main()
