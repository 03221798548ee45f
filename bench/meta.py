"""meta.json for a run directory: host, toolchain, backend, config, revision, times."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

from . import __version__
from . import host as hostmod

ROOT = Path(__file__).resolve().parent.parent


def _cmd_first_line(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                             cwd=ROOT, check=False)
    except OSError:
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def git_revision() -> str | None:
    if not (ROOT / ".git").exists():
        return None         # an installed package: no revision of a checkout to name
    rev = _cmd_first_line(["git", "rev-parse", "HEAD"])
    if rev and _cmd_first_line(["git", "status", "--porcelain", "--untracked-files=no"]):
        rev += "-dirty"
    return rev


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def build_meta(plan, run_id: str, config: dict | None = None) -> dict:
    from .build import compiler_version, find_compiler, resolve_cflags
    from .runner import plan_meta

    cc = find_compiler()
    valgrind = shutil.which("valgrind")
    host = hostmod.probe(plan.cpu)
    return {
        "format_version": FORMAT_VERSION,
        "rmapbench_version": __version__,
        "run_id": run_id,
        "created": now(),
        "host": host,
        "tuning_warnings": hostmod.tuning_warnings(host, plan.cpu),
        "backend": {"requested": plan.requested, "chosen": plan.backend,
                    "reason": plan.reason,
                    "timing": plan.timing_backend if plan.timing else None},
        "events": plan.event_support,
        "plan": plan_meta(plan),
        "sim": ({"valgrind": _cmd_first_line([valgrind, "--version"]) if valgrind else None,
                 "profile": plan.sim_profile, "profile_reason": plan.sim_profile_reason,
                 "geometry": plan.sim_geometry}
                if plan.backend == "sim" else None),
        "compiler": compiler_version(cc),
        "cflags": resolve_cflags(plan.cflags),
        "pyperf": plan.pyperf_args,
        "config": config,
        "git_revision": git_revision(),
    }


# -- the versioned format ----------------------------------------------------
#
# meta.json carries "format_version".  Version 0 is every meta.json written
# before the field existed; load() migrates it (and any later version this
# code knows) to FORMAT_VERSION, and refuses a newer one with one line.  The
# schema below is checked on every load: a field of the wrong JSON type or
# outside its allowed values is named, with what is allowed, before any
# reader sees the dict.

FORMAT_VERSION = 1


def _truthy(v) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return isinstance(v, str) and v.strip().lower() in ("1", "on", "yes", "true", "enabled",
                                                        "active")


def _cpus(v) -> set[int]:
    """A CPU list as a set: [2, 3] or "2-3,6"."""
    if isinstance(v, list):
        return {c for c in v if isinstance(c, int) and not isinstance(c, bool)}
    out: set[int] = set()
    if isinstance(v, str):
        for part in v.split(","):
            lo, _, hi = part.strip().partition("-")
            if lo.isascii() and lo.isdigit() and (not hi or (hi.isascii() and hi.isdigit())):
                out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _v0_tuning_warnings(meta: dict) -> list[str]:
    """Version 0 files may lack tuning_warnings (or name them "warnings", or
    keep them in host): take them from there, else derive them from the host
    fields as the report once did."""
    host = meta.get("host") if isinstance(meta.get("host"), dict) else {}
    for src in (meta, host):
        for key in ("tuning_warnings", "warnings"):
            w = src.get(key)
            if isinstance(w, list):
                return [x if isinstance(x, str) else json_text(x) for x in w]
            if isinstance(w, str):
                return [w]
    out = []
    gov = host.get("governor")
    if gov and str(gov).lower() != "performance":
        out.append(f"CPU frequency governor is {gov!r}, not 'performance': timings can vary "
                   "with the clock frequency.")
    if _truthy(host.get("turbo")):
        out.append("turbo boost is on: the clock frequency depends on temperature and load.")
    if _truthy(host.get("smt")):
        out.append("SMT is on: a sibling hardware thread can share the pinned core's caches.")
    plan = meta.get("plan") if isinstance(meta.get("plan"), dict) else {}
    cpu = plan.get("cpu")
    if isinstance(cpu, int) and not isinstance(cpu, bool) \
            and cpu not in _cpus(host.get("isolated_cpus")):
        out.append(f"pinned CPU(s) {cpu} not isolated (isolcpus): other tasks may run there.")
    return out


def json_text(v) -> str:
    import json

    try:
        return json.dumps(v)
    except (TypeError, ValueError):
        return repr(v)


def _migrate_0(meta: dict) -> dict:
    """0 -> 1: tuning_warnings always present; sim.profile and
    sim.profile_reason always in the sim block (older files kept them in the
    geometry or the plan); cache sizes under L1d and LLC as well as L1/L3."""
    m = dict(meta)
    m["tuning_warnings"] = _v0_tuning_warnings(m)
    m.pop("warnings", None)
    sim, plan = m.get("sim"), m.get("plan") if isinstance(m.get("plan"), dict) else {}
    if isinstance(sim, dict):
        sim = dict(sim)
        geo = sim.get("geometry") if isinstance(sim.get("geometry"), dict) else {}
        sim["profile"] = sim.get("profile") or geo.get("profile") or plan.get("sim_profile")
        sim["profile_reason"] = sim.get("profile_reason") or plan.get("sim_profile_reason")
        m["sim"] = sim
    host = m.get("host")
    if isinstance(host, dict) and isinstance(host.get("caches"), dict):
        caches = dict(host["caches"])
        for new, old in (("L1d", "L1"), ("LLC", "L3")):
            if new not in caches and old in caches:
                caches[new] = caches[old]
        m["host"] = {**host, "caches": caches}
    m["format_version"] = 1
    return m


MIGRATIONS = {0: _migrate_0}       # version -> function to the next version


class MetaError(Exception):
    """meta.json does not hold: str(e) is 'FIELD VALUE: allowed ...'."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _shown(v) -> str:
    t = json_text(v)
    return t if len(t) <= 60 else t[:57] + "..."


