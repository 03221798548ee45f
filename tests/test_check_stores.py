"""The race explorer store by store (bench.race.explore_stores): writer ops
stopped after any of their RMAP_STORE()s (native/rmap.h) in check's build of
a variant, walker steps run there.

The mutants below are made from the real variant files by exact text
replacement (the replaced text must be there), so they follow the files."""

import pytest

from bench import race
from bench.native import Rmap, load
from conftest import ROOT, VARIANTS, run_cli

NATIVE = ROOT / "native"
ADDS = lambda n, start=1: [("add", i) for i in range(start, start + n)]  # noqa: E731

LF_REMOVE = """	WRITE_ONCE(desc->sptes[i], head_desc->sptes[j]);
	WRITE_ONCE(head_desc->sptes[j], NULL);
	WRITE_ONCE(head_desc->spte_count, j);
"""
# the store-order bug: the count decremented before the hole is written
LF_REMOVE_COUNT_FIRST = """	WRITE_ONCE(head_desc->spte_count, j);
	WRITE_ONCE(desc->sptes[i], head_desc->sptes[j]);
	WRITE_ONCE(head_desc->sptes[j], NULL);
"""
LF_ADD_NEW_DESC = """			RMAP_STORE(new_desc->more, desc);
			RMAP_STORE(new_desc->spte_count, 0);
			RMAP_STORE(new_desc->tail_count, count);
			WRITE_ONCE(rmap_head->val, (unsigned long)new_desc | 1);
"""
# another: the new first descriptor published before it is linked to the old one
LF_ADD_PUBLISH_FIRST = """			WRITE_ONCE(rmap_head->val, (unsigned long)new_desc | 1);
			RMAP_STORE(new_desc->more, desc);
			RMAP_STORE(new_desc->spte_count, 0);
			RMAP_STORE(new_desc->tail_count, count);
"""


def _lf_mutant(tmp_path, old: str, new: str, name: str):
    text = (NATIVE / "pte_list_kvm2023_lf.c").read_text()
    assert text.count(old) == 1, "the text the mutant replaces is not in the file"
    text = text.replace(old, new).replace('PTE_LIST_DECLARE("kvm-2023-lf"', "PTE_LIST_DECLARE(NULL")
    p = tmp_path / f"{name}.c"
    p.write_text(text)
    return str(p)


# ---- the store hook itself -----------------------------------------------------

