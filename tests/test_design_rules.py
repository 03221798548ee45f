"""Each rule of DESIGN.md section 3, pinned by a trace worked out BY HAND.

Every case is an op file for `rmapbench trace` and the JSON lines it must
print (DESIGN.md section 9), derived from the DESIGN sentences quoted in the
comments, not from the C or from tests/model.py.  Each case is checked twice:
on the real C kernels through the real CLI, and on the Python model, so a
disagreement of either with the text fails here even if the two agree with
each other.  Key order is compared too (`{"op", "head", "spte"?, "ret"}`,
`{"head", "form", "single"?, "descs"}`).

Notation in the comments: D1, D2, ... are descriptors in order of allocation;
[a,b,_] are slots 0..EXT-1, `_` empty (null in the JSON).
"""

import json

import pytest

from bench.trace import parse_ops
from model import run_model
from conftest import run_cli


# DESIGN.md section 3, "Default EXT in brackets"; kvm-2023-lf from README.md
DEFAULT_EXT = {"old": 3, "new": 3, "new-fixed": 3, "kvm-2021": 14, "kvm-2023": 14,
               "kvm-2023-lf": 14}


def _lines(text):
    return [json.loads(x) for x in text.strip().splitlines()]


def _ordered(records):
    return [list(r.items()) for r in records]


def _check(variant, ext, ops, expected, tmp_path):
    want = _lines(expected)
    path = tmp_path / "ops.txt"
    path.write_text(ops)
    args = ["trace", "--variant", variant]
    if ext is not None:
        args += ["--ext", str(ext)]
    proc = run_cli(*args, path)
    assert proc.returncode == 0, proc.stderr
    got = _lines(proc.stdout)
    assert _ordered(got) == _ordered(want), f"C kernel {variant} differs from the hand trace"
    model = run_model(variant, ext or DEFAULT_EXT[variant], parse_ops(ops.splitlines()))
    assert _ordered(model) == _ordered(want), f"model {variant} differs from the hand trace"


@pytest.mark.parametrize("variant", sorted(DEFAULT_EXT))
def test_default_ext_and_first_two_adds(variant, tmp_path):
    # Section 2: "the first add stores the spte in the head word and returns 0,
    # and the second add allocates a descriptor holding [first, second] in
    # slots 0 and 1 and returns 1."  Without --ext, the variant's default EXT:
    # the descriptor prints that many slots.
    ext = DEFAULT_EXT[variant]
    expected = """\
{"op": "add", "head": 0, "spte": 7, "ret": 0}
{"op": "count", "head": 0, "ret": 1}
{"op": "walk", "head": 0, "ret": [7]}
{"op": "add", "head": 0, "spte": 9, "ret": 1}
{"op": "walk", "head": 0, "ret": [%s]}
""" % ("7, 9" if variant != "kvm-2023-lf" else "9, 7")
    expected += json.dumps({"head": 0, "form": "many", "descs": [[7, 9] + [None] * (ext - 2)]})
    _check(variant, None, "add 0 7\ncount 0\nwalk 0\nadd 0 9\nwalk 0\n", expected, tmp_path)


