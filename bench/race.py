"""Race explorer for lockless rmap walks (DESIGN.md section 7).

One walker reads one machine word per step, in its variant's own walk
order, while writer operations (an add of a fresh spte, or a remove of a
present one) are applied atomically between two walker steps.  Freed
descriptors are never reused while the walk runs: a walker holding a
pointer to one keeps reading its last contents, and its `more`.  The
question, per variant: can an spte that is present for the whole walk be
missed?

The walker is the suite's, one step per word, following the walk the
variant declares (PTE_LIST_DECLARE in native/rmap.h).  The writers are the
variant's own C code: each op rebuilds the head and its descriptors in C
memory from the explorer's state, runs pte_list_add()/pte_list_remove() of
the compiled variant, and reads the result back through the declared
layout (rb_state_apply, native/api.c), with an allocator that never reuses
a descriptor and logs which ones an op allocated and freed.  So the
explorer needs nothing per variant, and runs on a user's variant file as
on a built-in.  States are immutable tuples (hashable, explored breadth
first); the ops are memoised per state.

explore_stores() (at the end of this file) runs the same search with every
writer op stopped after any of its stores through RMAP_STORE(), walker
steps run there: check's build of the variant calls a hook after each such
store (native/rmap.h, api.c).

A variant that declares PTE_LIST_HEAD_LOCK is explored twice by `check`:
with a walker that takes the head lock for its whole walk (writers take it
too, so none runs while the walker holds it), and with one that does not.

Walker steps (one word each):

  head      read the head word: empty -> done; a single spte -> visit, done;
            a descriptor -> start it
  forward walks (fwd-null: stop at the first empty slot):
  slot D i  read D.sptes[i]: empty -> `more`; else visit, i+1 (EXT -> `more`)
  forward counted walks (fwd-count):
  cnt D i   read D.spte_count: i < count -> `slot`; else `more`
  slot D i  read D.sptes[i], visit it, then `cnt D i+1`
  reverse counted walk (rev-count):
  cnt D     read D.spte_count c once, then `slot D c-1`
  slot D i  read D.sptes[i], visit it unless empty, then i-1 (-1 -> `more`)
  more D    read D.more: none -> done; else start that descriptor

The search: for each initial list length n = 0, 1, ... max_len, every
layout the variant can reach from an empty head without ever holding more
than max_len sptes is a start state (its ids relabelled 1..n in slot
order); from all of them at once, a breadth-first search over events
(walker step, or writer op while fewer than max_ops were applied) visits
every interleaving, deduplicating identical states.  The first walk that
ends with an original spte neither visited nor removed is a counterexample
with the fewest events for the smallest n that has one.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

from . import isolate

# slot-level descriptor fields in a state tuple
S, MORE, CNT, TAIL, LIVE = range(5)

FRESH_BASE = 100     # ids of sptes added during the walk: 101, 102, ...
GONE_BASE = 200      # ids removed while building an initial layout: 201, ...



# ---------------------------------------------------------------------------
# Writer ops: the variant's own C code (rb_state_apply, native/api.c)
# ---------------------------------------------------------------------------

EMPTY_MEM = (None, ())
X = 0               # the quotient search's token for an spte that no longer matters
_XBASE = 1 << 40    # C pointer values for X tokens: unique per slot


class Writer:
    """Writer ops of one variant at one EXT, run by its C kernel on a head
    rebuilt from an explorer state (and read back through the declared
    layout), memoised per state.  Spte ids are stored as (id + 1) << 3;
    every X token gets its own pointer, so that a remove by position
    removes exactly that slot's entry."""

    def __init__(self, variant: str, ext: int):
        from .native import Rmap, load
        # check's build: the same code, with a hook after every RMAP_STORE()
        self.kernel = load(variant, ext, check_stores=True)
        self.layout = self.kernel.layout
        self.ext = ext
        self.rmap = Rmap(self.kernel, 1, alloc="track", expected=64)
        self.memo: dict = {}
        self.seg_memo: dict = {}
        self.seg_ids: list = []

    def _encode(self, mem):
        head, descs = mem
        table: dict[int, int] = {}
        nx = [0]

        def enc(v):
            if v is None:
                return 0
            if v == X:
                nx[0] += 1
                p = (_XBASE + nx[0]) << 3
            else:
                p = (v + 1) << 3
            table[p] = v
            return p

        if head is None:
            flat = [0, 0]
        elif head[0] == "s":
            flat = [1, enc(head[1])]
        else:
            flat = [2, head[1]]
        flat.append(len(descs))
        for x in descs:
            flat += [1 if x[LIVE] else 0, -1 if x[MORE] is None else x[MORE], x[CNT], x[TAIL]]
            flat += [enc(v) for v in x[S]]
        return flat, table

    def _decode(self, out, table):
        ext = self.ext

        def dec(p):
            if p == 0:
                return None
            if p in table:
                return table[p]
            if p >> 3 >= _XBASE:
                return X
            return (p >> 3) - 1

        kind, hval, nd = out[0], out[1], out[2]
        head = None if kind == 0 else ("s", dec(hval)) if kind == 1 else ("d", hval)
        descs, w = [], 3
        for _ in range(nd):
            live, more, cnt, tail = out[w:w + 4]
            descs.append((tuple(dec(p) for p in out[w + 4:w + 4 + ext]),
                          None if more < 0 else more, cnt, tail, bool(live)))
            w += 4 + ext
        return head, tuple(descs)

    def _run(self, mem, op: str, ptr_of):
        flat, table = self._encode(mem)
        spte = ptr_of(flat, table)
        if isolate.ACTIVE:      # a user's variant, in a child: what a crash was doing
            isolate.detail(f"writer op {op} {table.get(spte, '?')} on {_fmt_mem(mem)}")
        ret, out = self.rmap.state_apply(flat, op, spte)
        if op == "remove":
            from .native import RMAP_STATUS
            ret = RMAP_STATUS.get(ret, ret)
        return self._decode(out, table), ret

    def apply(self, mem, op: str, spte: int):
        """One atomic add or remove of spte id (X: a fresh token)."""
        key = (mem, op, spte)
        r = self.memo.get(key)
        if r is None:
            r = self.memo[key] = self._run(mem, op, self._ptr(op, spte))
        return r

    def remove_at(self, mem, pos):
        """Remove the entry at pos (None: the single head; else (desc,
        slot)), whatever its value."""
        key = (mem, "at", pos)
        r = self.memo.get(key)
        if r is None:
            W = 4 + self.ext

            def ptr(flat, table):
                return flat[1] if pos is None else flat[3 + pos[0] * W + 4 + pos[1]]
            r = self.memo[key] = self._run(mem, "remove", ptr)
        return r

    # -- store by store (explore_stores) --------------------------------------

    def _ptr(self, op: str, spte):
        if op == "add" and spte == X:
            def ptr(flat, table):
                p = (_XBASE - 1) << 3
                table[p] = X
                return p
        else:
            def ptr(flat, table):
                p = (spte + 1) << 3
                table.setdefault(p, spte)
                return p
        return ptr

    def _store_name(self, info, table) -> str:
        """'D0.slot[1] = 2', 'head = D1', ...: the stopping store."""
        def dec(p):
            if p == 0:
                return "empty"
            if p in table:
                return str(table[p])
            return "x" if p >> 3 >= _XBASE else str((p >> 3) - 1)

        v, word, k = info["value"], info["word"], info["desc"]
        if word == "head":
            if v & ~2 == 0:
                txt = "head = empty"
            elif v & 1:
                txt = f"head = D{info['value_desc']}"
            else:
                txt = f"head = spte {dec(v & ~2)}"
            return txt + (" (locked)" if v & 2 else "")
        if word == "slot":
            return f"D{k}.slot[{info['slot']}] = {dec(v)}"
        if word == "more":
            return f"D{k}.more = " + (f"D{info['value_desc']}" if v else "none")
        if word in ("count", "tail"):
            return f"D{k}.{word} = {v}"
        return f"a word at D{k}" if k >= 0 else "a word outside the head and its descriptors"

    def segments(self, mem, op: str, spte) -> int:
        """The op split at its stores: an id for seg(id), which gives
        (start mem, op, spte, ret, names, points); names[k-1] names store k
        (1-based), points are (mem, k, locked): the state a walker sees
        right after store k, for every k after which the op can be stopped,
        then (final mem, S, False).  Trailing stops whose state is the final
        one but for freed flags (and the lock bit) are left out: stopping
        there is finishing."""
        key = (mem, op, spte)
        sid = self.seg_memo.get(key)
        if sid is not None:
            return sid
        ptr = self._ptr(op, spte)
        points, names, where, k = [], [], [], 0
        while True:
            k += 1
            flat, table = self._encode(mem)
            p = ptr(flat, table)
            if isolate.ACTIVE:
                isolate.detail(f"writer op {op} {table.get(p, '?')} stopped after store {k}, "
                               f"on {_fmt_mem(mem)}")
            ret, out, info = self.rmap.state_apply_stop(flat, op, p, k)
            m2 = self._decode(out, table)
            if not info["stopped"]:
                break
            names.append(self._store_name(info, table))
            where.append(-1 if info["word"] == "head" else info["desc"])
            points.append((m2, k, info["locked"]))
        # no stop right before a store into a descriptor nothing links yet
        n0 = len(mem[1])

        def unlinked(m, d):
            head, descs = m
            return d >= n0 and not (head is not None and head[0] == "d" and head[1] == d) \
                and all(x[MORE] != d for x in descs)
        points = [pt for pt in points
                  if not (pt[1] < len(where) and unlinked(pt[0], where[pt[1]]))]
        if op == "remove":
            from .native import RMAP_STATUS
            ret = RMAP_STATUS.get(ret, ret)
        final = m2
        nstores = info["stores"]

        def vis(m):
            return (m[0], tuple(x[:LIVE] for x in m[1]))
        while points and vis(points[-1][0]) == vis(final):
            points.pop()
        points.append((final, nstores, False))
        sid = len(self.seg_ids)
        self.seg_ids.append((mem, op, spte, ret, tuple(names), tuple(points)))
        self.seg_memo[key] = sid
        return sid

    def seg(self, sid: int):
        return self.seg_ids[sid]

    def positions(self, mem) -> list:
        """Where the live sptes are: [None] for a single head, else (desc,
        slot) pairs in chain and slot order."""
        head, descs = mem
        if head is None:
            return []
        if head[0] == "s":
            return [None]
        out, k = [], head[1]
        while k is not None:
            out.extend((k, i) for i, v in enumerate(descs[k][S]) if v is not None)
            k = descs[k][MORE]
        return out


