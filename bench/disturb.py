"""The disturbance rule of the interleaved design (docs/measurement.md): when a
value's measured regions were disturbed, from the evidence the harness
records with them.  Kept apart from bench.measure (numpy, the bootstrap) so
that a worker process, which needs only this, starts without numpy: 58 ms of
each worker's start-up here, some 160 workers a default sweep.
"""

from __future__ import annotations

# A value is disturbed when, summed over its measured regions:
#  - the thread was switched out involuntarily (preempted) or voluntarily (blocked),
#  - a region ended on another CPU than it began on (migrated),
#  - a page fault happened (the harness pre-faults everything a region touches),
#  - or the wall time exceeds the thread's CPU time (whose window encloses the
#    wall window) by more than OFF_CPU_FRAC of the wall time plus
#    OFF_CPU_SLACK_NS per repetition (off-cpu).
OFF_CPU_FRAC = 0.01
OFF_CPU_SLACK_NS = 2000
MAX_RETRIES = 3
RULE = {"off_cpu_frac": OFF_CPU_FRAC, "off_cpu_slack_ns": OFF_CPU_SLACK_NS,
        "max_retries": MAX_RETRIES}
REASONS = ["preempted", "blocked", "migrated", "page-faults", "off-cpu"]


def disturbed(ev: dict, loops: int, rule: dict = RULE) -> str | None:
    """The first reason (REASONS order) the evidence of one value shows, or None."""
    if ev["nivcsw"] > 0:
        return "preempted"
    if ev["nvcsw"] > 0:
        return "blocked"
    if ev["migrations"] > 0:
        return "migrated"
    if ev["faults"] > 0:
        return "page-faults"
    if ev["wall_ns"] - ev["cpu_ns"] > rule["off_cpu_frac"] * ev["wall_ns"] + \
            rule["off_cpu_slack_ns"] * loops:
        return "off-cpu"
    return None