# ---------------------------------------------------------------------------
# old [3]
#
# add: "from the first descriptor, move to the next while the current one's
# last slot is used and a next one exists, adding EXT to the count per move;
# if the reached descriptor's last slot is used, append a new descriptor at
# the tail and move to it (... the count is *not* increased for the full
# descriptor left behind ...); store in the first free slot, adding its index
# to the count."
# So a non-full descriptor anywhere in the chain (a "hole" left by a remove)
# is reused before anything is appended: add 8 goes back into D1, add 9 into
# D2 (D1 full, D2's last slot free).
OLD_ADD_OPS = """\
add 0 1
add 0 2
add 0 3
add 0 4
add 0 5
add 0 6
add 0 7
remove 0 2
add 0 8
remove 0 5
add 0 9
walk 0
count 0
"""
OLD_ADD = """\
{"op": "add", "head": 0, "spte": 1, "ret": 0}
{"op": "add", "head": 0, "spte": 2, "ret": 1}
{"op": "add", "head": 0, "spte": 3, "ret": 2}
{"op": "add", "head": 0, "spte": 4, "ret": 0}
{"op": "add", "head": 0, "spte": 5, "ret": 4}
{"op": "add", "head": 0, "spte": 6, "ret": 5}
{"op": "add", "head": 0, "spte": 7, "ret": 3}
{"op": "remove", "head": 0, "spte": 2, "ret": null}
{"op": "add", "head": 0, "spte": 8, "ret": 2}
{"op": "remove", "head": 0, "spte": 5, "ret": null}
{"op": "add", "head": 0, "spte": 9, "ret": 5}
{"op": "walk", "head": 0, "ret": [1, 3, 8, 4, 6, 9, 7]}
{"op": "count", "head": 0, "ret": 7}
{"head": 0, "form": "many", "descs": [[1, 3, 8], [4, 6, 9], [7, null, null]]}
"""
# by hand: 1 -> head word, 0.  2 -> D1 [1,2,_], 1.  3: D1's last slot free,
# first free slot 2 -> 2.  4: D1 full, no next -> append D2, count stays 0,
# slot 0 -> 0 (undercount by EXT).  5: move to D2 (+3), slot 1 -> 4.  6 -> 5.
# 7: +3 to D2, D2 full, no next -> append D3, slot 0 -> 3 (undercount).
# remove 2: D1 slot 1; highest used slot of D1 is 2 (3) -> D1 [1,3,_].
# add 8: D1's last slot free -> stay, first free 2 -> 2.  remove 5: D2 slot 1,
# D2's highest (6) into it -> [4,6,_].  add 9: D1 full and D2 exists -> +3,
# D2's last slot free -> stay, slot 2 -> 5.