@functools.lru_cache(maxsize=None)
def writer(variant: str, ext: int) -> Writer:
    return Writer(variant, ext)


def walk_kind(variant: str, ext: int) -> str:
    """The walk the variant declares (PTE_LIST_DECLARE)."""
    return writer(variant, ext).layout.walk


def head_lock(variant: str, ext: int) -> bool:
    return writer(variant, ext).layout.head_lock


def apply_op(variant: str, ext: int, mem, op: str, spte: int):
    """One atomic writer op on an immutable state: returns (new state, ret)."""
    return writer(variant, ext).apply(mem, op, spte)


def live_sptes(mem) -> list[int]:
    """The sptes in the live structure, in slot order (first desc first)."""
    head, descs = mem
    if head is None:
        return []
    if head[0] == "s":
        return [head[1]]
    out, k = [], head[1]
    while k is not None:
        out.extend(s for s in descs[k][S] if s is not None)
        k = descs[k][MORE]
    return out


def layout(mem, h: int = 0) -> dict:
    """The state's layout in `rmapbench trace` form."""
    head, descs = mem
    if head is None:
        return {"head": h, "form": "empty", "descs": []}
    if head[0] == "s":
        return {"head": h, "form": "single", "single": head[1], "descs": []}
    out, k = [], head[1]
    while k is not None:
        out.append(list(descs[k][S]))
        k = descs[k][MORE]
    return {"head": h, "form": "many", "descs": out}


