"""meta.json for a run directory: host, toolchain, backend, config, revision, times."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

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