# remove: "scan descriptors from the first, slots while non-empty; on a match
# at slot i, move the highest used slot of *that same* descriptor into i and
# clear it; if the descriptor became empty, unlink and free it (the head
# becomes 0 if it was the only one).  A list never returns to the
# single-pointer form.  Removing an spte that is not there is a BUG."
OLD_REMOVE_OPS = """\
add 3 5
remove 3 6
count 3
add 0 1
add 0 2
add 0 3
add 0 4
add 0 5
add 0 6
add 0 7
add 0 8
add 0 9
remove 0 5
remove 0 4
remove 0 6
walk 0
count 0
remove 0 3
remove 0 1
remove 0 2
remove 0 8
remove 0 7
walk 0
count 0
remove 0 42
remove 0 9
remove 0 9
walk 0
count 0
add 2 1
add 2 2
add 2 3
remove 2 1
remove 2 2
"""
OLD_REMOVE = """\
{"op": "add", "head": 3, "spte": 5, "ret": 0}
{"op": "remove", "head": 3, "spte": 6, "ret": "BUG"}
{"op": "count", "head": 3, "ret": 1}
{"op": "add", "head": 0, "spte": 1, "ret": 0}
{"op": "add", "head": 0, "spte": 2, "ret": 1}
{"op": "add", "head": 0, "spte": 3, "ret": 2}
{"op": "add", "head": 0, "spte": 4, "ret": 0}
{"op": "add", "head": 0, "spte": 5, "ret": 4}
{"op": "add", "head": 0, "spte": 6, "ret": 5}
{"op": "add", "head": 0, "spte": 7, "ret": 3}
{"op": "add", "head": 0, "spte": 8, "ret": 7}
{"op": "add", "head": 0, "spte": 9, "ret": 8}
{"op": "remove", "head": 0, "spte": 5, "ret": null}
{"op": "remove", "head": 0, "spte": 4, "ret": null}
{"op": "remove", "head": 0, "spte": 6, "ret": null}
{"op": "walk", "head": 0, "ret": [1, 2, 3, 7, 8, 9]}
{"op": "count", "head": 0, "ret": 6}
{"op": "remove", "head": 0, "spte": 3, "ret": null}
{"op": "remove", "head": 0, "spte": 1, "ret": null}
{"op": "remove", "head": 0, "spte": 2, "ret": null}
{"op": "remove", "head": 0, "spte": 8, "ret": null}
{"op": "remove", "head": 0, "spte": 7, "ret": null}
{"op": "walk", "head": 0, "ret": [9]}
{"op": "count", "head": 0, "ret": 1}
{"op": "remove", "head": 0, "spte": 42, "ret": "BUG"}
{"op": "remove", "head": 0, "spte": 9, "ret": null}
{"op": "remove", "head": 0, "spte": 9, "ret": "BUG"}
{"op": "walk", "head": 0, "ret": []}
{"op": "count", "head": 0, "ret": 0}
{"op": "add", "head": 2, "spte": 1, "ret": 0}
{"op": "add", "head": 2, "spte": 2, "ret": 1}
{"op": "add", "head": 2, "spte": 3, "ret": 2}
{"op": "remove", "head": 2, "spte": 1, "ret": null}
{"op": "remove", "head": 2, "spte": 2, "ret": null}
{"head": 0, "form": "empty", "descs": []}
{"head": 2, "form": "many", "descs": [[3, null, null]]}
{"head": 3, "form": "single", "single": 5, "descs": []}
"""
# by hand: head 3 is touched first but printed last (sorted by head); the
# BUG on a single pointer holding another spte leaves it as it was.
# Head 0 after 9 adds: D1 [1,2,3] D2 [4,5,6] D3 [7,8,9] (rets 0 1 2 0 4 5 3,
# then 8: +3 +3, slot 1 -> 7; 9 -> 8).  remove 5: D2 -> [4,6,_]; remove 4:
# D2 -> [6,_,_]; remove 6: D2 empty -> unlinked from the MIDDLE (D1.more =
# D3).  remove 3: D1 [1,2,_]; 1: [2,_,_]; 2: D1 empty -> head points at D3.
# remove 8: D3 [7,9,_]; 7: [9,_,_] and it STAYS a descriptor (no return to
# the single form).  42 is not there: BUG.  remove 9: only descriptor empty
# -> head 0.  remove 9 again from an empty head: BUG.
# Head 2: [1,2,3]; remove 1 -> [3,2,_]; remove 2 -> [3,_,_], printed as a
# one-entry descriptor: "A list never returns to the single-pointer form."


@pytest.mark.parametrize("ops,expected", [(OLD_ADD_OPS, OLD_ADD),
                                          (OLD_REMOVE_OPS, OLD_REMOVE)],
                         ids=["add", "remove"])
def test_old(ops, expected, tmp_path):
    _check("old", 3, ops, expected, tmp_path)