def build(variant: str, ext: int, ops) -> tuple:
    """Run (op, spte) pairs from the empty head; returns the state."""
    mem = EMPTY_MEM
    for op, s in ops:
        mem, _ = apply_op(variant, ext, mem, op, s)
    return mem


# ---------------------------------------------------------------------------
# Initial layouts
# ---------------------------------------------------------------------------

def _canonical(mem, history):
    """Relabel: live sptes 1..n in slot order, descriptors 0.. in chain order
    (freed ones dropped); ids removed in the history become 201, 202, ..."""
    live = live_sptes(mem)
    ren = {s: i + 1 for i, s in enumerate(live)}
    gone = GONE_BASE
    for _, s in history:
        if s not in ren:
            gone += 1
            ren[s] = gone
    head, descs = mem
    if head is None:
        return (None, ()), [(op, ren[s]) for op, s in history]
    if head[0] == "s":
        return (("s", ren[head[1]]), ()), [(op, ren[s]) for op, s in history]
    order, k = [], head[1]
    while k is not None:
        order.append(k)
        k = descs[k][MORE]
    pos = {k: i for i, k in enumerate(order)}
    new = []
    for k in order:
        x = descs[k]
        new.append((tuple(ren[s] if s is not None else None for s in x[S]),
                    pos[x[MORE]] if x[MORE] is not None else None, x[CNT], x[TAIL], True))
    return (("d", 0), tuple(new)), [(op, ren[s]) for op, s in history]


