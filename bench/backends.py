"""The measuring backends, one class each, in one registry.

A backend says what it is called, whether its numbers are simulated,
whether timings come with it, what it must build before a run, and how it
makes the rows of its own (the sim backend's valgrind counts; the timed
rows of every backend come from bench.runner's interleaved groups).  run,
sweep, config and the runner ask the registry instead of testing names.
`auto` is not a backend: bench.runner.make_plan resolves it to one.
"""

from __future__ import annotations


class Backend:
    name: str = ""
    simulated: bool = False          # its own rows are simulated counts
    always_timed: bool = True        # timings are taken whatever is asked
    timing_backend: str = "time"     # the backend label of its timing rows
    description: str = ""

    def prepare(self, plan, variant: str, ext: int) -> None:
        """Build what the backend needs for one variant/EXT, before anything runs."""

    def rows(self, case: dict, plan, base: dict) -> list[dict]:
        """The backend's own rows for one case (beyond the timed ones)."""
        return []

    def caps(self, options) -> tuple[int, int, str]:
        """(max sptes, max bytes, config key prefix) one case may use."""
        return options.max_sptes, options.max_footprint, ""


class PerfBackend(Backend):
    name = "perf"
    timing_backend = "perf"
    description = "hardware counters through perf_event_open, in the timed workers"


class TimeBackend(Backend):
    name = "time"
    description = "timings only (software events alongside)"


class SimBackend(Backend):
    name = "sim"
    simulated = True
    always_timed = False
    description = "valgrind's cache simulator over the same kernels, plus timings"

    def prepare(self, plan, variant: str, ext: int) -> None:
        from . import sim

        sim.build_driver(variant, ext, plan.cflags)

    def rows(self, case: dict, plan, base: dict) -> list[dict]:
        from .runner import _sim_rows

        return _sim_rows(case, plan, base)

    def caps(self, options) -> tuple[int, int, str]:
        if options.sim_max_sptes or options.sim_max_footprint:
            return (min(options.max_sptes, options.sim_max_sptes or options.max_sptes),
                    min(options.max_footprint,
                        options.sim_max_footprint or options.max_footprint), "sim_")
        return super().caps(options)


REGISTRY: dict[str, Backend] = {b.name: b for b in (PerfBackend(), SimBackend(), TimeBackend())}
NAMES = ["auto", *REGISTRY]           # what --backend and options.backend accept


def get(name: str | None) -> Backend:
    """The backend called name; None or an unknown name gives the time backend's
    defaults (a plan always holds a resolved name)."""
    return REGISTRY.get(name or "time", REGISTRY["time"])