# ---------------------------------------------------------------------------
# new [3] and new-fixed [3]
#
# add: "if the first descriptor's last slot is used, allocate a new descriptor
# and insert it at the *front*; store in the first free slot of the first
# descriptor; return the total count computed by walking the whole chain
# (first descriptor's used slots plus EXT per further descriptor), i.e. the
# count *after* the add".  (Section 2: the second add returns 1 everywhere.)
# remove: "find the spte (scan as in `old`); move the highest used slot of the
# *first* descriptor into the hole and clear it; if the first descriptor
# became empty, free it and point the head at the next one; else if it holds
# exactly one spte and has no next, return to the single-pointer form and
# free it.  Failures are WARNs, not BUGs: removing from an empty list warns;
# removing a different spte from a single-pointer list warns *and clears the
# head*; an spte not found in a chain warns."
# new-fixed: "add returns the count before the add; failures are BUGs again
# (state left unchanged)."
NEW_OPS = """\
add 0 1
add 0 2
add 0 3
add 0 4
add 0 5
add 0 6
add 0 7
remove 0 2
remove 0 4
walk 0
count 0
remove 0 1
remove 0 6
remove 0 7
remove 0 5
walk 0
remove 0 99
count 0
walk 0
remove 0 3
remove 0 3
add 1 1
add 1 2
add 1 3
add 1 4
remove 1 50
add 1 5
walk 1
count 1
add 2 1
add 2 2
add 2 3
remove 2 1
remove 2 2
"""
# by hand (EXT 3):
#  add 3: D1 [1,2,3].  add 4: D1's last slot used -> D2 in FRONT, [4,_,_];
#  after-count 1 + 3.  add 7: D3 in front of D2 [4,5,6].
#  chain: D3 [7,_,_]  D2 [4,5,6]  D1 [1,2,3]
#  remove 2 (D1 slot 1): the first descriptor's highest used slot is D3's 0
#   (7) -> D1 [1,7,3]; D3 empty -> freed, head -> D2.
#  remove 4 (D2 = first, slot 0): highest used of the first is slot 2 (6),
#   moved backwards into slot 0 (the review's case) -> D2 [6,5,_].
#  remove 1 (D1 slot 0): D2's slot 1 (5) -> D1 [5,7,3], D2 [6,_,_].
#  remove 6: D2 empty -> freed, head -> D1 [5,7,3].
#  remove 7: D1 slot 1 <- slot 2 (3) -> [5,3,_].
#  remove 5: D1 slot 0 <- slot 1 (3) -> [3,_,_]: one spte, no next -> back to
#   the single-pointer form, head word = 3.
#  remove 99 from a single pointer holding 3: new WARNs and clears the head;
#   new-fixed BUGs and keeps it.
NEW_COMMON_HEAD = """\
{"op": "add", "head": 0, "spte": 1, "ret": 0}
{"op": "add", "head": 0, "spte": 2, "ret": 1}
{"op": "add", "head": 0, "spte": 3, "ret": %d}
{"op": "add", "head": 0, "spte": 4, "ret": %d}
{"op": "add", "head": 0, "spte": 5, "ret": %d}
{"op": "add", "head": 0, "spte": 6, "ret": %d}
{"op": "add", "head": 0, "spte": 7, "ret": %d}
{"op": "remove", "head": 0, "spte": 2, "ret": null}
{"op": "remove", "head": 0, "spte": 4, "ret": null}
{"op": "walk", "head": 0, "ret": [6, 5, 1, 7, 3]}
{"op": "count", "head": 0, "ret": 5}
{"op": "remove", "head": 0, "spte": 1, "ret": null}
{"op": "remove", "head": 0, "spte": 6, "ret": null}
{"op": "remove", "head": 0, "spte": 7, "ret": null}
{"op": "remove", "head": 0, "spte": 5, "ret": null}
{"op": "walk", "head": 0, "ret": [3]}
"""
NEW = NEW_COMMON_HEAD % (3, 4, 5, 6, 7) + """\
{"op": "remove", "head": 0, "spte": 99, "ret": "WARN"}
{"op": "count", "head": 0, "ret": 0}
{"op": "walk", "head": 0, "ret": []}
{"op": "remove", "head": 0, "spte": 3, "ret": "WARN"}
{"op": "remove", "head": 0, "spte": 3, "ret": "WARN"}
{"op": "add", "head": 1, "spte": 1, "ret": 0}
{"op": "add", "head": 1, "spte": 2, "ret": 1}
{"op": "add", "head": 1, "spte": 3, "ret": 3}
{"op": "add", "head": 1, "spte": 4, "ret": 4}
{"op": "remove", "head": 1, "spte": 50, "ret": "WARN"}
{"op": "add", "head": 1, "spte": 5, "ret": 5}
{"op": "walk", "head": 1, "ret": [4, 5, 1, 2, 3]}
{"op": "count", "head": 1, "ret": 5}
{"op": "add", "head": 2, "spte": 1, "ret": 0}
{"op": "add", "head": 2, "spte": 2, "ret": 1}
{"op": "add", "head": 2, "spte": 3, "ret": 3}
{"op": "remove", "head": 2, "spte": 1, "ret": null}
{"op": "remove", "head": 2, "spte": 2, "ret": null}
{"head": 0, "form": "empty", "descs": []}
{"head": 1, "form": "many", "descs": [[4, 5, null], [1, 2, 3]]}
{"head": 2, "form": "single", "single": 3, "descs": []}
"""
# new: the head was cleared by the WARN, so both removes of 3 hit an empty
# list (WARN).  Head 1: 50 is not in the chain -> WARN, chain unchanged; add 5
# goes into the first descriptor's first free slot, after-count 2 + 3 = 5.
NEW_FIXED = NEW_COMMON_HEAD % (2, 3, 4, 5, 6) + """\
{"op": "remove", "head": 0, "spte": 99, "ret": "BUG"}
{"op": "count", "head": 0, "ret": 1}
{"op": "walk", "head": 0, "ret": [3]}
{"op": "remove", "head": 0, "spte": 3, "ret": null}
{"op": "remove", "head": 0, "spte": 3, "ret": "BUG"}
{"op": "add", "head": 1, "spte": 1, "ret": 0}
{"op": "add", "head": 1, "spte": 2, "ret": 1}
{"op": "add", "head": 1, "spte": 3, "ret": 2}
{"op": "add", "head": 1, "spte": 4, "ret": 3}
{"op": "remove", "head": 1, "spte": 50, "ret": "BUG"}
{"op": "add", "head": 1, "spte": 5, "ret": 4}
{"op": "walk", "head": 1, "ret": [4, 5, 1, 2, 3]}
{"op": "count", "head": 1, "ret": 5}
{"op": "add", "head": 2, "spte": 1, "ret": 0}
{"op": "add", "head": 2, "spte": 2, "ret": 1}
{"op": "add", "head": 2, "spte": 3, "ret": 2}
{"op": "remove", "head": 2, "spte": 1, "ret": null}
{"op": "remove", "head": 2, "spte": 2, "ret": null}
{"head": 0, "form": "empty", "descs": []}
{"head": 1, "form": "many", "descs": [[4, 5, null], [1, 2, 3]]}
{"head": 2, "form": "single", "single": 3, "descs": []}
"""
# new-fixed: the BUG left the single pointer 3 in place (count 1, walk [3]),
# so remove 3 succeeds and the next one BUGs on the empty head.
# Head 2 (both): [1,2,3]; remove 1 -> [3,2,_]; remove 2 -> [3,_,_]: one spte
# and no next -> "return to the single-pointer form": single 3.


