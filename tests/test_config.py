"""Sweep configs: every kind of bad config is one line naming the key and the
value, exit status 2, before anything runs; the built-in default sweep holds
what issue 4 asks of it."""

import itertools
from collections import defaultdict

import pytest

from bench.config import (HEADS_MAX, Options, bytes_per_head, desc_stride, estimate_footprint,
                          expand, load_builtin, parse_config, parse_size, resolve_heads,
                          sptes_per_head)
from bench.errors import UsageError
from bench.variants import builtin_names, default_ext
from tests.conftest import assert_usage_error, run_cli

GOOD = """
[[grid]]
workload = "fork"
variant = ["old"]
n = [4]
heads = 16
"""

# (config text, strings the one error line must contain)
BAD = {
    "precision of 2": ('[options]\nprecision = 2\n' + GOOD,
                       ["options.precision", "2", "above 0 and below 1"]),
    "budget of zero": ('[options]\nbudget = 0\n' + GOOD,
                       ["options.budget", "0", "seconds of timing"]),
    "sim_beside a string": ('[options]\nsim_beside = "yes"\n' + GOOD,
                            ["options.sim_beside", "yes", "true or false"]),
    "pages of 1G": ('[options]\npages = "1G"\n' + GOOD,
                    ["options.pages", "1G", '"4K", "2M"']),
    "pages a number": ('[options]\npages = 4\n' + GOOD, ["options.pages", "4", '"4K", "2M"']),
    "unknown top key": ('[option]\nbackend = "sim"\n' + GOOD, ["config option:", "unknown key",
                                                             "options"]),
    "unknown grid key": (GOOD + "nn = [1]\n", ["config grid[1].nn:", "unknown key", "heads"]),
    "unknown option key": ('[options]\nbackendd = "sim"\n' + GOOD,
                           ["config options.backendd:", "unknown key", "backend"]),
    "unknown pyperf key": ('[options.pyperf]\nprocess = 2\n' + GOOD,
                           ["options.pyperf.process", "unknown key", "processes"]),
    "unknown defaults key": ('[defaults]\nsize = 3\n' + GOOD, ["defaults.size", "unknown key"]),
    "unknown range key": (GOOD.replace("n = [4]", "n = {from = 1, to = 8, by = 2}"),
                          ["grid[1].n.by", "unknown key"]),
    "bad workload": (GOOD.replace('"fork"', '"forkk"'),
                     ["config grid[1].workload: bad value \"forkk\": allowed", "fork, walk"]),
    "bad variant": (GOOD.replace('["old"]', '["old", "oldd"]'),
                    ["grid[1].variant: bad value \"oldd\"", "kvm-2023"]),
    "variant EXT too small": (GOOD.replace('["old"]', '["old@1"]'),
                              ["grid[1].variant: bad value \"old@1\"", "EXT from 2 to 64"]),
    "variant EXT too large": (GOOD.replace('["old"]', '["kvm-2023@65"]'),
                              ["grid[1].variant: bad value \"kvm-2023@65\"", "2 to 64"]),
    "variant EXT not a number": (GOOD.replace('["old"]', '["new@x"]'),
                                 ["bad value \"new@x\"", "@EXT"]),
    "ext out of range": (GOOD + "ext = [3, 99]\n", ["grid[1].ext: bad value 99", "2 to 64"]),
    "n negative": (GOOD.replace("n = [4]", "n = [4, -1]"),
                   ["config grid[1].n: bad value -1: allowed integers from 0"]),
    "n zero for fork": (GOOD.replace("n = [4]", "n = [0, 4]"), ["grid[1].n: bad value 0",
                                                                "fork"]),
    "n empty": (GOOD.replace("n = [4]", "n = []"), ["grid[1].n: bad value []", "non-empty"]),
    "n a boolean": (GOOD.replace("n = [4]", "n = true"), ["grid[1].n: bad value true"]),
    "n a string": (GOOD.replace("n = [4]", 'n = "many"'), ["grid[1].n: bad value \"many\""]),
    "n missing": (GOOD.replace("n = [4]", ""), ["grid[1].n: bad value \"(missing)\""]),
    "n range backwards": (GOOD.replace("n = [4]", "n = {from = 8, to = 1, times = 2}"),
                          ["grid[1].n.to: bad value 1", ">= from (8)"]),
    "n range without step": (GOOD.replace("n = [4]", "n = {from = 1, to = 8}"),
                             ["grid[1].n: bad value", "times"]),
    "n range times 1": (GOOD.replace("n = [4]", "n = {from = 1, to = 8, times = 1}"),
                        ["grid[1].n.times: bad value 1", ">= 2"]),
    "heads zero": (GOOD.replace("heads = 16", "heads = 0"), ["grid[1].heads: bad value 0",
                                                             "\"l2\""]),
    "heads unknown target": (GOOD.replace("heads = 16", 'heads = "l3"'),
                             ["grid[1].heads: bad value \"l3\"", "\"llc\""]),
    "heads too many for the cap": (GOOD.replace("heads = 16", "heads = 100000")
                                   .replace("n = [4]", "n = [1024]"),
                                   ["grid[1].heads: bad value 100000", "max_sptes"]),
    "heads empty": (GOOD.replace("heads = 16", "heads = []"), ["grid[1].heads: bad value []"]),
    "bad order": (GOOD + 'order = ["fifo", "sideways"]\n',
                  ["grid[1].order: bad value \"sideways\"", "fifo, lifo, random"]),
    "bad alloc": (GOOD + 'alloc = "malloc"\n', ["grid[1].alloc: bad value \"malloc\"",
                                                "bump, slab, scatter"]),
    "seed negative": (GOOD + "seed = -5\n", ["grid[1].seed: bad value -5"]),
    "guest with n": ('[[grid]]\nworkload = "guest"\nn = [4]\n',
                     ["grid[1].n: bad value [4]", "guest"]),
    "workload missing": ('[[grid]]\nn = [4]\n', ["grid[1].workload: bad value \"(missing)\""]),
    "no grids": ('[options]\nbackend = "sim"\n', ["config grid: bad value \"(none)\"",
                                                   "[[grid]]"]),
    "empty grid list": ("grid = []\n", ["config grid: bad value []"]),
    "grid not a table": ("grid = [1, 2]\n", ["config grid: bad value [1, 2]"]),
    "duplicate grid names": (GOOD + 'name = "a"\n' + GOOD + 'name = "a"\n',
                             ["grid[2].name: bad value \"a\""]),
    "bad backend": ('[options]\nbackend = "gpu"\n' + GOOD,
                    ["config options.backend: bad value \"gpu\": allowed auto, perf, sim, time"]),
    "bad cpu": ('[options]\ncpu = 999\n' + GOOD, ["options.cpu: bad value 999"]),
    "no events": ('[options]\nevents = []\n' + GOOD, ["options.events: bad value []"]),
    "bad event": ('[options]\nevents = ["cycles", "cache-missez"]\n' + GOOD,
                  ["options.events: bad value \"cache-missez\"", "LLC"]),
    "bad processes": ('[options.pyperf]\nprocesses = 0\n' + GOOD,
                      ["options.pyperf.processes: bad value 0", "1 to 1000"]),
    "bad min_time": ('[options.pyperf]\nmin_time = -1.0\n' + GOOD,
                     ["options.pyperf.min_time: bad value -1.0"]),
    "fast and rigorous": ('[options.pyperf]\nfast = true\nrigorous = true\n' + GOOD,
                          ["options.pyperf.rigorous", "at most one"]),
    "bad max_footprint": ('[options]\nmax_footprint = "lots"\n' + GOOD,
                          ["options.max_footprint: bad value \"lots\"", "GiB"]),
    "bad default value": ('[defaults]\nn = [-3]\n' + GOOD.replace("n = [4]", ""),
                          ["config defaults.n: bad value -3"]),
    "not TOML": ("[[grid]\nworkload = \n", ["not valid TOML"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_config_is_one_line_exit_2_before_anything_runs(name, tmp_path):
    text, needles = BAD[name]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    proc = run_cli("sweep", cfg, "--out", out, timeout=60)
    assert_usage_error(proc, *needles)
    assert not out.exists(), "a bad config must stop the sweep before it writes anything"
    assert proc.stdout == ""


@pytest.mark.parametrize("name", list(BAD))
def test_bad_config_raises_usage_error_in_process(name):
    text, needles = BAD[name]
    with pytest.raises(UsageError) as e:
        parse_config(text, "t.toml")
    assert "\n" not in str(e.value)


def test_good_config_parses_and_missing_file_is_one_line(tmp_path):
    cfg = parse_config(GOOD, "g")
    assert len(cfg.grids) == 1 and cfg.grids[0].axes["n"] == [4]
    proc = run_cli("sweep", tmp_path / "nope.toml", "--out", tmp_path / "o", timeout=60)
    assert_usage_error(proc, "nope.toml", "no such file")


def test_cli_usage_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD)
    assert_usage_error(run_cli("sweep", cfg, "--backend", "gpu", "--out", tmp_path / "o"),
                       "--backend 'gpu'", "auto, perf, sim, time")
    assert_usage_error(run_cli("sweep", cfg, "--quick"), "--quick", "not both")
    assert_usage_error(run_cli("sweep", cfg, "--resume"), "--resume needs --out")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    proc = run_cli("sweep", cfg, "--out", busy)
    assert_usage_error(proc, str(busy), "not empty", "--resume")
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    proc = run_cli("sweep", cfg, "--out", busy, "--resume")
    assert_usage_error(proc, "no meta.json")


def test_values_ranges_and_variant_ext_pins():
    cfg = parse_config("""
[defaults]
seed = [1, 2]
[[grid]]
name = "g"
workload = ["fork", "walk"]
variant = ["old", "old@14", "kvm-2023"]
ext = ["default", 5]
n = {from = 1, to = 1000, times = 10}
heads = [7]
""")
    cases = [p.case for p in expand(cfg, {"L1d": 1, "L2": 1, "LLC": 1}, cpu=0)]
    assert {c["n"] for c in cases} == {1, 10, 100, 1000}
    assert {c["seed"] for c in cases} == {1, 2}
    pairs = {(c["variant"], c["ext"]) for c in cases}
    # a pinned variant@EXT ignores the grid's ext list; plain names take each value
    assert pairs == {("old", 3), ("old", 5), ("old", 14), ("kvm-2023", 14), ("kvm-2023", 5)}
    # old@14 and old with ext 14 never arise twice: cases are distinct
    keys = [tuple(sorted(c.items())) for c in cases]
    assert len(keys) == len(set(keys)) == 2 * 5 * 4 * 2
    assert all(set(c) == {"workload", "variant", "ext", "n", "heads", "order", "alloc",
                          "seed", "cpu"} for c in cases)
    assert all(c["heads"] == 7 and c["cpu"] == 0 for c in cases)


def test_duplicate_cases_across_grids_appear_once():
    cfg = parse_config(GOOD + GOOD.replace("[4]", "[4, 8]"))
    cases = [p.case for p in expand(cfg, {}, cpu=0)]
    assert [c["n"] for c in cases] == [4, 8]


def test_descriptor_stride_and_footprint_estimate():
    assert desc_stride("old", 3) == 64          # 32-byte struct, one line
    assert desc_stride("old", 14) == 128        # 120 bytes
    assert desc_stride("kvm-2021", 14) == 128   # 16 + 112
    assert desc_stride("kvm-2023", 3) == 64     # 40 bytes
    assert desc_stride("new", 64) == 576        # 520 -> 9 lines
    # one head: its word, n sptes, ceil(n/EXT) descriptors (none for n = 1)
    assert bytes_per_head("fork", "old", 3, 1) == 8 + 8
    assert bytes_per_head("fork", "old", 3, 7) == 8 + 56 + 3 * 64
    assert estimate_footprint({"workload": "walk", "variant": "kvm-2023", "ext": 14, "n": 15,
                               "heads": 10}) == 10 * (8 + 120 + 2 * 128)


@pytest.mark.parametrize("variant,ext,n", [("old", 3, 1), ("old", 3, 1024),
                                           ("kvm-2021", 14, 16), ("kvm-2023", 3, 128)])
def test_footprint_targets_land_where_asked(variant, ext, n):
    caches = {"L1d": 48 << 10, "L2": 2 << 20, "LLC": 32 << 20}
    opts = Options()
    for target, lo, hi in (("l1", 0, 24 << 10), ("l2", 0, 1 << 20),
                           ("llc", 32 << 20, 64 << 20), ("8MiB", 0, 8 << 20)):
        heads, want, capped = resolve_heads(target, "fork", variant, ext, n, caches, opts)
        fp = estimate_footprint({"workload": "fork", "variant": variant, "ext": ext, "n": n,
                                 "heads": heads})
        if heads == 1 and fp > want:       # a single head is already too big
            assert "one head" in capped
            continue
        assert capped is None
        assert lo < fp <= hi, (target, heads, fp)
        # the largest head count that fits: one more head would overshoot the target
        assert fp + bytes_per_head("fork", variant, ext, n) > want


def test_footprint_caps_keep_a_case_affordable():
    caches = {"L1d": 48 << 10, "L2": 2 << 20, "LLC": 480 << 20}
    opts = Options(max_sptes=1 << 20, max_footprint=64 << 20)
    heads, want, capped = resolve_heads("llc", "fork", "old", 3, 16, caches, opts)
    assert want == 960 << 20
    assert heads * 16 <= 1 << 20 and "max_sptes" in capped
    opts = Options(max_sptes=1 << 20, max_footprint=8 << 20)
    heads, _, capped = resolve_heads("llc", "fork", "old", 3, 1, caches, opts)
    assert heads * bytes_per_head("fork", "old", 3, 1) <= 8 << 20
    assert "max_footprint" in capped
    # guest: the cap counts sptes (heads x mean chain length), and never 2^26 heads
    heads, _, capped = resolve_heads("llc", "guest", "old", 3, 0, caches,
                                     Options(max_sptes=1 << 16))
    assert heads * sptes_per_head("guest", 0) <= 1 << 16 < (heads + 100) * sptes_per_head(
        "guest", 0) and "max_sptes" in capped
    heads, _, capped = resolve_heads("llc", "guest", "old", 3, 0, caches, Options())
    assert heads == HEADS_MAX and "2^26" not in capped and str(HEADS_MAX) in capped
    # the sim caps apply under the sim backend only, and only where tighter
    opts = Options(sim_max_sptes=1 << 14)
    h_sim, _, c_sim = resolve_heads("llc", "fork", "old", 3, 16, caches, opts, "sim")
    h_perf, _, c_perf = resolve_heads("llc", "fork", "old", 3, 16, caches, opts, "perf")
    assert h_sim * 16 <= 1 << 14 and "sim_max_sptes" in c_sim
    assert h_perf * 16 <= opts.max_sptes and h_perf > h_sim and "sim_" not in c_perf


def test_parse_size():
    assert parse_size("64MiB") == 64 << 20
    assert parse_size("512K") == 512 << 10
    assert parse_size("1.5GiB") == 3 << 29
    assert parse_size(4096) == 4096
    assert parse_size("lots") is None and parse_size(0) is None and parse_size(True) is None


# -- the built-in sweeps ------------------------------------------------------

# the seed question's pairs (the quick sweep has exactly these)
PAIRS = {("old", 3), ("new", 3), ("new-fixed", 3), ("kvm-2021", 14), ("kvm-2023", 14),
         ("old", 14), ("new", 14), ("kvm-2023", 3), ("kvm-2023-lf", 14)}
TYPICAL = {"L1d": 48 << 10, "L2": 2 << 20, "LLC": 32 << 20}
THIS_HOST_LIKE = {"L1d": 48 << 10, "L2": 2 << 20, "LLC": 480 << 20}


@pytest.mark.parametrize("caches,backend", [(TYPICAL, "perf"), (TYPICAL, "sim"),
                                            (THIS_HOST_LIKE, "sim"), (THIS_HOST_LIKE, "time")],
                         ids=["llc32M-perf", "llc32M-sim", "llc480M-sim", "llc480M-time"])
def test_default_sweep_answers_the_seed_question(caches, backend):
    planned = expand(load_builtin("default"), caches, cpu=1, backend=backend)
    cases = [p.case for p in planned]
    fork = [p for p in planned if p.case["workload"] == "fork"]

    # all five variants at their default EXT; old and new also at 14, kvm-2023 also at 3
    # the seed question's pairs, and every built-in of the registry at its own EXT
    assert {(c["variant"], c["ext"]) for c in cases if c["workload"] == "fork"} == \
        PAIRS | {(v, default_ext(v)) for v in builtin_names()}

    # per (variant, EXT): n = 1..1024 in powers of four (so that each workload point gets
    # the timing budget a 1% precision needs), both exit orders, warm (inside L2),
    # bump-allocated: the whole main grid
    pow2 = {1 << (2 * i) for i in range(6)}
    warm = defaultdict(set)
    for p in fork:
        c = p.case
        if c["alloc"] == "bump" and p.footprint <= caches["L2"]:
            warm[(c["variant"], c["ext"], c["order"])].add(c["n"])
    for (v, e), order in itertools.product(PAIRS, ("fifo", "lifo")):
        assert warm[(v, e, order)] >= pow2, (v, e, order)

    # bump and scatter allocation, and footprints beyond the LLC, for every pairing
    assert {c["alloc"] for c in cases} >= {"bump", "scatter"}
    for v, e in PAIRS:
        mine = [p for p in fork if (p.case["variant"], p.case["ext"]) == (v, e)]
        assert any(p.case["alloc"] == "scatter" for p in mine), (v, e)
        assert any(p.target == "llc" for p in mine), (v, e)
        if caches is TYPICAL and backend == "perf":
            assert any(p.footprint > caches["LLC"] and p.case["alloc"] == "scatter"
                       for p in mine), (v, e)
            assert any(p.footprint > caches["LLC"] and p.case["alloc"] == "bump"
                       for p in mine), (v, e)
        else:   # more than one case may touch (under valgrind, or 2x 480 MiB): capped,
            #     and said so; still beyond L2
            assert all(p.capped for p in mine if p.target == "llc")
            assert all(p.footprint > caches["L2"] for p in mine if p.target == "llc")

    # the other workloads are there too
    assert {c["workload"] for c in cases} == {"fork", "walk", "churn", "guest", "null"}
    assert all(c["n"] == 0 for c in cases if c["workload"] == "guest")

    # every case once
    keys = [tuple(sorted(c.items())) for c in cases]
    assert len(keys) == len(set(keys))
    # within the per-case caps
    opts = load_builtin("default").options
    max_sptes = opts.sim_max_sptes if backend == "sim" else opts.max_sptes
    max_bytes = opts.sim_max_footprint if backend == "sim" else opts.max_footprint
    assert all(c["heads"] * sptes_per_head(c["workload"], c["n"]) <= max_sptes for c in cases)
    assert all(p.footprint <= max_bytes for p in planned)


def test_quick_sweep_covers_every_pairing():
    planned = expand(load_builtin("quick"), TYPICAL, cpu=0)
    cases = [p.case for p in planned]
    assert {(c["variant"], c["ext"]) for c in cases if c["workload"] == "fork"} == PAIRS
    assert {c["order"] for c in cases} >= {"fifo", "lifo"}
    assert {c["alloc"] for c in cases} >= {"bump", "scatter"}
    assert len(cases) < len(expand(load_builtin("default"), TYPICAL, cpu=0)) / 4


def test_builtin_sweeps_ship_as_package_data():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["bench"]
    assert "sweeps/*.toml" in globs
    assert {p.name for p in (root / "bench" / "sweeps").glob("*.toml")} >= {"default.toml",
                                                                            "quick.toml"}


@pytest.mark.parametrize("caches,backend", [(TYPICAL, "perf"), (THIS_HOST_LIKE, "sim")],
                         ids=["llc32M-perf", "llc480M-sim"])
def test_variants_at_one_grid_point_run_the_same_heads(caches, backend):
    """Variants are compared on the same workload: one heads count per grid point,
    chosen so that every variant fits a cache target and every variant exceeds
    the llc target (unless capped)."""
    cfg = load_builtin("default")
    planned = expand(cfg, caches, cpu=1, backend=backend)
    series = {g.name: {(v, e or default_ext(v)) for v, e in g.axes["variant"]}
              for g in cfg.grids}
    points = defaultdict(list)
    for p in planned:
        c = p.case
        points[(p.grid, c["workload"], c["n"], p.target, c["order"], c["alloc"])].append(p)
    assert len(points) < len(planned) / 4
    for key, ps in points.items():
        assert len({p.case["heads"] for p in ps}) == 1, key
        # every series of the point's grid is planned there, each once
        assert sorted((p.case["variant"], p.case["ext"]) for p in ps) == \
            sorted(series[ps[0].grid]), key
        if ps[0].target == "l2":
            assert all(p.footprint <= p.target_bytes for p in ps), key
        if ps[0].target == "llc" and not ps[0].capped:
            assert all(p.footprint >= p.target_bytes * 0.95 for p in ps), key


def test_sim_profile_auto_simulates_an_affordable_last_level():
    from bench.runner import SIM_AUTO_MAX_LLC, choose_sim_profile

    assert choose_sim_profile(None, {"LLC": 32 << 20})[0] == "host"
    prof, why = choose_sim_profile("auto", {"LLC": 480 << 20})
    assert prof == "host-l2" and "480 MiB" in why
    assert choose_sim_profile("skylake-sp", {"LLC": 480 << 20}) == ("skylake-sp", "asked for")
    assert choose_sim_profile(None, {"LLC": SIM_AUTO_MAX_LLC + 1})[0] == "host-l2"


def test_pages_option_reaches_the_timing():
    from bench.runner import make_plan

    assert parse_config('[options]\npages = "4K"\n' + GOOD).options.pages == "4K"
    assert parse_config(GOOD).options.pages is None
    assert make_plan("time", pages="4K").timing.pages == "4K"
    assert make_plan("time").timing.pages == "2M"