def initial_layouts(variant: str, ext: int, max_len: int) -> dict[int, list]:
    """n -> [(state, history)]: every layout reachable from the empty head by
    adds and removes that never hold more than max_len sptes, relabelled,
    each with a shortest history that builds it."""
    start = (EMPTY_MEM, [])
    seen = {EMPTY_MEM: []}
    q = deque([start])
    nxt = 1000
    while q:
        mem, hist = q.popleft()
        live = live_sptes(mem)
        moves = [("remove", s) for s in live]
        if len(live) < max_len:
            nxt += 1
            moves.insert(0, ("add", nxt))
        for op, s in moves:
            m2, _ = apply_op(variant, ext, mem, op, s)
            c, h2 = _canonical(m2, hist + [(op, s)])
            if c not in seen:
                seen[c] = h2
                q.append((c, h2))
    out: dict[int, list] = {}
    for mem, hist in seen.items():
        out.setdefault(len(live_sptes(mem)), []).append((mem, hist))
    for n in out:
        out[n].sort(key=lambda mh: (len(mh[1]), repr(mh[0])))
    return out


# ---------------------------------------------------------------------------
# The walker
# ---------------------------------------------------------------------------

def _start(kind: str, k: int):
    if kind == "fwd-null":
        return ("slot", k, 0)
    if kind == "fwd-count":
        return ("cnt", k, 0)
    return ("cnt", k, None)


def walker_step(kind: str, ext: int, mem, pc, locked: bool = False):
    """One read.  Returns (new pc, spte visited or None, description)."""
    head, descs = mem
    tag = pc[0]
    if tag == "head":
        lock = "takes the head lock (cmpxchg), " if locked and head is not None else ""
        if head is None:
            return ("done",), None, "reads head = empty: walk ends"
        if head[0] == "s":
            return (("done",), head[1],
                    f"{lock}reads head = spte {head[1]}: visits {head[1]}, walk ends")
        return _start(kind, head[1]), None, f"{lock}reads head = D{head[1]}"
    if tag == "more":
        k = pc[1]
        m = descs[k][MORE]
        if m is None:
            return ("done",), None, f"reads D{k}.more = none: walk ends"
        return _start(kind, m), None, f"reads D{k}.more = D{m}"
    k, i = pc[1], pc[2]
    x = descs[k]
    if tag == "cnt":
        c = x[CNT]
        if kind == "fwd-count":
            if i < c:
                return ("slot", k, i), None, f"reads D{k}.count = {c} (> {i}: go on)"
            return ("more", k), None, f"reads D{k}.count = {c} (<= {i}: next desc)"
        if c == 0:
            return ("more", k), None, f"reads D{k}.count = 0"
        return ("slot", k, c - 1), None, f"reads D{k}.count = {c}: slots {c - 1} down to 0"
    # slot read
    s = x[S][i]
    txt = f"reads D{k}.slot[{i}] = {s if s is not None else 'empty'}"
    if kind == "fwd-null":
        if s is None:
            return ("more", k), None, txt + ": end of desc"
        nxt = ("slot", k, i + 1) if i + 1 < ext else ("more", k)
        return nxt, s, txt + f": visits {s}"
    if kind == "fwd-count":
        return ("cnt", k, i + 1), s, txt + (f": visits {s}" if s is not None else "")
    nxt = ("slot", k, i - 1) if i > 0 else ("more", k)
    return nxt, s, txt + (f": visits {s}" if s is not None else ": skipped")


# ---------------------------------------------------------------------------
# Exhaustive search
# ---------------------------------------------------------------------------

@dataclass
class RaceResult:
    variant: str
    ext: int
    max_len: int
    max_ops: int
    can_miss: bool
    states: int = 0
    initial_layouts: int = 0
    counterexample: dict | None = None
    explored_len: int = 0      # largest initial length fully explored
    max_stores: int | None = None   # explore_stores: most stores an op it ran made

    def bounds(self) -> dict:
        out = {"ext": self.ext, "max_initial_len": self.max_len,
               "max_writer_ops": self.max_ops, "initial_layouts": self.initial_layouts,
               "states": self.states, "explored_len": self.explored_len}
        if self.max_stores is not None:
            out["max_stores_per_op"] = self.max_stores
        return out


def _fmt_mem(mem, pc=None, counts: bool = False) -> str:
    """counts: show each descriptor's count (store-level traces)."""
    head, descs = mem
    if head is None:
        txt = "head=empty"
    elif head[0] == "s":
        txt = f"head=spte {head[1]}"
    else:
        parts, k = [f"head=D{head[1]}"], head[1]
        while k is not None:
            parts.append(_fmt_desc(k, descs[k], counts))
            k = descs[k][MORE]
        txt = " ".join(parts)
    if pc and len(pc) > 1 and not descs[pc[1]][LIVE]:
        txt += f"   (walker's D{pc[1]}, freed: {_fmt_desc(pc[1], descs[pc[1]], counts)})"
    return txt


