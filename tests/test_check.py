"""`rmapbench check`: the race explorer against interleavings worked out by
hand, the conformance search against deviations worked out by hand, the
explorer's writer ops against the C kernels, and the command line."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import race
from bench.check import conformance, run_check
from bench.native import Rmap, load
from conftest import VARIANTS, assert_usage_error, run_cli
import race_model

ADDS = lambda n, start=1: [("add", i) for i in range(start, start + n)]  # noqa: E731


def _kinds(rows):
    return {r["kind"]: len(r["ops"]) for r in rows}


# ---- the race explorer: verdicts and shortest counterexamples -------------

@pytest.mark.parametrize("ext", [2, 3])
def test_new_misses_in_the_reviews_case_shortest(ext):
    # By hand, new at EXT 2 or 3, list [1 2] in one descriptor D0:
    #   1. walker reads head = D0
    #   2. walker reads D0.slot[0] = 1, visits 1
    #   3. writer removes 1: the hole is in the first descriptor itself
    #      (desc == first_desc), i = 0 < last_used = 1: slot 0 <- 2, slot 1
    #      cleared; one entry and no next, so the head becomes the single
    #      pointer 2 and D0 is freed (still readable: [2 _ ...])
    #   4. walker reads D0.slot[1] = empty: end of descriptor
    #   5. walker reads D0.more = none: the walk ends; 2 was never visited.
    # Shorter is impossible: a one-spte list is read in the walker's first
    # slot read, and a miss needs a walker step before and after a writer op.
    r = race.explore("new", ext, 3 * ext + 1, 3)
    assert r.can_miss
    cx = r.counterexample
    assert cx["initial_len"] == 2 and cx["events"] == 5 and cx["missed"] == [2]
    assert [s["actor"] for s in cx["steps"]] == ["walker", "walker", "writer", "walker", "walker"]
    assert cx["steps"][2]["action"].startswith("remove 1: hole at D0.slot[0]")
    assert "moved 2 D0.slot[1] -> head" in cx["steps"][2]["action"]
    assert r.explored_len == 1          # lengths 0 and 1 explored, no miss


def test_new_reviews_case_with_a_higher_slot_in_a_longer_list():
    # From three sptes up ([1 2 3] in D0), the shortest miss is the review's
    # sentence exactly: the walker has read slots 0 and 1, the remove of 1
    # fills slot 0 from last_used = 2 of the same (first) descriptor, and
    # slot 2 is empty when the walker gets there: 3 is missed.  6 events.
    r = race.explore("new", 3, 10, 3, min_len=3)
    cx = r.counterexample
    assert cx["initial_len"] == 3 and cx["events"] == 6 and cx["missed"] == [3]
    assert cx["steps"][3]["action"] == "remove 1: hole at D0.slot[0] filled with 3 from D0.slot[2]"


def test_new_hole_in_first_desc_of_a_chain_by_hand():
    # new, EXT 3, adds 1..5: D0[4 5 _] -> D1[1 2 3].
    #   walker: head = D0; D0.slot[0] = 4 (visit)
    #   writer: remove 4: hole D0.slot[0] (first desc), filled from its
    #           last used slot 1: D0[5 _ _]
    #   walker: D0.slot[1] empty; D0.more = D1; 1, 2, 3; D1.more none.
    # 5 was present throughout and is missed.
    run = race.run_schedule("new", 3, ADDS(5), ["w", "w", ("remove", 4)])
    assert run["visited"] == [4, 1, 2, 3] and run["missed"] == [5]
    assert run["steps"][2][1] == "remove 4: hole at D0.slot[0] filled with 5 from D0.slot[1]"
    # The seed's forward move is fine when the hole is in a later desc:
    # remove 1 (in D1) after the walker visited 4: D1.slot[0] <- 5 from
    # D0.slot[1], which the walker had not reached, and will find in D1.
    run = race.run_schedule("new", 3, ADDS(5), ["w", "w", ("remove", 1)])
    assert run["missed"] == [] and run["visited"] == [4, 5, 2, 3]


def test_old_moves_within_the_same_descriptor_and_misses():
    # The patch description says old fills the hole from the *last*
    # descriptor; per DESIGN old fills it from the highest used slot of the
    # *same* descriptor.  old, EXT 3, adds 1..4: D0[1 2 3] -> D1[4 _ _].
    #   walker: head = D0; D0.slot[0] = 1; D0.slot[1] = 2
    #   writer: remove 1: j = 2 (same desc): D0[3 2 _]; D1 untouched
    #   walker: D0.slot[2] empty -> D0.more = D1; D1.slot[0] = 4; slot[1] empty; none.
    # 3 is missed: a backward move inside one descriptor.
    run = race.run_schedule("old", 3, ADDS(4), ["w", "w", "w", ("remove", 1)])
    assert run["missed"] == [3] and run["visited"] == [1, 2, 4]
    assert run["layout"]["descs"] == [[3, 2, None], [4, None, None]]
    assert run["steps"][3][1] == "remove 1: hole at D0.slot[0] filled with 3 from D0.slot[2]"
    # and the explorer's shortest: [1 2], visit 1, remove 1 (2 -> slot 0), 5 events
    r = race.explore("old", 3, 10, 3)
    assert r.can_miss and r.counterexample["events"] == 5
    assert r.counterexample["missed"] == [2]


@pytest.mark.parametrize("ext", [3, 14])
def test_kvm2023_misses_too(ext):
    # kvm-2023 keeps the seed's move rule: [1 2], count 2.
    #   walker: head = D0; D0.count = 2 > 0; D0.slot[0] = 1 (visit)
    #   writer: remove 1: slot 0 <- 2 from the last entry, count 1
    #   walker: D0.count = 1 <= 1: next; D0.more = none.   6 events, 2 missed.
    r = race.explore("kvm-2023", ext, 2 * ext + 1, 2)
    assert r.can_miss
    cx = r.counterexample
    assert (cx["initial_len"], cx["events"], cx["missed"]) == (2, 6, [2])
    assert cx["steps"][3]["action"] == "remove 1: hole at D0.slot[0] filled with 2 from D0.slot[1]"


@pytest.mark.parametrize("variant", ["new-fixed", "kvm-2021"])
def test_other_kernels_miss(variant):
    r = race.explore(variant, 3, 10, 3)
    assert r.can_miss and r.counterexample["initial_len"] == 2


@pytest.mark.parametrize("ext,max_len", [(2, 7), (3, 10)])
def test_lf_is_miss_free_within_bounds(ext, max_len):
    r = race.explore("kvm-2023-lf", ext, max_len, 3)
    assert not r.can_miss and r.counterexample is None
    assert r.explored_len == max_len
    assert r.states > 1000          # the search really branched


def test_lf_by_hand():
    # kvm-2023-lf, EXT 3, [1 2], the schedule that makes kvm-2023 miss:
    #   walker: head = D0; D0.count = 2: slots 1 down to 0; D0.slot[1] = 2 (visit)
    #   writer: remove 1: slot 0 <- 2 from slot 1 (the slot read first)
    #   walker: D0.slot[0] = 2 (seen twice, harmless); D0.more = none.
    run = race.run_schedule("kvm-2023-lf", 3, ADDS(2), ["w", "w", "w", ("remove", 1)])
    assert run["visited"] == [2, 2] and run["missed"] == []
    # A new first descriptor, then its emptying: every descriptor is walked
    # top down because any can become the first.  EXT 2, adds 1..5:
    # D0[5 _] -> D1[3 4] -> D2[1 2].  The walker is in D1 (read 4) when the
    # writer removes 5 (D0 freed, D1 first) and then 3 (hole D1.slot[0]
    # filled from D1.slot[1], which the walker already read): nothing missed.
    run = race.run_schedule("kvm-2023-lf", 2, ADDS(5),
                            ["w", "w", "w", "w", "w", "w", ("remove", 5), ("remove", 3)])
    assert run["missed"] == []
    assert run["visited"][:2] == [5, 4]


def test_quotient_search_agrees_with_plain_search():
    """The reduced search (X tokens, renumbering, garbage dropped) gives the
    same verdict and shortest length as the plain breadth-first search."""
    for v in VARIANTS:
        inits = race.initial_layouts(v, 2, 5)
        for n in range(0, 6):
            kind = race.walk_kind(v, 2)
            plain = race._explore_n(v, kind, 2, inits.get(n, []), 2,
                                    race.RaceResult(v, 2, n, 2, False))
            quot = race._explore_n_quotient(v, kind, 2, inits.get(n, []), 2,
                                            race.RaceResult(v, 2, n, 2, False))
            assert (plain is not None) == quot, (v, n)
    big = race.RaceResult("kvm-2023-lf", 2, 7, 3, False)
    inits = race.initial_layouts("kvm-2023-lf", 2, 7)
    for n in range(8):
        assert race._explore_n("kvm-2023-lf", "rev-count", 2, inits.get(n, []), 3, big) is None
    assert big.states > 10000


def test_initial_layouts_cover_holes():
    # old can hold [3 2 _] -> [4 _ _] (a hole in a non-last descriptor): the
    # explorer starts from it, not only from lists built by adds.
    inits = race.initial_layouts("old", 3, 4)
    shapes = {tuple(tuple(s is not None for s in d[race.S]) for d in m[1]) for m, _ in inits[3]}
    assert ((True, True, False), (True, False, False)) in shapes
    assert len(inits[1]) == 2      # single form, and one spte left in a descriptor


# ---- the explorer's atomic ops are the C kernels' ----------------------------
#
# The explorer's writer ops run the C kernel on a head rebuilt from its
# state (rb_state_apply); here they are held to the same kernel run op after
# op on one context, and, where it exists, to the former per-variant Python
# writer model (tests/race_model.py), written from DESIGN.md section 3.

@st.composite
def _head_ops(draw):
    ops, present, nxt = [], [], 1
    for _ in range(draw(st.integers(1, 60))):
        if present and draw(st.integers(0, 9)) < 4:
            s = present.pop(draw(st.integers(0, len(present) - 1)))
            ops.append(("remove", s))
        elif draw(st.integers(0, 19)) == 0:
            ops.append(("remove", 999))
        else:
            ops.append(("add", nxt))
            present.append(nxt)
            nxt += 1
    return ops


@pytest.mark.parametrize("ext", [2, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_race_ops_equal_c_kernels(variant, ext):
    kernel = load(variant, ext)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_head_ops())
    def check(ops):
        mem = pymem = race.EMPTY_MEM
        with Rmap(kernel, 1, expected=len(ops)) as r:
            for op, s in ops:
                mem, want = race.apply_op(variant, ext, mem, op, s)
                got = (r.add if op == "add" else r.remove)(0, s)
                assert got == want, (op, s)
                assert r.layout(0) == race.layout(mem)
                assert r.live_descs() == sum(x[race.LIVE] for x in mem[1])
                if variant in race_model.WALKS:
                    pymem, pywant = race_model.apply_op(variant, ext, pymem, op, s)
                    assert (pymem, pywant) == (mem, want), (op, s)

    check()


# ---- conformance: each deviation at its minimal length ------------------------

def test_old_conformance():
    # EXT 3.  Undercount: adds 1..3 fill D0; the 4th add finds D0's last
    # slot used and no next, appends D1 without counting D0: returns 0, 3
    # present -> 4 ops (fewer adds never append).  Partial count: D0[1 2 3]
    # D1[4]; remove 1 -> D0[3 2 _]; add 5 stops at D0 (last slot empty),
    # returns 2 while 3 are present -> 6 ops.
    c = conformance("old", 3)
    assert _kinds(c["deviations"]) == {"add-undercount-tail-append": 4, "add-partial-count": 6}
    assert c["deviations"][0]["ops"] == ["add 0 1", "add 0 2", "add 0 3", "add 0 4"]
    # add, add, remove leaves [2 _ _] in a descriptor; 4 adds and a remove
    # leave 3 sptes in 2 descriptors.
    assert _kinds(c["differences"]) == {"no-return-to-single": 3, "sparse-descriptors": 5}
    c2 = conformance("old", 2)
    assert _kinds(c2["deviations"]) == {"add-undercount-tail-append": 3, "add-partial-count": 5}


def test_new_conformance():
    # remove from an empty head: WARN (1 op); add 1 then remove an absent
    # spte: WARN and the head is cleared (2 ops); the third add returns 3
    # with 2 present (3 ops; the first two adds return 0 and 1 by design).
    c = conformance("new", 3)
    assert _kinds(c["deviations"]) == {"remove-absent-warn": 1,
                                       "failed-remove-clears-head": 2,
                                       "add-returns-count-after": 3}
    warn = next(d for d in c["deviations"] if d["kind"] == "remove-absent-warn")
    assert "empty, single, many" in warn["detail"]
    assert c["differences"] == []      # new returns to the single form


def test_new_fixed_and_kvm2023_conform():
    assert conformance("new-fixed", 3)["deviations"] == []
    for v in ("kvm-2023", "kvm-2023-lf"):
        c = conformance(v, 14)
        assert c["deviations"] == []
        # like the real kernel, kvm-2023 frees the descriptor only when empty
        assert _kinds(c["differences"]) == {"no-return-to-single": 3}


def test_kvm2021_partial_count():
    # EXT 3: adds 1..4 (D0 full, D1[4]), remove 1, add 5: stored in D0 at
    # its count 2, returns 2 with 3 present.  Its add counts EXT per full
    # descriptor passed, so no undercount on tail append.
    c = conformance("kvm-2021", 3)
    assert _kinds(c["deviations"]) == {"add-partial-count": 6}
    assert _kinds(c["differences"]) == {"no-return-to-single": 3, "sparse-descriptors": 5}
    assert _kinds(conformance("kvm-2021", 14)["deviations"]) == {"add-partial-count": 17}


# ---- the command ---------------------------------------------------------------

def test_run_check_and_json_shape():
    proc = run_cli("check", "--variant", "new,kvm-2023-lf", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [o["variant"] for o in out] == ["new", "kvm-2023-lf"]
    assert [o["ext"] for o in out] == [3, 14]
    for o in out:
        assert {"variant", "ext", "deviations", "race"} <= set(o)
        assert {"can_miss", "bounds", "counterexample"} <= set(o["race"])
        for d in o["deviations"]:
            assert set(d) == {"kind", "ops", "detail"}
    new, lf = out
    assert new["race"]["can_miss"] is True
    cx = new["race"]["counterexample"]
    assert isinstance(cx, list) and cx[0]["actor"] == "init" and len(cx) == 6
    assert new["race"]["c_crosscheck"]["equal"] is True
    assert lf["race"]["can_miss"] is False and lf["race"]["counterexample"] is None
    assert [b["ext"] for b in lf["race"]["bounds"]["runs"]] == [2, 3, 14]
    assert run_check(["new"], 3)[0]["deviations"] == new["deviations"]


def test_plain_output():
    proc = run_cli("check", "--variant", "old", "--ext", "2")
    assert proc.returncode == 0, proc.stderr
    assert "== old (EXT 2) ==" in proc.stdout
    assert "add-undercount-tail-append" in proc.stdout
    assert "CAN miss" in proc.stdout and "missed: 2" in proc.stdout


@pytest.mark.parametrize("args,needles", [
    (["--variant", "bogus"], ["'bogus'", "kvm-2023-lf"]),
    (["--variant", "old,"], ["'old,'"]),
    (["--ext", "1"], ["EXT 1", "2 to 64"]),
    (["--ext", "three"], ["'three'", "2 to 64"]),
])
def test_bad_input(args, needles):
    assert_usage_error(run_cli("check", *args), *needles)