def _need(ok: bool, field: str, value, allowed: str) -> None:
    if not ok:
        raise MetaError(f"field {field} is {_shown(value)} ({_type(value)}): {allowed} is allowed")


def _opt_str(field: str, v) -> None:
    _need(v is None or isinstance(v, str), field, v, "a string or null")


def check_meta(m: dict) -> None:
    """The schema of a current-version meta.json (docs/internals.md section 5)."""
    from .backends import NAMES as BACKENDS

    _need(m.get("status") in ("incomplete", "complete"), "status", m.get("status"),
          '"incomplete" or "complete"')
    _need(isinstance(m.get("run_id"), str) and 0 < len(m["run_id"]) <= 200, "run_id",
          m.get("run_id"), "a non-empty string")
    for k in ("created", "finished", "compiler", "cflags", "git_revision", "interrupted",
              "error"):
        _opt_str(k, m.get(k))
    host = m.get("host")
    _need(isinstance(host, dict), "host", host, "an object (the host probe)")
    _opt_str("host.name", host.get("name"))
    caches = host.get("caches")
    _need(caches is None or isinstance(caches, dict), "host.caches", caches,
          "an object of cache sizes")
    for k, v in (caches or {}).items():
        _need(v is None or (_is_int(v) and v >= 0) or isinstance(v, str), f"host.caches.{k}",
              v, "a size in bytes, a size string or null")
    w = m.get("tuning_warnings")
    _need(isinstance(w, list) and all(isinstance(x, str) for x in w), "tuning_warnings", w,
          "a list of strings")
    b = m.get("backend")
    _need(isinstance(b, dict), "backend", b, "an object with requested, chosen and reason")
    _need(b.get("requested") in BACKENDS, "backend.requested", b.get("requested"),
          ", ".join(BACKENDS))
    _need(b.get("chosen") in BACKENDS[1:], "backend.chosen", b.get("chosen"),
          ", ".join(BACKENDS[1:]))
    _opt_str("backend.reason", b.get("reason"))
    ev = m.get("events", {})
    _need(isinstance(ev, dict), "events", ev, "an object of event name -> {supported, reason}")
    for k, v in ev.items():
        _need(isinstance(v, dict) and isinstance(v.get("supported"), bool), f"events.{k}", v,
              "an object with supported (true or false) and reason")
        _opt_str(f"events.{k}.reason", v.get("reason"))
    for k in ("plan", "config", "sweep"):
        _need(m.get(k) is None or isinstance(m.get(k), dict), k, m.get(k), "an object or null")
    plan = m.get("plan") or {}
    _need(plan.get("cpu") is None or (_is_int(plan["cpu"]) and plan["cpu"] >= 0), "plan.cpu",
          plan.get("cpu"), "a CPU number")
    sim = m.get("sim")
    _need(sim is None or isinstance(sim, dict), "sim", sim, "an object or null")
    if sim is not None:
        for k in ("valgrind", "profile", "profile_reason"):
            _opt_str(f"sim.{k}", sim.get(k))
        geo = sim.get("geometry")
        _need(geo is None or isinstance(geo, dict), "sim.geometry", geo, "an object or null")
        for k in ("I1", "D1", "LL"):
            g = (geo or {}).get(k)
            _need(g is None or (isinstance(g, list) and len(g) == 3
                                and all(_is_int(x) and x > 0 for x in g)),
                  f"sim.geometry.{k}", g, "[size, assoc, line] as positive integers")
    py = m.get("pyperf")
    _need(py is None or isinstance(py, (list, dict)), "pyperf", py, "a list, an object or null")
    if "cases" in m:
        _need(_is_int(m["cases"]) and m["cases"] >= 0, "cases", m["cases"], "an integer >= 0")
    if "check" in m:
        _need(isinstance(m["check"], list), "check", m["check"], "a list")


def current(meta: dict) -> dict:
    """meta at FORMAT_VERSION: migrated from an older version this code knows;
    MetaError for a newer or an unknown one, or one that breaks the schema."""
    v = meta.get("format_version", 0)
    if not _is_int(v) or v < 0:
        raise MetaError(f"field format_version is {_shown(v)}: an integer from 0 to "
                        f"{FORMAT_VERSION} is allowed")
    if v > FORMAT_VERSION:
        raise MetaError(f"format_version {v} is newer than this rmapbench reads (up to "
                        f"{FORMAT_VERSION}): use a newer rmapbench for this run")
    while v < FORMAT_VERSION:
        meta = MIGRATIONS[v](meta)
        v = meta["format_version"]
    check_meta(meta)
    return meta