def _fmt_desc(k, x, counts: bool = False) -> str:
    slots = " ".join("_" if s is None else str(s) for s in x[S])
    return f"D{k}[{slots}]" + (f" count {x[CNT]}" if counts else "")


def explore(variant: str, ext: int, max_len: int, max_ops: int = 3,
            want_trace: bool = True, min_len: int = 0,
            locked: bool | None = None) -> RaceResult:
    """Explore every interleaving within the bounds; see the module doc.

    The walker follows the variant's declared walk.  locked: the walker
    takes the head lock (KVM_RMAP_LOCKED) for its whole walk, so writers,
    which take it too, wait until it is done; None: it does if the variant
    declares the lock.

    The verdict comes from the quotient search, initial length by initial
    length, stopping at the first length with a miss; the counterexample
    trace from a plain breadth-first search at that length (same length)."""
    kind = walk_kind(variant, ext)
    if locked is None:
        locked = head_lock(variant, ext)
    inits = initial_layouts(variant, ext, max_len)
    res = RaceResult(variant, ext, max_len, max_ops, False,
                     initial_layouts=sum(len(v) for v in inits.values()))
    for n in range(min_len, max_len + 1):
        if _explore_n_quotient(variant, kind, ext, inits.get(n, []), max_ops, res, locked):
            res.can_miss = True
            if want_trace:
                res.counterexample = _explore_n(variant, kind, ext, inits[n], max_ops,
                                                RaceResult(variant, ext, n, max_ops, True),
                                                locked)
            break
        res.explored_len = n
    return res


def _writers_may_run(locked: bool, pc) -> bool:
    """A walker that takes the head lock holds it from its first read (the
    cmpxchg on the head word) to its end: writers wait for it."""
    return not locked or pc == ("head",)


def _explore_n(variant, kind, ext, inits, max_ops, res, locked=False):
    parent: dict = {}
    q = deque()
    for mem, hist in inits:
        node = (mem, ("head",), frozenset(live_sptes(mem)), 0, FRESH_BASE)
        if node not in parent:
            parent[node] = (None, None, hist)
            q.append(node)
    while q:
        node = q.popleft()
        mem, pc, pending, nops, fresh = node
        if pc[0] == "done":
            continue
        succ = []
        npc, seen, txt = walker_step(kind, ext, mem, pc, locked)
        succ.append(((mem, npc, pending - {seen} if seen is not None else pending, nops, fresh),
                     ("walker", txt)))
        if nops < max_ops and _writers_may_run(locked, pc):
            m2, _ = apply_op(variant, ext, mem, "add", fresh + 1)
            succ.append(((m2, pc, pending, nops + 1, fresh + 1),
                         ("writer", f"add {fresh + 1}")))
            for s in live_sptes(mem):
                m2, r = apply_op(variant, ext, mem, "remove", s)
                assert r is None, (variant, mem, s, r)
                succ.append(((m2, pc, pending - {s}, nops + 1, fresh),
                             ("writer", f"remove {s}")))
        bad = _visit(succ, node, parent, q, res)
        if bad is not None:
            return _trace(parent, bad)
    return None


# -- the quotient search ----------------------------------------------------
#
# Which spte a slot holds matters only while that spte is present and not
# yet visited (pending); every other value (visited, fresh, or a stale copy
# in a freed descriptor of a removed spte) can be replaced by one token X
# without changing any outcome, because writers remove by position and the
# walker's fate depends only on the pending sptes.  Pending sptes are then
# renumbered by first appearance, and descriptors neither in the chain nor
# on the walker's way are dropped.  This is a bisimulation quotient of the
# state graph above: the verdict and the shortest counterexample length
# are the same, the state count far smaller.

def _canon(mem, pc):
    head, descs = mem
    order = []
    if head is not None and head[0] == "d":
        k = head[1]
        while k is not None:
            order.append(k)
            k = descs[k][MORE]
    live_descs = set(order)
    pending = set()
    if head is not None and head[0] == "s":
        if head[1] != X:
            pending.add(head[1])
    for k in order:
        pending.update(v for v in descs[k][S] if v not in (None, X))
    if len(pc) > 1:
        k = pc[1]
        while k is not None and k not in live_descs:
            order.append(k)
            live_descs.add(k)
            k = descs[k][MORE]
    dpos = {k: i for i, k in enumerate(order)}
    ren = {}

    def lab(v):
        if v is None or v == X:
            return v
        if v not in pending:
            return X
        if v not in ren:
            ren[v] = len(ren) + 1
        return ren[v]

    if head is None:
        nhead = None
    elif head[0] == "s":
        nhead = ("s", lab(head[1]))
    else:
        nhead = ("d", dpos[head[1]])
    nd = []
    for k in order:
        x = descs[k]
        nd.append((tuple(lab(v) for v in x[S]),
                   dpos[x[MORE]] if x[MORE] is not None else None,
                   x[CNT], x[TAIL], x[LIVE]))
    npc = pc if len(pc) == 1 else (pc[0], dpos[pc[1]]) + pc[2:]
    return (nhead, tuple(nd)), npc, bool(pending)


