"""Synthetic run directories in the exact results schema, for the analysis tests.

Known answers are built in: per op, `new` costs a + b*n (O(n), its add walks
the chain), `kvm-2023` costs a constant, `old` sits in between; `new` has
proportionally more instructions and L1 misses, so the findings must cite
them.  `new-fixed` is drawn from the same distribution as `old` (no
difference), unless time_factor makes only its time (not its counters) differ.
Written through bench.results.RunDir (begin, write_case, finalize).
"""

from __future__ import annotations

import numpy as np

from bench.results import COLUMNS, EXTRA_COLUMNS, RunDir, case_key

NS = [4, 16, 64, 256, 1024]
VARIANTS = {"old": 3, "new": 3, "new-fixed": 3, "kvm-2023": 14}


def cost(variant: str, n: int, metric: str) -> float:
    """The true per-op mean of a metric (before noise)."""
    base = {"old": (40.0, 0.05), "new": (40.0, 0.5), "new-fixed": (40.0, 0.05),
            "kvm-2023": (12.0, 0.0)}[variant]
    t = base[0] + base[1] * n
    scale = {"time": 1.0, "cycles": 3.0, "instructions": 4.0, "L1-dcache-load-misses": 0.05,
             "task-clock": 1.0, "Ir": 4.0, "D1mr": 0.05, "DLmr": 0.01}[metric]
    return t * scale


def make_meta(host: str, backend: str) -> dict:
    return {
        "run_id": f"synthetic-{host}-{backend}",
        "created": "2026-01-01T00:00:00", "finished": "2026-01-01T00:10:00",
        "host": {"name": host, "cpu": "Synthetic CPU @ 3.0GHz", "family": 6, "model": 85,
                 "stepping": 4, "microcode": "0x2000065",
                 "caches": {"L1d": 32768, "L2": 1048576, "L3": 8388608},
                 "kernel": "6.1.0", "governor": "powersave", "turbo": True, "smt": False,
                 "isolated_cpus": "", "perf_event_paranoid": 1},
        "events": {"cycles": {"supported": True, "reason": None},
                   "instructions": {"supported": True, "reason": None},
                   "L1-dcache-load-misses": {"supported": True, "reason": None},
                   "LLC-load-misses": {"supported": False,
                                       "reason": "ENOENT: event not supported by this PMU"}},
        "backend": {"requested": "auto", "chosen": backend,
                    "reason": "synthetic data for the tests"},
        "sim": {"valgrind": "valgrind-3.22.0",
                "geometry": {"I1": [32768, 8, 64], "D1": [32768, 8, 64],
                             "LL": [8388608, 16, 64]}, "profile": "host"},
        "compiler": "gcc 12.2.0", "cflags": "-O2", "config": {"name": "synthetic"},
        "git_revision": "0" * 40, "pyperf": {"processes": 2, "values": 5},
    }


def rows_for(host: str, backend: str, workload: str, phase: str, variant: str, n: int,
             rng, samples=(2, 5), mux: float = 1.0, time_factor: float = 1.0,
             heads: int = 100) -> list[dict]:
    ext = VARIANTS[variant]
    common = dict(run_id=f"synthetic-{host}-{backend}", host=host, backend=backend,
                  workload=workload, phase=phase, variant=variant, ext=ext, n=n, heads=heads,
                  order="fifo", alloc="bump", seed=1, cpu=2, ops=heads * n, loops=1,
                  simulated=backend == "sim",
                  footprint=heads * 8 + heads * n * 8 + heads * (n // ext + 1) * 64)
    rows = []
    if backend == "sim":
        for metric in ("Ir", "D1mr", "DLmr"):
            rows.append({**common, "metric": metric, "value": cost(variant, n, metric),
                         "unit": "events/op", "process": 0, "sample": 0, "enabled_ratio": 1.0})
        return rows
    procs, per = samples
    for p in range(procs):
        for s in range(per):
            for metric in ("time", "cycles", "instructions", "L1-dcache-load-misses"):
                mean = cost(variant, n, metric) * (time_factor if metric == "time" else 1.0)
                rows.append({**common, "metric": metric,
                             "value": float(rng.normal(mean, 0.02 * mean)),
                             "unit": "ns/op" if metric == "time" else "events/op",
                             "process": p, "sample": s, "loops": 8,
                             "enabled_ratio": mux if metric == "L1-dcache-load-misses" else 1.0})
    return rows


def write_run(path, host: str = "hostA", backend: str = "perf", *, variants=None, ns=None,
              seed: int = 0, mux: float = 1.0, extra_meta: dict | None = None,
              time_factor: dict | None = None, caches: dict | None = None,
              target_bytes: int | None = None):
    """target_bytes: size heads per variant and n to about this footprint, as a
    sweep's footprint target ("l2") does; default 100 heads everywhere."""
    """A finalized run directory; returns its path."""
    rng = np.random.default_rng(seed)
    rd = RunDir(path)
    meta = {**make_meta(host, backend), **(extra_meta or {})}
    if caches is not None:
        meta["host"] = {**meta["host"], "caches": caches}
    rd.begin(meta)
    for workload, phases in (("fork", ("add", "remove")), ("walk", ("walk",))):
        for variant in variants or VARIANTS:
            for n in ns or NS:
                rows = []
                ext = VARIANTS[variant]
                heads = (100 if target_bytes is None else
                         max(1, target_bytes // (8 + n * 8 + (n // ext + 1) * 64)))
                for phase in phases:
                    rows += rows_for(host, backend, workload, phase, variant, n, rng, mux=mux,
                                     time_factor=(time_factor or {}).get(variant, 1.0),
                                     heads=heads)
                case = dict(workload=workload, variant=variant, ext=ext, n=n,
                            heads=heads, order="fifo", alloc="bump", seed=1)
                rd.write_case(case_key(case), rows)
    rd.finalize(meta)
    return path


assert set(COLUMNS + EXTRA_COLUMNS) <= set(rows_for("h", "perf", "fork", "add", "old", 4,
                                                      np.random.default_rng(0))[0])
