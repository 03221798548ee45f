"""Vendor event names through libpfm4, checked against the vendors' own
event tables under forced PMU models (LIBPFM_FORCE_PMU), on any machine.

The expected codes below are written from the vendors' published tables, not
from libpfm4's output:
- Intel: the perfmon event tables Intel publishes per core (github.com/intel/
  perfmon: SKL/events/skylake_core.json, ICL/events/icelake_core.json,
  SPR/events/sapphirerapids_core.json), fields EventCode and UMask.
- AMD: the Processor Programming Reference (PPR) core PMC tables:
  "PPR for AMD Family 17h Model 31h" (Zen 2), "PPR for AMD Family 19h Model
  01h" (Zen 3), "PPR for AMD Family 19h Model 11h" (Zen 4): PMCx043
  "Demand Data Cache Fills by Data Source" (LsDmndFillsFromSys; Zen 2:
  LsRefillsFromSys) and PMCx045 "L1 DTLB Miss" (LsL1DTlbMiss), unit mask bits.
The x86 raw config is EventSelect[7:0] | UnitMask << 8 | EventSelect[11:8] << 32.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import pfm

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not pfm.available(),
                                reason="libpfm4 not installed (Debian libpfm4; make setup "
                                       "installs it)")


def x86(event: int, umask: int) -> int:
    return (event & 0xff) | umask << 8 | (event >> 8) << 32


VENDOR = {
    # skylake_core.json
    "skl": {"MEM_LOAD_RETIRED.L1_MISS": x86(0xD1, 0x08),
            "MEM_LOAD_RETIRED.L3_MISS": x86(0xD1, 0x20),
            "L2_RQSTS.MISS": x86(0x24, 0x3F),
            "DTLB_LOAD_MISSES.WALK_COMPLETED": x86(0x08, 0x0E),
            "LONGEST_LAT_CACHE.MISS": x86(0x2E, 0x41)},
    # icelake_core.json (L2_RQSTS.MISS is marked there as not supported on ICL)
    "icl": {"MEM_LOAD_RETIRED.L1_MISS": x86(0xD1, 0x08),
            "L2_RQSTS.ALL_DEMAND_MISS": x86(0x24, 0x27),
            "DTLB_LOAD_MISSES.WALK_COMPLETED": x86(0x08, 0x0E)},
    # sapphirerapids_core.json: Golden Cove moved the load walk event to 0x12
    "spr": {"MEM_LOAD_RETIRED.L1_MISS": x86(0xD1, 0x08),
            "DTLB_LOAD_MISSES.WALK_COMPLETED": x86(0x12, 0x0E)},
    # PPR 17h/31h: PMCx043 bits LclL2 0, LclCache 1, LclDram 3, RmtCache 4, RmtDram 6
    "amd64_fam17h_zen2": {"DATA_CACHE_REFILLS_FROM_SYSTEM:LS_MABRESP_LCL_DRAM": x86(0x43, 0x08),
                          "DATA_CACHE_REFILLS_FROM_SYSTEM:LS_MABRESP_RMT_DRAM": x86(0x43, 0x40),
                          "L1_DTLB_MISS:TLB_RELOAD_4K_L2_MISS": x86(0x45, 0x10)},
    # PPR 19h/01h and 19h/11h: PMCx043 bits LocalL2 0, LocalCcx 1, NearCache 2,
    # DramIoNear 3, FarCache 4, DramIoFar 6 (AltMem 7 on Zen 4); PMCx045 all = 0xFF
    "amd64_fam19h_zen3": {"ls_dmnd_fills_from_sys.local_l2": x86(0x43, 0x01),
                          "ls_dmnd_fills_from_sys.dram_io_near": x86(0x43, 0x08),
                          "ls_dmnd_fills_from_sys.dram_io_far": x86(0x43, 0x40),
                          "ls_l1_d_tlb_miss.all": x86(0x45, 0xFF)},
    "amd64_fam19h_zen4": {"ls_dmnd_fills_from_sys.local_ccx": x86(0x43, 0x02),
                          "ls_dmnd_fills_from_sys.far_cache": x86(0x43, 0x10),
                          "ls_dmnd_fills_from_sys.dram_io_far": x86(0x43, 0x40),
                          "ls_dmnd_fills_from_sys.alt_mem": x86(0x43, 0x80),
                          "ls_l1_d_tlb_miss.all": x86(0x45, 0xFF)},
}


def _events_json(model: str, names: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIBPFM_FORCE_PMU": model, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bench.cli", "events", "--json", *names],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("model", sorted(VENDOR))
def test_vendor_names_encode_as_the_vendor_tables_say(model):
    want = VENDOR[model]
    p = _events_json(model, list(want))
    assert p.returncode == 0, p.stderr
    got = {d["name"]: d for d in json.loads(p.stdout)}
    for name, config in want.items():
        a = got[name]["attr"]
        assert got[name]["source"] == "libpfm4"
        assert (a["type"], int(a["config"], 16), a["config1"]) == (4, config, "0x0"), name
        # opened as every hardware event: user only, as perf's :u
        assert (a["exclude_kernel"], a["exclude_hv"], a["exclude_guest"]) == (1, 1, 1)
        assert f"PMU model {model} forced by LIBPFM_FORCE_PMU" in " ".join(got[name]["why"])


def test_acceptance_mem_load_retired_l1_miss_under_a_forced_intel_model():
    p = _events_json("skl", ["MEM_LOAD_RETIRED.L1_MISS"])
    assert p.returncode == 0, p.stderr
    (d,) = json.loads(p.stdout)
    assert d["attr"]["config"] == "0x8d1"          # EventCode 0xD1, UMask 0x08


def test_a_name_the_forced_model_lacks_is_one_line_exit_2():
    # an AMD name under an Intel model, and an Intel name ICL's table retired
    for model, name in (("skl", "ls_dmnd_fills_from_sys.dram_io_far"),
                        ("icl", "L2_RQSTS.MISS"), ("skl", "MEM_LOAD_RETIRED.NO_SUCH")):
        p = _events_json(model, [name])
        assert p.returncode == 2 and p.stdout == ""
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and repr(name) in lines[0] and "allowed" in lines[0], p.stderr


def test_offcore_response_carries_config1():
    """An event whose encoding needs config1 (Intel's off-core response MSR)
    keeps it all the way to the attr counters.c opens."""
    p = _events_json("skl", ["OFFCORE_RESPONSE_0:DMND_DATA_RD:L3_MISS"])
    assert p.returncode == 0, p.stderr
    (d,) = json.loads(p.stdout)
    assert d["attr"]["config"] == "0x1b7"            # skylake_core.json: 0xB7, UMask 0x01
    # MSR 0x1a6 request bit 0 (demand data read) is set; the response half is non-zero
    c1 = int(d["attr"]["config1"], 16)
    assert c1 & 1 and c1 >> 16


def test_cache_tlb_listing_of_a_forced_model():
    code = ("import json; from bench import pfm; print(json.dumps(pfm.cache_tlb_events()))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "LIBPFM_FORCE_PMU": "skl", "PYTHONPATH": str(ROOT)},
                       cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert list(got) == ["skl"]
    for ev in ("MEM_LOAD_RETIRED", "L2_RQSTS", "DTLB_LOAD_MISSES", "LONGEST_LAT_CACHE"):
        assert ev in got["skl"]
    assert "BR_INST_RETIRED" not in got["skl"] and "INST_RETIRED" not in got["skl"]


def test_a_run_plan_records_what_each_name_was_opened_as():
    code = ("import json; from bench.runner import make_plan; "
            "p = make_plan('time', events='MEM_LOAD_RETIRED.L1_MISS,r01d1'); "
            "print(json.dumps(p.event_support))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "LIBPFM_FORCE_PMU": "skl", "PYTHONPATH": str(ROOT)},
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    sup = json.loads(p.stdout)
    enc = sup["MEM_LOAD_RETIRED.L1_MISS"]["encoding"]
    assert (enc["type"], enc["config"], enc["source"]) == (4, "0x8d1", "libpfm4")
    assert "skl::MEM_LOAD_RETIRED:L1_MISS" in enc["why"]
    assert sup["r01d1"]["encoding"]["config"] == "0x1d1"
    assert sup["task-clock"]["encoding"]["source"] == "software"