def _forget(mem, v):
    head, descs = mem
    if head is not None and head[0] == "s" and head[1] == v:
        head = ("s", X)
    return head, tuple((tuple(X if s == v else s for s in x[S]),) + x[1:] for x in descs)


def _explore_n_quotient(variant, kind, ext, inits, max_ops, res, locked=False) -> bool:
    """Reduced search for one initial length: True if a miss exists."""
    seen = set()
    q = deque()
    for mem, _ in inits:
        m, pc, _p = _canon(mem, ("head",))
        node = (m, pc, 0)
        if node not in seen:
            seen.add(node)
            q.append(node)
    while q:
        mem, pc, nops = q.popleft()
        succ = []
        npc, visited, _ = walker_step(kind, ext, mem, pc, locked)
        succ.append((_forget(mem, visited) if visited not in (None, X) else mem, npc, nops))
        if nops < max_ops and _writers_may_run(locked, pc):
            wr = writer(variant, ext)
            succ.append((wr.apply(mem, "add", X)[0], pc, nops + 1))
            for pos in wr.positions(mem):
                succ.append((wr.remove_at(mem, pos)[0], pc, nops + 1))
        for m2, pc2, n2 in succ:
            m2, pc2, pending = _canon(m2, pc2)
            if pc2[0] == "done" and pending:
                res.states += len(seen)
                return True
            if not pending or pc2[0] == "done":
                continue          # nothing left that could be missed
            node = (m2, pc2, n2)
            if node not in seen:
                seen.add(node)
                q.append(node)
    res.states += len(seen)
    return False


def _path(parent, last) -> tuple:
    """The search's path to last: (start node, its history, [(event, node)]
    in order), read back through parent[node] = (prev, event, history)."""
    events = []
    node = last
    while True:
        prev, ev, hist = parent[node]
        if prev is None:
            start, history = node, hist
            break
        events.append((ev, node))
        node = prev
    events.reverse()
    return start, history, events


def _visit(succ, node, parent, q, res):
    """Queue the successors of node not seen before (breadth first, each
    remembering how it was reached); the first one in which the reader is
    done while sptes are still pending is returned (a violation), else None."""
    for child, ev in succ:
        if child in parent:
            continue
        parent[child] = (node, ev, None)
        res.states += 1
        if child[1][0] == "done" and child[2]:
            return child
        q.append(child)
    return None


def _trace(parent, last) -> dict:
    start, history, events = _path(parent, last)
    mem0 = start[0]
    steps = []
    before = mem0
    for ev, node in events:
        actor, what = ev
        if actor == "writer" and what.startswith("remove"):
            what += _move(before, node[0], int(what.split()[1]))
        steps.append({"actor": actor, "action": what, "layout": _fmt_mem(node[0], node[1])})
        before = node[0]
    writer_ops = [(a.split()[0], int(a.split()[1])) for who, a in (e for e, _ in events)
                  if who == "writer"]
    return {
        "initial_len": len(live_sptes(mem0)),
        "history": [f"{op} 0 {s}" for op, s in history],
        "initial": _fmt_mem(mem0),
        "steps": steps,
        "writer_ops": [f"{op} 0 {s}" for op, s in writer_ops],
        "missed": sorted(last[2]),
        "events": len(steps),
    }


def _slots(mem):
    """{spte: 'Dk.slot[i]'} for the live structure."""
    head, descs = mem
    out = {}
    if head is None:
        return out
    if head[0] == "s":
        return {head[1]: "head"}
    k = head[1]
    while k is not None:
        for i, s in enumerate(descs[k][S]):
            if s is not None:
                out[s] = f"D{k}.slot[{i}]"
        k = descs[k][MORE]
    return out


def _move(before, after, removed: int) -> str:
    """Describe where a remove's hole was and what filled it."""
    b, a = _slots(before), _slots(after)
    hole = b[removed]
    for s, where in a.items():
        if where == hole:
            return f": hole at {hole} filled with {s} from {b[s]}"
    moved = [f"{s} {b[s]} -> {a[s]}" for s in a if s in b and a[s] != b[s]]
    return f": hole at {hole}" + (f"; moved {', '.join(moved)}" if moved else ", nothing moved")


