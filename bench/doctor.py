"""`rmapbench doctor`: what this host can measure, and how well.

Host facts, perf_event_paranoid, which perf events open (each tried alone in
this process), valgrind, tuning state, pyperf's own view of the system, and
the backend `auto` would pick with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % (size // 1024 or 1) == 0:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def pyperf_system_show() -> list[str]:
    """pyperf's `system show`, its findings only (it changes nothing)."""
    proc = subprocess.run([sys.executable, "-m", "pyperf", "system", "show"],
                          capture_output=True, text=True, timeout=60, check=False)
    keep = []
    for ln in proc.stdout.splitlines():
        ln = ln.strip()
        if ln and not ln.startswith(("=", "Show", "Run ", "System state", "Advices",
                                     "Warnings")):
            keep.append(ln)
    return keep


def collect(cpu=None) -> dict:
    from . import host as hostmod
    from . import sim
    from .errors import UsageError
    from .runner import choose_sim_profile, make_plan

    # auto's plan opens every default and software event alone: its
    # event_support is the table doctor shows
    plan = make_plan("auto", cpu=cpu)
    h = hostmod.probe(plan.cpu)
    try:
        vg = {"version": sim.check_tools(), "path": shutil.which("valgrind")}
    except UsageError as e:
        vg = {"error": str(e)}
    # the geometry sim would simulate: auto's choice of profile
    profile, why = choose_sim_profile(None, h["caches"])
    try:
        geometry = {**sim.geometry_meta(sim.geometry(profile)), "why": why}
    except UsageError as e:
        geometry = {"profile": profile, "error": str(e)}
    return {
        "host": h,
        "cpu": plan.cpu,
        "events": plan.event_support,
        "valgrind": vg,
        "sim_geometry": geometry,
        "tuning_warnings": hostmod.tuning_warnings(h, plan.cpu),
        "pyperf_system": pyperf_system_show(),
        "auto": {"backend": plan.backend, "reason": plan.reason},
    }


def render(d: dict) -> str:
    h = d["host"]
    out = []
    out.append(f"host        {h['name']}: {h['cpu']} (family {h['family']} model {h['model']} "
               f"stepping {h['stepping']}, microcode {h['microcode']}), {h['arch']}")
    out.append(f"kernel      {h['kernel']}{'  (virtual machine)' if h.get('virtualized') else ''}")
    caches = ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in h["caches"].items() if k != "LLC")
    out.append(f"caches      {caches} (per instance, CPU {d['cpu']}, from sysfs)")
    out.append(f"cpus        online {h['online_cpus']}, isolated {h['isolated_cpus'] or 'none'}, "
               f"workers pinned to CPU {d['cpu']}")
    out.append(f"tuning      governor {h['governor'] or 'not visible'}, turbo {h['turbo'] or 'not visible'}, "
               f"SMT {'on' if h['smt'] else 'off' if h['smt'] is not None else 'not visible'}")
    out.append(f"perf        kernel.perf_event_paranoid = {h['perf_event_paranoid']}")
    for name, s in d["events"].items():
        state = "ok" if s["supported"] else f"unsupported: {s['reason']}"
        out.append(f"  {name:24s} {state}")
    vg = d["valgrind"]
    if "error" in vg:
        out.append(f"valgrind    unusable: {vg['error']}")
    else:
        out.append(f"valgrind    {vg.get('version')} at {vg.get('path')}")
    g = d["sim_geometry"]
    if "error" in g:
        out.append(f"sim cache   {g['error']}")
    else:
        geo = ", ".join(f"{k} {_fmt_bytes(g[k][0])} {g[k][1]}-way {g[k][2]} B"
                        + (f" (host {g[k + '_host_assoc']}-way: valgrind needs a power-of-two "
                           "set count)" if k + "_host_assoc" in g else "")
                        for k in ("I1", "D1", "LL"))
        out.append(f"sim cache   profile {g['profile']}: {geo}")
        out.append(f"            ({g['why']})")
    for w in d["tuning_warnings"]:
        out.append(f"warning     {w}")
    out.append("pyperf system show:")
    out += [f"  {ln}" for ln in d["pyperf_system"]]
    out.append(f"auto        -> {d['auto']['backend']}: {d['auto']['reason']}")
    return "\n".join(out)


def cmd_sensitivity(args) -> int:
    from . import sensitivity
    from .run import _int
    from .runner import make_plan
    from .variants import check_variant, role

    variant = check_variant(args.variant if args.variant is not None else role("baseline"))
    chains = sensitivity.parse_chains(args.chains)
    repeats = _int("--repeats", args.repeats, 1, 100)
    plan = make_plan("time", cpu=args.cpu)
    print(f"timing {len(sensitivity.CASES)} workload points of {variant}: baseline, an A/A "
          f"copy and injected chains {chains}, default settings (precision "
          f"{plan.timing.precision:.0%}, budget {plan.timing.budget:g}s per point), CPU "
          f"{plan.cpu}", file=sys.stderr)
    s = sensitivity.run(plan, variant, chains=chains, repeats=repeats,
                        say=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(s, indent=2, default=str))
    else:
        print("\n".join(sensitivity.render(s)))
    return 0


def cmd_doctor(args) -> int:
    if args.sensitivity:
        return cmd_sensitivity(args)
    d = collect(args.cpu)
    if args.json:
        print(json.dumps(d, indent=2, default=str))
    else:
        print(render(d))
    return 0


def register(sub) -> None:
    p = sub.add_parser("doctor", help="what this host can measure, and the backend auto picks")
    p.add_argument("--cpu", help="the CPU workers would be pinned to")
    p.add_argument("--json", action="store_true", help="print JSON instead")
    p.add_argument("--sensitivity", action="store_true",
                   help="measure the smallest slowdown the default timing detects here "
                        "(A/A pair and injected dependent chains)")
    p.add_argument("--variant", help="--sensitivity: the variant (default: the registry's baseline)")
    p.add_argument("--chains", help="--sensitivity: chain lengths k, comma-separated "
                                    "(default 1,4,16)")
    p.add_argument("--repeats", default="1", help="--sensitivity: repeats of every point")
    p.set_defaults(func=cmd_doctor)