@pytest.mark.parametrize("variant,expected", [("new", NEW), ("new-fixed", NEW_FIXED)])
def test_new_and_new_fixed(variant, expected, tmp_path):
    _check(variant, 3, NEW_OPS, expected, tmp_path)


# ---------------------------------------------------------------------------
# kvm-2021 [14]
#
# add: "from the first descriptor, while the current one is full add EXT to
# the count and move on, appending a new tail descriptor if there is no next;
# then add the reached descriptor's count and store at its count.  (Entries
# in descriptors after the first non-full one are not counted.)"
# remove: "on a match, move that same descriptor's last entry into the hole;
# free the descriptor when empty (unlink; head 0 if it was the only one).
# Failures are BUGs."  Walk and count stop at each descriptor's count.
KVM2021_OPS = """\
add 0 1
add 0 2
add 0 3
add 0 4
add 0 5
add 0 6
add 0 7
add 0 8
add 0 9
remove 0 5
add 0 10
remove 0 1
add 0 11
remove 0 4
remove 0 6
remove 0 10
walk 0
count 0
remove 0 3
remove 0 2
remove 0 11
remove 0 8
remove 0 7
walk 0
count 0
remove 0 77
remove 0 9
remove 0 9
add 1 3
remove 1 4
count 1
add 2 1
add 2 2
add 2 3
remove 2 1
remove 2 2
"""
KVM2021 = """\
{"op": "add", "head": 0, "spte": 1, "ret": 0}
{"op": "add", "head": 0, "spte": 2, "ret": 1}
{"op": "add", "head": 0, "spte": 3, "ret": 2}
{"op": "add", "head": 0, "spte": 4, "ret": 3}
{"op": "add", "head": 0, "spte": 5, "ret": 4}
{"op": "add", "head": 0, "spte": 6, "ret": 5}
{"op": "add", "head": 0, "spte": 7, "ret": 6}
{"op": "add", "head": 0, "spte": 8, "ret": 7}
{"op": "add", "head": 0, "spte": 9, "ret": 8}
{"op": "remove", "head": 0, "spte": 5, "ret": null}
{"op": "add", "head": 0, "spte": 10, "ret": 5}
{"op": "remove", "head": 0, "spte": 1, "ret": null}
{"op": "add", "head": 0, "spte": 11, "ret": 2}
{"op": "remove", "head": 0, "spte": 4, "ret": null}
{"op": "remove", "head": 0, "spte": 6, "ret": null}
{"op": "remove", "head": 0, "spte": 10, "ret": null}
{"op": "walk", "head": 0, "ret": [3, 2, 11, 7, 8, 9]}
{"op": "count", "head": 0, "ret": 6}
{"op": "remove", "head": 0, "spte": 3, "ret": null}
{"op": "remove", "head": 0, "spte": 2, "ret": null}
{"op": "remove", "head": 0, "spte": 11, "ret": null}
{"op": "remove", "head": 0, "spte": 8, "ret": null}
{"op": "remove", "head": 0, "spte": 7, "ret": null}
{"op": "walk", "head": 0, "ret": [9]}
{"op": "count", "head": 0, "ret": 1}
{"op": "remove", "head": 0, "spte": 77, "ret": "BUG"}
{"op": "remove", "head": 0, "spte": 9, "ret": null}
{"op": "remove", "head": 0, "spte": 9, "ret": "BUG"}
{"op": "add", "head": 1, "spte": 3, "ret": 0}
{"op": "remove", "head": 1, "spte": 4, "ret": "BUG"}
{"op": "count", "head": 1, "ret": 1}
{"op": "add", "head": 2, "spte": 1, "ret": 0}
{"op": "add", "head": 2, "spte": 2, "ret": 1}
{"op": "add", "head": 2, "spte": 3, "ret": 2}
{"op": "remove", "head": 2, "spte": 1, "ret": null}
{"op": "remove", "head": 2, "spte": 2, "ret": null}
{"head": 0, "form": "empty", "descs": []}
{"head": 1, "form": "single", "single": 3, "descs": []}
{"head": 2, "form": "many", "descs": [[3, null, null]]}
"""
# by hand (EXT 3): packed adds count exactly: D1 [1,2,3] D2 [4,5,6] D3 [7,8,9],
# rets 0..8 (add 4: D1 full, +3, no next -> new tail D2, + its count 0 -> 3).
# remove 5: D2's last entry (6) into slot 1 -> [4,6,_].  add 10: D1 full +3,
# D2 has count 2 -> 3 + 2 = 5 (true count 8: D3 not counted) -> [4,6,10].
# remove 1: D1 [3,2,_].  add 11: D1 count 2 -> 2 (true 9) -> [3,2,11].
# remove 4: D2 [10,6,_]; 6: [10,_,_]; 10: D2 empty, unlinked from the middle.
# remove 3: D1 [11,2,_]; 2: [11,_,_]; 11: D1 empty -> head -> D3 [7,8,9].
# remove 8: [7,9,_]; 7: [9,_,_] (stays a descriptor).  77: BUG.  9: head 0.
# Head 2: [1,2,3]; remove 1 -> [3,2,_]; remove 2 -> [3,_,_] stays a descriptor.