def format_trace(cx: dict, indent: str = "    ") -> str:
    lines = [f"{indent}initial list ({cx['initial_len']} sptes, built by: "
             f"{'; '.join(cx['history']) or 'nothing'}):",
             f"{indent}  {cx['initial']}"]
    for i, st in enumerate(cx["steps"], 1):
        lines.append(f"{indent}{i:3d}. {st['actor']:6s} {st['action']}")
        if st["actor"] == "writer":
            lines.append(f"{indent}       -> {st['layout']}")
    lines.append(f"{indent}missed: {', '.join(map(str, cx['missed']))} "
                 f"(present for the whole walk, never visited)")
    return "\n".join(lines)


def _renumber_descs(mem):
    """Descriptors numbered D0, D1, ... in chain order (freed ones dropped)."""
    head, descs = mem
    if head is None or head[0] == "s":
        return head, ()
    order, k = [], head[1]
    while k is not None:
        order.append(k)
        k = descs[k][MORE]
    pos = {k: i for i, k in enumerate(order)}
    return ("d", 0), tuple(descs[k][:MORE] + (pos.get(descs[k][MORE]),) + descs[k][MORE + 1:]
                           for k in order)


def run_schedule(variant: str, ext: int, history, schedule) -> dict:
    """Run one interleaving by hand: history is [(op, spte)] building the
    initial list; schedule is a list of "w" (one walker step) and (op, spte)
    writer ops; walker steps continue after the schedule until the walk
    ends.  Returns {"visited", "missed", "steps", "layout"}."""
    kind = walk_kind(variant, ext)
    mem = _renumber_descs(build(variant, ext, history))
    pending = set(live_sptes(mem))
    pc, visited, steps = ("head",), [], []
    todo = list(schedule)
    while pc[0] != "done":
        ev = todo.pop(0) if todo else "w"
        if ev == "w":
            pc, seen, txt = walker_step(kind, ext, mem, pc)
            steps.append(("walker", txt))
            if seen is not None:
                visited.append(seen)
                pending.discard(seen)
        else:
            op, s = ev
            before = mem
            mem, ret = apply_op(variant, ext, mem, op, s)
            if op == "remove":
                pending.discard(s)
            steps.append(("writer", f"{op} {s}" +
                          (_move(before, mem, s) if op == "remove" else "")))
    return {"visited": visited, "missed": sorted(pending), "steps": steps,
            "layout": layout(mem)}


# ---------------------------------------------------------------------------
# Store by store: the writer can be stopped after any of its stores
# ---------------------------------------------------------------------------
#
# Above, a writer op is one event between two walker steps.  Here it is the
# sequence of its stores through RMAP_STORE() (native/rmap.h): check's build
# of the variant calls a hook after each, and rb_state_apply_stop() (api.c)
# stops the op after store k and reads the state back, so the explorer sees
# the words a walker would read between store k and store k+1 (allocs and
# frees up to there included).  One writer op runs at a time (the writers'
# mmu_lock) and nothing the walker does changes what the writer stores, so
# an op's stops are computed once, from the state it starts on, and the
# search interleaves walker steps between them.  Memory model: the stores
# become visible one at a time, in program order, and the walker's reads in
# its order (docs/check.md says why that is what x86 gives here).
#
# Events: a walker step, or a run of the writer from where it stands (the
# op's start, or a stop) to a later stop or to its end.  A run that starts
# and ends an op is one event, as above, so every interleaving of the
# atomic search is here with the same number of events, and a shortest
# counterexample is never longer than the atomic one.  The search is the
# plain breadth-first one (a reduced one like _explore_n_quotient gained
# nothing here: the states inside an op dominate and do not reduce), with
# states numbered so that a node is a few small ints; it gives its own
# counterexample.
#
# One reduction, exact: a stop right before a store to a descriptor the op
# allocated and has not linked anywhere yet (no head, no `more` points to
# it) is left out.  No walker can read that word before a later store links
# the descriptor, so walker steps there commute with the store.

def explore_stores(variant: str, ext: int, max_len: int, max_ops: int = 3,
                   want_trace: bool = True, min_len: int = 0,
                   locked: bool | None = None) -> RaceResult:
    """explore() with writer ops stopped after any of their stores."""
    kind = walk_kind(variant, ext)
    if locked is None:
        locked = head_lock(variant, ext)
    inits = initial_layouts(variant, ext, max_len)
    res = RaceResult(variant, ext, max_len, max_ops, False,
                     initial_layouts=sum(len(v) for v in inits.values()), max_stores=0)
    for n in range(min_len, max_len + 1):
        cx = _explore_n_stores(variant, kind, ext, inits.get(n, []), max_ops, res, locked)
        if cx is not None:
            res.can_miss = True
            res.counterexample = cx if want_trace else None
            break
        res.explored_len = n
    return res


