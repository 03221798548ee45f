"""The C kernels against the independent Python model, slot for slot."""

import pytest
from hypothesis import HealthCheck, given, settings

from model import MODELLED, Model, run_model
from bench.native import Rmap, load
from bench.trace import replay, run_c
from conftest import VARIANTS
from strategies import op_sequences

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("ext", [3, 4, 14])
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v in MODELLED])
def test_c_equals_model(variant, ext):
    kernel = load(variant, ext)

    @SETTINGS
    @given(op_sequences(max_ops=40 * ext if ext > 4 else 120))
    def check(ops):
        with Rmap(kernel, 3, alloc="slab", expected=len(ops)) as rmap:
            got = replay(rmap, ops)
            live = rmap.live_descs()
        model = Model(variant, ext)
        want = replay(model, ops)
        assert got == want
        assert live == model.live_descs()

    check()


@pytest.mark.parametrize("alloc", ["bump", "slab", "scatter", "libc"])
def test_allocator_mode_does_not_change_behaviour(alloc):
    ops = [("add", 0, i) for i in range(1, 60)] + \
          [("remove", 0, i) for i in range(1, 60, 2)] + [("walk", 0)]
    for variant in VARIANTS:
        if variant in MODELLED:
            assert run_c(variant, 3, ops, alloc=alloc) == run_model(variant, 3, ops)
        else:
            assert run_c(variant, 3, ops, alloc=alloc) == run_c(variant, 3, ops, alloc="slab")


def _adds(n, head=0, start=1):
    return [("add", head, i) for i in range(start, start + n)]


def _rets(records):
    return [r["ret"] for r in records if "op" in r]


# ---- each deviation of DESIGN.md section 3, worked by hand -------------

def test_old_undercounts_on_tail_append():
    # EXT 3: 0,1,2 fill desc 1; the 4th add appends a tail desc and does not
    # count the full one left behind: returns 0, not 3.
    rets = _rets(run_c("old", 3, _adds(7)))
    assert rets == [0, 1, 2, 0, 4, 5, 3]


def test_new_returns_count_after_add():
    rets = _rets(run_c("new", 3, _adds(7)))
    assert rets == [0, 1, 3, 4, 5, 6, 7]
    assert _rets(run_c("new-fixed", 3, _adds(7))) == [0, 1, 2, 3, 4, 5, 6]


def test_new_warn_clears_single_head_and_fixed_keeps_it():
    ops = [("add", 0, 5), ("remove", 0, 6), ("count", 0)]
    new = run_c("new", 3, ops)
    assert _rets(new) == [0, "WARN", 0]
    assert new[-1] == {"head": 0, "form": "empty", "descs": []}
    fixed = run_c("new-fixed", 3, ops)
    assert _rets(fixed) == [0, "BUG", 1]
    assert fixed[-1] == {"head": 0, "form": "single", "single": 5, "descs": []}


def test_new_warns_where_others_bug():
    ops = [("remove", 0, 1)] + _adds(4, head=1) + [("remove", 1, 99)]
    for v in VARIANTS:
        want = "WARN" if v == "new" else "BUG"
        rets = _rets(run_c(v, 3, ops))
        assert rets[0] == want and rets[-1] == want, v


def test_kvm2021_partial_count():
    # EXT 3: fill two descriptors (6), empty a slot of the first, then add:
    # the add stops at the first non-full desc and does not count the second.
    ops = _adds(6) + [("remove", 0, 1), ("add", 0, 7), ("add", 0, 8)]
    recs = run_c("kvm-2021", 3, ops)
    assert _rets(recs) == [0, 1, 2, 3, 4, 5, None, 2, 6]
    assert recs[-1]["descs"] == [[3, 2, 7], [4, 5, 6], [8, None, None]]


def test_kvm2023_front_insert_and_exact_count():
    ops = _adds(7) + [("remove", 0, 1), ("count", 0), ("walk", 0)]
    recs = run_c("kvm-2023", 3, ops)
    assert _rets(recs)[:7] == list(range(7))
    layout = recs[-1]["descs"]
    # 1 was in the last desc; the first desc's last entry (7) filled its hole
    assert layout == [[4, 5, 6], [7, 2, 3]]
    assert _rets(recs)[-2:] == [6, [4, 5, 6, 7, 2, 3]]


def test_old_never_returns_to_single_form_but_new_does():
    ops = _adds(3) + [("remove", 0, 1), ("remove", 0, 2)]
    assert run_c("old", 3, ops)[-1] == {"head": 0, "form": "many", "descs": [[3, None, None]]}
    assert run_c("new", 3, ops)[-1] == {"head": 0, "form": "single", "single": 3, "descs": []}
    assert run_c("old", 3, ops + [("remove", 0, 3)])[-1]["form"] == "empty"


def test_new_moves_within_first_desc_backwards():
    # the review's case: the hole is in the first descriptor itself
    ops = _adds(5) + [("remove", 0, 4)]
    recs = run_c("new", 3, ops)
    assert recs[-1]["descs"] == [[5, None, None], [1, 2, 3]]
    ops = _adds(6) + [("remove", 0, 4)]
    assert run_c("new", 3, ops)[-1]["descs"] == [[6, 5, None], [1, 2, 3]]