def test_kvm2021(tmp_path):
    _check("kvm-2021", 3, KVM2021_OPS, KVM2021, tmp_path)


def test_kvm2021_default_ext_is_14(tmp_path):
    # DESIGN: "`kvm-2021` [14]"; 16 packed adds fill D1's 14 slots, then D2.
    ops = "".join(f"add 0 {i}\n" for i in range(1, 17)) + "count 0\n"
    expected = "".join('{"op": "add", "head": 0, "spte": %d, "ret": %d}\n' % (i, i - 1)
                       for i in range(1, 17))
    expected += '{"op": "count", "head": 0, "ret": 16}\n'
    expected += json.dumps({"head": 0, "form": "many",
                            "descs": [list(range(1, 15)), [15, 16] + [None] * 12]})
    _check("kvm-2021", None, ops, expected, tmp_path)


# ---------------------------------------------------------------------------
# kvm-2023 [14] (and kvm-2023-lf, which README.md defines as kvm-2023 with the
# walk reading each descriptor from its last slot down; DESIGN.md section 3
# does not list it)
#
# "descriptor has `more`, a 32-bit count of its own entries and a 32-bit
# count of all entries in the descriptors after it; every descriptor but the
# first is always full.  add: count = head's own + tail count; if the first
# descriptor is full, insert a new first descriptor whose tail count is that
# count; store at the first descriptor's count; return the count (exact,
# O(1)).  remove: on a match anywhere, move the first descriptor's last entry
# into the hole; free the first descriptor when it becomes empty (head ->
# next, or 0).  `count` is O(1).  Failures are BUGs."
# count reads only the first descriptor's own + tail count, so a wrong tail
# count after the front inserts and removals below shows in `count`.
KVM2023_OPS = """\
add 0 1
add 0 2
add 0 3
add 0 4
add 0 5
add 0 6
add 0 7
count 0
remove 0 1
count 0
remove 0 5
count 0
remove 0 4
remove 0 6
count 0
add 0 8
add 0 9
add 0 10
add 0 11
count 0
walk 0
remove 0 2
count 0
walk 0
remove 0 42
remove 0 9
count 0
remove 0 8
remove 0 10
count 0
remove 0 11
remove 0 7
count 0
walk 0
remove 0 3
count 0
add 1 5
remove 1 6
count 1
add 2 1
add 2 2
add 2 3
remove 2 1
remove 2 2
"""
KVM2023 = """\
{"op": "add", "head": 0, "spte": 1, "ret": 0}
{"op": "add", "head": 0, "spte": 2, "ret": 1}
{"op": "add", "head": 0, "spte": 3, "ret": 2}
{"op": "add", "head": 0, "spte": 4, "ret": 3}
{"op": "add", "head": 0, "spte": 5, "ret": 4}
{"op": "add", "head": 0, "spte": 6, "ret": 5}
{"op": "add", "head": 0, "spte": 7, "ret": 6}
{"op": "count", "head": 0, "ret": 7}
{"op": "remove", "head": 0, "spte": 1, "ret": null}
{"op": "count", "head": 0, "ret": 6}
{"op": "remove", "head": 0, "spte": 5, "ret": null}
{"op": "count", "head": 0, "ret": 5}
{"op": "remove", "head": 0, "spte": 4, "ret": null}
{"op": "remove", "head": 0, "spte": 6, "ret": null}
{"op": "count", "head": 0, "ret": 3}
{"op": "add", "head": 0, "spte": 8, "ret": 3}
{"op": "add", "head": 0, "spte": 9, "ret": 4}
{"op": "add", "head": 0, "spte": 10, "ret": 5}
{"op": "add", "head": 0, "spte": 11, "ret": 6}
{"op": "count", "head": 0, "ret": 7}
{"op": "walk", "head": 0, "ret": %s}
{"op": "remove", "head": 0, "spte": 2, "ret": null}
{"op": "count", "head": 0, "ret": 6}
{"op": "walk", "head": 0, "ret": %s}
{"op": "remove", "head": 0, "spte": 42, "ret": "BUG"}
{"op": "remove", "head": 0, "spte": 9, "ret": null}
{"op": "count", "head": 0, "ret": 5}
{"op": "remove", "head": 0, "spte": 8, "ret": null}
{"op": "remove", "head": 0, "spte": 10, "ret": null}
{"op": "count", "head": 0, "ret": 3}
{"op": "remove", "head": 0, "spte": 11, "ret": null}
{"op": "remove", "head": 0, "spte": 7, "ret": null}
{"op": "count", "head": 0, "ret": 1}
{"op": "walk", "head": 0, "ret": [3]}
{"op": "remove", "head": 0, "spte": 3, "ret": null}
{"op": "count", "head": 0, "ret": 0}
{"op": "add", "head": 1, "spte": 5, "ret": 0}
{"op": "remove", "head": 1, "spte": 6, "ret": "BUG"}
{"op": "count", "head": 1, "ret": 1}
{"op": "add", "head": 2, "spte": 1, "ret": 0}
{"op": "add", "head": 2, "spte": 2, "ret": 1}
{"op": "add", "head": 2, "spte": 3, "ret": 2}
{"op": "remove", "head": 2, "spte": 1, "ret": null}
{"op": "remove", "head": 2, "spte": 2, "ret": null}
{"head": 0, "form": "empty", "descs": []}
{"head": 1, "form": "single", "single": 5, "descs": []}
{"head": 2, "form": "many", "descs": [[3, null, null]]}
"""
# by hand (EXT 3):
#  adds 1..3: D1 [1,2,3] (tail 0), rets 0 1 2.  add 4: count 3, D1 full ->
#  new first D2 (tail 3) [4,_,_], ret 3.  5, 6 -> 4, 5.  add 7: count 6, D2
#  full -> new first D3 (tail 6) [7,_,_], ret 6.  count: 1 + 6 = 7.
#  remove 1 (D1 slot 0): D3's last entry 7 into the hole -> D1 [7,2,3]; D3
#   empty -> freed, head -> D2 (own 3 + tail 3 = 6).
#  remove 5: D2 [4,6,_] (5).  remove 4: D2 [6,_,_].  remove 6: D2 empty ->
#   head -> D1 [7,2,3], tail 0 -> count 3.
#  add 8: count 3, D1 full -> new first D4 (tail 3) [8,_,_], ret 3; 9 -> 4;
#   10 -> 5; add 11: count 6, D4 full -> D5 (tail 6) [11,_,_], ret 6; count 7.
#   chain: D5 [11,_,_]  D4 [8,9,10]  D1 [7,2,3]
#  remove 2 (D1 slot 1): D5's 11 into it -> D1 [7,11,3]; D5 freed, head -> D4
#   (3 + 3 = 6).  42: BUG.  remove 9: D4 [8,10,_] (5).  8: [10,_,_]; 10: D4
#   freed, head -> D1 [7,11,3] (3 + 0).  11: [7,3,_]; 7: [3,_,_] (1; still a
#   descriptor, no single form).  remove 3: head 0.
#  Head 2: [1,2,3]; remove 1 -> [3,2,_]; remove 2 -> [3,_,_]: kvm-2023 has no
#   return to the single form (where new/new-fixed would print single 3).
KVM2023_WALKS = {
    # section 2: slots in increasing index, first descriptor first
    "kvm-2023": ([11, 8, 9, 10, 7, 2, 3], [8, 9, 10, 7, 11, 3]),
    # README.md: each descriptor from its last used slot down to slot 0
    "kvm-2023-lf": ([11, 10, 9, 8, 3, 2, 7], [10, 9, 8, 3, 11, 7]),
}


@pytest.mark.parametrize("variant", sorted(KVM2023_WALKS))
def test_kvm2023_tail_count(variant, tmp_path):
    w1, w2 = KVM2023_WALKS[variant]
    _check(variant, 3, KVM2023_OPS, KVM2023 % (json.dumps(w1), json.dumps(w2)), tmp_path)


def test_kvm2023_layout_mid_trace(tmp_path):
    # the slot layout at the interesting point above (after remove 2):
    # D4 [8,9,10] first, D1 [7,11,3] second.
    ops = KVM2023_OPS.split("remove 0 42")[0]
    recs = _lines(KVM2023 % ("[11, 8, 9, 10, 7, 2, 3]", "[8, 9, 10, 7, 11, 3]"))
    n_ops = len(parse_ops(ops.splitlines()))
    expected = recs[:n_ops] + [{"head": 0, "form": "many",
                                "descs": [[8, 9, 10], [7, 11, 3]]}]
    _check("kvm-2023", 3, ops, "\n".join(json.dumps(r) for r in expected), tmp_path)
