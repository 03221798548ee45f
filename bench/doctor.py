"""`rmapbench doctor`: what this host can measure, and how well.

Host facts, perf_event_paranoid, which perf events open (each tried alone in
this process), valgrind, tuning state, pyperf's own view of the system, and
the backend `auto` would pick with the reason.
"""

from __future__ import annotations

import json
import os
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


PMU_DEVICES = "/sys/bus/event_source/devices"
CAP_SYS_ADMIN, CAP_PERFMON = 21, 38


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cpu_flags() -> set[str]:
    for ln in (_read("/proc/cpuinfo") or "").splitlines():
        if ln.startswith("flags"):
            return set(ln.split(":", 1)[1].split())
    return set()


def _hypervisor_vendor() -> str | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for ln in out.splitlines():
        if ln.startswith("Hypervisor vendor:"):
            return ln.split(":", 1)[1].strip()
    return None


def _kernel_pmu_line() -> str | None:
    """The kernel's boot line about its PMU driver ("Performance Events: ...")."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    for ln in out.stdout.splitlines():
        if "Performance Events:" in ln:
            return ln.split("Performance Events:", 1)[1].strip()
    return None


def pmu_checks(events: dict) -> dict:
    """Whether this host has a hardware PMU, each line saying what it checked,
    and, where there is none, how to get one."""
    checks = []
    devs = sorted(os.listdir(PMU_DEVICES)) if os.path.isdir(PMU_DEVICES) else []
    core = [d for d in devs if d in ("cpu", "cpu_core", "cpu_atom", "armv8_pmuv3")
            or d.startswith("armv8_")]
    checks.append(f"checked {PMU_DEVICES}: core PMU "
                  + (", ".join(core) if core else "missing") + f" (present: {', '.join(devs)})")
    hw = {n: e for n, e in events.items() if n not in ("task-clock", "page-faults",
                                                        "context-switches", "cpu-migrations")}
    ok = [n for n, e in hw.items() if e.get("supported")]
    if hw:
        first = next(iter(hw))
        checks.append(f"checked perf_event_open of the hardware events: "
                      + (f"{', '.join(ok)} open" if ok else
                         f"none opens ({first}: {hw[first].get('reason')})"))
    flags = _cpu_flags()
    pm = sorted(flags & {"arch_perfmon", "perfctr_core", "perfctr_nb", "perfctr_llc"})
    checks.append("checked /proc/cpuinfo flags arch_perfmon (Intel), perfctr_core (AMD): "
                  + (", ".join(pm) if pm else "none: CPUID shows no PMU to this kernel"))
    line = _kernel_pmu_line()
    checks.append("checked the kernel log for 'Performance Events:': "
                  + (repr(line) if line else "no such line readable (dmesg not permitted "
                                             "or rotated)"))
    hv = _hypervisor_vendor()
    guest = "hypervisor" in flags
    checks.append("checked CPUID hypervisor flag and lscpu's hypervisor vendor: "
                  + (f"a guest of {hv or 'an unnamed hypervisor'}" if guest else "bare metal"))
    par = _read("/proc/sys/kernel/perf_event_paranoid")
    meaning = {"-1": "no restriction", "0": "CPU-wide and kernel counting allowed",
               "1": "user and kernel counting of own processes allowed",
               "2": "user-space counting of own processes only (enough for this suite)"}
    checks.append(f"checked kernel.perf_event_paranoid = {par}: "
                  + ("not readable" if par is None else meaning.get(
                      par, "3 or more: Debian's 'no perf for unprivileged users' setting; "
                           "sysctl -w kernel.perf_event_paranoid=2 allows user-space counting")))
    capeff = 0
    for ln in (_read("/proc/self/status") or "").splitlines():
        if ln.startswith("CapEff:"):
            capeff = int(ln.split()[1], 16)
    caps = [n for n, b in (("CAP_PERFMON", CAP_PERFMON), ("CAP_SYS_ADMIN", CAP_SYS_ADMIN))
            if capeff >> b & 1]
    checks.append(f"checked this process's effective capabilities (euid {os.geteuid()}): "
                  + (", ".join(caps) + " (perf_event_paranoid does not limit it)" if caps else
                     "neither CAP_PERFMON nor CAP_SYS_ADMIN: perf_event_paranoid applies; "
                     "a process with CAP_PERFMON (Linux 5.8+) is not limited by it"))
    wd = _read("/proc/sys/kernel/nmi_watchdog")
    if wd is not None:
        checks.append(f"checked kernel.nmi_watchdog = {wd}: "
                      + ("it holds one hardware counter on a PMU host; sysctl -w "
                         "kernel.nmi_watchdog=0 frees it (less multiplexing)" if wd == "1"
                         else "no counter held by the watchdog"))
    has_pmu = bool(core) and bool(ok or not hw)
    advice = []
    if not has_pmu:
        if guest:
            advice += [
                f"this is a {hv or 'virtual'} guest without a virtual PMU: the host must give it "
                "one",
                "QEMU/KVM: start the guest with -cpu host (a virtual PMU is on by default with "
                "it) or -cpu <model>,pmu=on; the host's kvm module must allow it: "
                "/sys/module/kvm/parameters/enable_pmu = Y (kvm.enable_pmu=1)",
                "libvirt: <cpu mode='host-passthrough'/> and, under <features>, "
                "<pmu state='on'/>",
                "Google Cloud: C4 and C4A VMs have a PMU when created with "
                "--performance-monitoring-unit=architectural|standard|enhanced (enhanced on "
                "96/192-vCPU C4 only); off by default",
                "AWS EC2: bare-metal (*.metal) instances give the whole PMU; select Intel Xeon "
                "instance sizes expose a virtual PMU with a subset of events (see the instance "
                "family's documentation)",
                "elsewhere: look for a 'vPMU' or 'PMU' option of the instance family, or use "
                "bare metal; until then `auto` uses the sim backend (valgrind's cache model)",
            ]
        else:
            advice.append("bare metal without a usable PMU driver: check the kernel was built "
                          "with CONFIG_PERF_EVENTS and the CPU's PMU driver (kernel log above)")
    return {"has_pmu": has_pmu, "checks": checks, "advice": advice}


def vendor_events() -> dict:
    """libpfm4's cache and TLB events for the PMU models present."""
    from . import pfm

    if not pfm.available():
        return {"error": "libpfm4 not installed (Debian package libpfm4): vendor event names "
                         "are unavailable"}
    forced = os.environ.get("LIBPFM_FORCE_PMU")
    return {"libpfm4": pfm.version(), "models": pfm.cache_tlb_events(),
            "chosen_by": f"LIBPFM_FORCE_PMU={forced}" if forced else "this CPU's CPUID"}


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
        "pmu": pmu_checks(plan.event_support),
        "vendor_events": vendor_events(),
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
    pmu = d.get("pmu") or {}
    for c in pmu.get("checks", []):
        out.append(f"pmu         {c}")
    for a in pmu.get("advice", []):
        out.append(f"  get a PMU: {a}")
    ve = d.get("vendor_events") or {}
    if "error" in ve:
        out.append(f"vendor      {ve['error']}")
    else:
        for model, names in ve.get("models", {}).items():
            note = "" if pmu.get("has_pmu") else \
                " (the CPU's model; this host cannot count them: no PMU)"
            out.append(f"vendor      libpfm4 {ve['libpfm4']}, model {model} from "
                       f"{ve['chosen_by']}: cache/TLB events{note}:")
            out.append("              " + ", ".join(names))
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
    repeats = _int("--repeats", args.repeats if args.repeats is not None else "1", 1, 100)
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
    from .errors import UsageError

    if args.sensitivity:
        return cmd_sensitivity(args)
    for opt in ("variant", "chains", "repeats"):
        if getattr(args, opt) is not None:
            raise UsageError(f"--{opt} {getattr(args, opt)!r} without --sensitivity: --{opt} "
                             "is allowed only with --sensitivity (the plain doctor measures "
                             "nothing)")
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
    p.add_argument("--repeats", help="--sensitivity: repeats of every point (default 1)")
    p.set_defaults(func=cmd_doctor)