def test_checks_build_stops_after_each_store_in_program_order():
    # kvm-2023-lf, EXT 3, [1 2] in D0, remove 1: the hole (slot 0) is
    # written first, then the source (slot 1) cleared, then the count
    # (2 -> 1): three stores, stops after each, and a fourth call runs to
    # the end.  Written from the C source's order, not from the explorer.
    k = load("kvm-2023-lf", 3, check_stores=True)
    w = race.Writer("kvm-2023-lf", 3)
    mem = race.build("kvm-2023-lf", 3, ADDS(2))
    flat, _ = w._encode(mem)
    one, two = 2 << 3, 3 << 3           # ids 1, 2 as the explorer encodes them
    with Rmap(k, 1, alloc="track", expected=8) as r:
        seen = []
        for stop in (1, 2, 3):
            ret, out, info = r.state_apply_stop(flat, "remove", one, stop)
            assert info["stopped"] and info["stores"] == stop and not info["locked"]
            seen.append((info["word"], info["desc"], info["slot"], info["value"]))
        ret, out, info = r.state_apply_stop(flat, "remove", one, 4)
        assert not info["stopped"] and info["stores"] == 3 and ret == 0
        assert (ret, out) == r.state_apply(flat, "remove", one)
    assert seen == [("slot", 0, 0, two), ("slot", 0, 1, 0), ("count", 0, 0, 1)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_benchmark_build_has_no_store_hook(variant):
    # In the benchmark's build RMAP_STORE() is a plain store: the hook is
    # never called, so an op cannot be stopped and counts no stores.
    k = load(variant, 3)
    w = race.writer(variant, 3)
    mem = race.build(variant, 3, ADDS(4))
    flat, _ = w._encode(mem)
    with Rmap(k, 1, alloc="track", expected=8) as r:
        ret, out, info = r.state_apply_stop(flat, "remove", 2 << 3, 1)
    assert not info["stopped"] and info["stores"] == 0
    # ... while check's build of the same file does stop there
    assert w.seg(w.segments(mem, "remove", 1))[4], variant


@pytest.mark.parametrize("variant", VARIANTS)
def test_stops_end_where_the_atomic_op_ends(variant):
    # Every op split at its stores ends in the state (and return value) of
    # the same op run whole, on every layout of up to 7 sptes at EXT 2.
    w = race.writer(variant, 2)
    for n, layouts in race.initial_layouts(variant, 2, 7).items():
        for mem, _ in layouts:
            ops = [("add", 900)] + [("remove", s) for s in race.live_sptes(mem)]
            for op, s in ops:
                mem0, op_, s_, ret, names, pts = w.seg(w.segments(mem, op, s))
                final, want = race.apply_op(variant, 2, mem, op, s)
                assert pts[-1][0] == final and ret == want, (variant, mem, op, s)
                # stops after stores 1..S in order; the end may follow the
                # last stop with no store through RMAP_STORE (kvm-2025's unlock)
                ks = [k for _, k, _ in pts]
                assert ks[:-1] == sorted(set(ks[:-1])) and ks == sorted(ks)
                assert pts[-1][1] == len(names)


# ---- verdicts ----------------------------------------------------------------

def test_store_order_bug_in_lf_is_found_only_store_by_store(tmp_path):
    # kvm-2023-lf with its remove's count store moved before the hole is
    # written.  By hand, EXT 3, [1 2] in D0 (count 2), remove 1 (i = 0,
    # j = 1):
    #   1. walker reads head = D0
    #   2. writer: store 1 of 3, D0.count = 1; stopped
    #   3. walker reads D0.count = 1: it will read slot 0 only
    #   4. walker reads D0.slot[0] = 1 (being removed)
    #   5. walker reads D0.more = none: the walk ends.
    # 2 is present throughout (it is being moved to slot 0 by store 2) and
    # never visited.  Fewer events cannot miss: one spte is read by the
    # walker's first slot read, and a miss needs the writer stopped between
    # two walker reads with a read on each side.
    mut = _lf_mutant(tmp_path, LF_REMOVE, LF_REMOVE_COUNT_FIRST, "lf_count_first")
    atomic = race.explore(mut, 3, 10, 3)
    assert not atomic.can_miss            # whole ops end in the right state
    r = race.explore_stores(mut, 3, 10, 3)
    assert r.can_miss and r.explored_len == 1
    cx = r.counterexample
    assert (cx["initial_len"], cx["events"], cx["missed"]) == (2, 5, [2])
    assert [s["actor"] for s in cx["steps"]] == \
        ["walker", "writer", "walker", "walker", "walker"]
    assert cx["steps"][1]["action"] == \
        "remove 1 begins: store 1/3 D0.count = 1: writer stopped"
    assert cx["steps"][2]["action"] == "reads D0.count = 1: slots 0 down to 0"
    assert cx["stopped_mid_op"] is True and cx["writer_ops"] == ["remove 0 1"]


def test_publish_before_link_in_lf_is_found(tmp_path):
    # The new first descriptor stored in the head before its `more` is set:
    # a walker that reads the head then finds more = none (zeroed) and
    # misses every spte of the full descriptor behind it.
    mut = _lf_mutant(tmp_path, LF_ADD_NEW_DESC, LF_ADD_PUBLISH_FIRST, "lf_publish_first")
    assert not race.explore(mut, 2, 7, 3).can_miss
    r = race.explore_stores(mut, 2, 7, 3)
    assert r.can_miss
    cx = r.counterexample
    acts = [s["action"] for s in cx["steps"]]
    assert any(a.startswith("add ") and "head = D" in a and "writer stopped" in a
               for a in acts), acts


@pytest.mark.parametrize("ext,max_len", [(2, 7), (3, 10)])
def test_lf_holds_store_by_store(ext, max_len):
    r = race.explore_stores("kvm-2023-lf", ext, max_len, 3)
    assert not r.can_miss and r.explored_len == max_len
    assert r.max_stores >= 3                   # its ops really were split
    plain = race.RaceResult("kvm-2023-lf", ext, max_len, 3, False)
    inits = race.initial_layouts("kvm-2023-lf", ext, max_len)
    for n in range(max_len + 1):
        race._explore_n("kvm-2023-lf", "rev-count", ext, inits.get(n, []), 3, plain)
    assert r.states > plain.states           # more states than with atomic ops


def test_reviews_case_against_new_still_found():
    # The same shortest interleavings as with atomic ops (docs/check.md):
    # [1 2], 5 events, remove 1 run whole; from three sptes, the review's
    # picture, 6 events, 3 missed.
    r = race.explore_stores("new", 3, 10, 3)
    cx = r.counterexample
    assert r.can_miss and (cx["initial_len"], cx["events"], cx["missed"]) == (2, 5, [2])
    assert cx["steps"][2]["action"].startswith("remove 1: hole at D0.slot[0]")
    r3 = race.explore_stores("new", 3, 10, 3, min_len=3)
    cx = r3.counterexample
    assert (cx["initial_len"], cx["events"], cx["missed"]) == (3, 6, [3])


def test_kvm2025_store_by_store():
    # Taking the head lock, the walker cannot start while a writer holds it
    # (every stop of a kvm-2025 op is inside the lock), and no writer starts
    # once it holds it: no miss.  Not taking it, it misses as kvm-2023 does.
    locked = race.explore_stores("kvm-2025", 3, 10, 3, locked=True)
    assert not locked.can_miss and locked.explored_len == 10
    un = race.explore_stores("kvm-2025", 3, 10, 3, locked=False)
    k23 = race.explore_stores("kvm-2023", 3, 10, 3)
    assert un.can_miss and un.counterexample["events"] == k23.counterexample["events"] == 6
    w = race.writer("kvm-2025", 3)
    sid = w.segments(race.build("kvm-2025", 3, ADDS(3)), "remove", 1)
    assert all(locked_ for _, _, locked_ in w.seg(sid)[5][:-1])


def test_variant_without_store_macro_stays_atomic(tmp_path):
    # A variant whose stores bypass RMAP_STORE(): its ops cannot be split,
    # the store-by-store search is the atomic one, and check says so.
    text = (NATIVE / "pte_list_kvm2023_lf.c").read_text()
    text = text.replace('#include "rmap.h"\n', '#include "rmap.h"\n#undef RMAP_STORE\n'
                        '#define RMAP_STORE(x, val) ((x) = (val))\n', 1)
    text = text.replace('PTE_LIST_DECLARE("kvm-2023-lf"', "PTE_LIST_DECLARE(NULL")
    p = tmp_path / "lf_plain.c"
    p.write_text(text)
    r = race.explore_stores(str(p), 2, 5, 2)
    assert r.max_stores == 0 and not r.can_miss
    proc = run_cli("check", "--variant", str(p), "--ext", "2")
    assert proc.returncode == 0, proc.stderr
    assert "no store of this variant goes through RMAP_STORE()" in proc.stdout


def test_check_prints_the_store_order_bug(tmp_path):
    mut = _lf_mutant(tmp_path, LF_REMOVE, LF_REMOVE_COUNT_FIRST, "lf_count_first")
    proc = run_cli("check", "--variant", mut, "--ext", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    atomic, stores = out.split("race store by store")
    assert "no interleaving within the bounds makes a lockless walker miss" in atomic
    assert ": a lockless walker CAN miss an spte" in stores
    assert "remove 1 begins: store 1/3 D0.count = 1: writer stopped" in stores
    assert "missed: 2 (present for the whole walk, never visited)" in stores
    assert "C kernel replay of these ops: same layouts" in stores