def _explore_n_stores(variant, kind, ext, inits, max_ops, res, locked=False):
    wr = writer(variant, ext)
    ids: dict = {}
    mems: list = []
    pt_ids: dict = {}

    def mem_id(m) -> int:
        i = ids.get(m)
        if i is None:
            i = ids[m] = len(mems)
            mems.append(m)
        return i

    def points(sid):
        r = pt_ids.get(sid)
        if r is None:
            r = pt_ids[sid] = [mem_id(m) for m, _, _ in wr.seg(sid)[5]]
        return r

    parent: dict = {}
    q = deque()
    for mem, hist in inits:
        node = (mem_id(mem), ("head",), frozenset(live_sptes(mem)), 0, FRESH_BASE, None)
        if node not in parent:
            parent[node] = (None, None, hist)
            q.append(node)
    while q:
        node = q.popleft()
        mid, pc, pending, nops, fresh, wip = node
        if pc[0] == "done":
            continue
        mem = mems[mid]
        succ = []
        # a walker taking the head lock cannot while a writer holds it
        held = wip is not None and wr.seg(wip[0])[5][wip[1]][2]
        if not (locked and pc == ("head",) and held):
            npc, seen, txt = walker_step(kind, ext, mem, pc, locked)
            succ.append(((mid, npc, pending - {seen} if seen is not None else pending,
                          nops, fresh, wip), ("walker", txt)))
        if _writers_may_run(locked, pc):
            if wip is not None:
                sid, at = wip
                pts = points(sid)
                for to in [len(pts) - 1] + list(range(at + 1, len(pts) - 1)):
                    w2 = None if to == len(pts) - 1 else (sid, to)
                    succ.append(((pts[to], pc, pending, nops, fresh, w2),
                                 ("writer", (sid, at, to))))
            elif nops < max_ops:
                starts = [("add", fresh + 1, fresh + 1, pending)]
                starts += [("remove", s, fresh, pending - {s}) for s in live_sptes(mem)]
                for op, s, fr, pend in starts:
                    sid = wr.segments(mem, op, s)
                    assert op == "add" or wr.seg(sid)[3] is None, (variant, mem, s)
                    res.max_stores = max(res.max_stores or 0, len(wr.seg(sid)[4]))
                    pts = points(sid)
                    for to in [len(pts) - 1] + list(range(len(pts) - 1)):
                        w2 = None if to == len(pts) - 1 else (sid, to)
                        succ.append(((pts[to], pc, pend, nops + 1, fr, w2),
                                     ("writer", (sid, -1, to))))
        bad = _visit(succ, node, parent, q, res)
        if bad is not None:
            return _trace_stores(wr, parent, bad, mems)
    return None


def _writer_text(wr, sid: int, at: int, to: int) -> str:
    """A writer event: the op's stores from stop `at` (-1: its start) to
    stop `to`, each named."""
    mem0, op, s, _, names, pts = wr.seg(sid)
    first = 1 if at < 0 else pts[at][1] + 1
    last = pts[to][1]
    end = to == len(pts) - 1
    label = f"{op} {s}"
    if at < 0 and end:
        txt = label
    else:
        stores = "; ".join(f"store {k}/{len(names)} {names[k - 1]}"
                           for k in range(first, min(last, len(names)) + 1))
        txt = f"{label} {'begins' if at < 0 else 'goes on'}: " \
            + (stores or "the rest, no store through RMAP_STORE()") \
            + ("" if end else ": writer stopped")
        if end:
            txt += f"; {label} ends"
    if end and op == "remove":
        txt += _move(mem0, pts[to][0], s)
    return txt


def _trace_stores(wr, parent, last, mems) -> dict:
    start, history, events = _path(parent, last)
    mem0 = mems[start[0]]
    counts = wr.layout.count.off >= 0
    steps, writer_ops, stopped = [], [], False
    for (actor, what), node in events:
        if actor == "writer":
            sid, at, to = what
            _, op, s, _, _, pts = wr.seg(sid)
            if at < 0:
                writer_ops.append((op, s))
            if to < len(pts) - 1:
                stopped = True
            what = _writer_text(wr, sid, at, to)
        steps.append({"actor": actor, "action": what,
                      "layout": _fmt_mem(mems[node[0]], node[1], counts)})
    return {
        "initial_len": len(live_sptes(mem0)),
        "history": [f"{op} 0 {s}" for op, s in history],
        "initial": _fmt_mem(mem0, None, counts),
        "steps": steps,
        "writer_ops": [f"{op} 0 {s}" for op, s in writer_ops],
        "missed": sorted(last[2]),
        "events": len(steps),
        "stopped_mid_op": stopped,
    }
