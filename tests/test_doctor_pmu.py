"""doctor says whether there is a hardware PMU, each line naming what it
checked, and how to get one where there is none."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import doctor

ROOT = Path(__file__).resolve().parent.parent
NO_HW = {"cycles": {"supported": False, "reason": "ENOENT: not supported by this host's PMU"},
         "task-clock": {"supported": True, "reason": None}}
HW = {"cycles": {"supported": True, "reason": None},
      "task-clock": {"supported": True, "reason": None}}


def _cpuinfo_has(flag):
    return flag in doctor._cpu_flags()


def test_every_line_says_what_it_checked():
    d = doctor.pmu_checks(NO_HW)
    assert d["checks"] and all(c.startswith("checked ") for c in d["checks"])
    text = "\n".join(d["checks"])
    for what in ("/sys/bus/event_source/devices", "perf_event_open", "arch_perfmon",
                 "perf_event_paranoid", "capabilities", "Performance Events"):
        assert what in text
    assert "cycles: ENOENT" in text


def test_no_pmu_in_a_guest_gives_the_host_side_fixes(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "PMU_DEVICES", str(tmp_path))      # no cpu PMU
    monkeypatch.setattr(doctor, "_cpu_flags", lambda: {"fpu", "hypervisor"})
    monkeypatch.setattr(doctor, "_hypervisor_vendor", lambda: "KVM")
    d = doctor.pmu_checks(NO_HW)
    assert d["has_pmu"] is False
    advice = "\n".join(d["advice"])
    assert "KVM guest without a virtual PMU" in advice
    assert "-cpu host" in advice and "pmu=on" in advice and "enable_pmu" in advice
    assert "<pmu state='on'/>" in advice
    assert "performance-monitoring-unit" in advice and ".metal" in advice


def test_a_host_with_a_core_pmu_that_counts_needs_no_advice(monkeypatch, tmp_path):
    (tmp_path / "cpu").mkdir()
    monkeypatch.setattr(doctor, "PMU_DEVICES", str(tmp_path))
    monkeypatch.setattr(doctor, "_cpu_flags", lambda: {"fpu", "arch_perfmon"})
    d = doctor.pmu_checks(HW)
    assert d["has_pmu"] is True and d["advice"] == []
    assert any("core PMU cpu" in c for c in d["checks"])
    assert any("cycles open" in c for c in d["checks"])
    # the PMU directory is there but nothing opens: still no PMU to use
    assert doctor.pmu_checks(NO_HW)["has_pmu"] is False


def test_bare_metal_without_pmu_is_not_told_to_fix_a_hypervisor(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "PMU_DEVICES", str(tmp_path))
    monkeypatch.setattr(doctor, "_cpu_flags", lambda: {"fpu"})
    d = doctor.pmu_checks(NO_HW)
    assert len(d["advice"]) == 1 and "CONFIG_PERF_EVENTS" in d["advice"][0]
    assert any("bare metal" in c for c in d["checks"])


def test_doctor_json_and_text_show_the_pmu_section():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIBPFM_FORCE_PMU": "skl"}
    p = subprocess.run([sys.executable, "-m", "bench.cli", "doctor", "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    d = json.loads(p.stdout)
    assert set(d["pmu"]) == {"has_pmu", "checks", "advice"}
    if d["vendor_events"].get("error") is None:
        assert d["vendor_events"]["chosen_by"] == "LIBPFM_FORCE_PMU=skl"
        assert "MEM_LOAD_RETIRED" in d["vendor_events"]["models"]["skl"]
    if not d["pmu"]["has_pmu"] and _cpuinfo_has("hypervisor"):
        assert any("pmu=on" in a for a in d["pmu"]["advice"])
