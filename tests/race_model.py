"""The race explorer's former per-variant Python writer model, kept as a
cross-check for the tests only: bench.race runs the variants' own C code.

Race explorer for lockless rmap walks (DESIGN.md section 7).

One walker reads one machine word per step, in its variant's own walk
order, while writer operations (an add of a fresh spte, or a remove of a
present one) are applied atomically between two walker steps.  Freed
descriptors are never reused while the walk runs: a walker holding a
pointer to one keeps reading its last contents, and its `more`.  The
question, per variant: can an spte that is present for the whole walk be
missed?

This module keeps its own slot-level state (immutable tuples, so states can
be hashed and explored breadth first) and its own implementation of every
variant's writer operations, written from DESIGN.md section 3 like
bench.model but with descriptor identities, `more` pointers and freed
descriptors.  bench.check and tests/test_check.py cross-check these
operations against the real C kernels (bench.native.Rmap), layout for
layout.

Walker steps (one word each):

  head      read the head word: empty -> done; a single spte -> visit, done;
            a descriptor -> start it
  forward walks (old, new, new-fixed: stop at the first empty slot):
  slot D i  read D.sptes[i]: empty -> `more`; else visit, i+1 (EXT -> `more`)
  forward counted walks (kvm-2021, kvm-2023):
  cnt D i   read D.spte_count: i < count -> `slot`; else `more`
  slot D i  read D.sptes[i], visit it, then `cnt D i+1`
  reverse counted walk (kvm-2023-lf):
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

from collections import deque
from dataclasses import dataclass, field

# slot-level descriptor fields in a state tuple
S, MORE, CNT, TAIL, LIVE = range(5)

FRESH_BASE = 100     # ids of sptes added during the walk: 101, 102, ...
GONE_BASE = 200      # ids removed while building an initial layout: 201, ...

WALKS = {
    "old": "fwd-null",
    "new": "fwd-null",
    "new-fixed": "fwd-null",
    "kvm-2021": "fwd-count",
    "kvm-2023": "fwd-count",
    "kvm-2023-lf": "rev-count",
}
COUNTED = {"kvm-2021", "kvm-2023", "kvm-2023-lf"}


class UnknownVariant(ValueError):
    pass


# ---------------------------------------------------------------------------
# Mutable working copy of a state, and the writer operations on it
# ---------------------------------------------------------------------------

class Work:
    """head: None | ('s', spte) | ('d', desc index).  d[k] = [slots, more,
    count, tail, live]; descriptors are never reused, freed ones keep their
    last contents."""

    def __init__(self, mem, ext: int):
        head, descs = mem
        self.head = head
        self.d = [[list(x[S]), x[MORE], x[CNT], x[TAIL], x[LIVE]] for x in descs]
        self.ext = ext

    def freeze(self):
        return (self.head, tuple((tuple(x[S]), x[MORE], x[CNT], x[TAIL], x[LIVE])
                                 for x in self.d))

    def alloc(self) -> int:
        self.d.append([[None] * self.ext, None, 0, 0, True])
        return len(self.d) - 1

    def free(self, k: int) -> None:
        self.d[k][LIVE] = False

    def first(self) -> int:
        return self.head[1]

    def chain(self) -> list[int]:
        out = []
        if self.head and self.head[0] == "d":
            k = self.head[1]
            while k is not None:
                out.append(k)
                k = self.d[k][MORE]
        return out

    def first_free(self, k: int) -> int:
        slots = self.d[k][S]
        for i, s in enumerate(slots):
            if s is None:
                return i
        return self.ext


EMPTY_MEM = (None, ())


def _to_many(w: Work, s: int, counted: bool) -> int:
    k = w.alloc()
    w.d[k][S][0], w.d[k][S][1] = w.head[1], s
    if counted:
        w.d[k][CNT] = 2
    w.head = ("d", k)
    return 1


def _add(variant: str, w: Work, s: int) -> int:
    ext = w.ext
    if w.head is None:
        w.head = ("s", s)
        return 0
    if w.head[0] == "s":
        return _to_many(w, s, variant in COUNTED)
    d = w.d
    if variant == "old":
        k, count = w.first(), 0
        while d[k][S][ext - 1] is not None and d[k][MORE] is not None:
            k = d[k][MORE]
            count += ext
        if d[k][S][ext - 1] is not None:
            nk = w.alloc()
            d[k][MORE] = nk
            k = nk
        i = w.first_free(k)
        d[k][S][i] = s
        return count + i
    if variant in ("new", "new-fixed"):
        k = w.first()
        if d[k][S][ext - 1] is not None:
            nk = w.alloc()
            d[nk][MORE] = k
            w.head = ("d", nk)
            k = nk
        d[k][S][w.first_free(k)] = s
        after = w.first_free(k) + ext * (len(w.chain()) - 1)
        return after if variant == "new" else after - 1
    if variant == "kvm-2021":
        k, count = w.first(), 0
        while d[k][CNT] == ext:
            count += ext
            if d[k][MORE] is None:
                nk = w.alloc()
                d[k][MORE] = nk
                k = nk
                break
            k = d[k][MORE]
        count += d[k][CNT]
        d[k][S][d[k][CNT]] = s
        d[k][CNT] += 1
        return count
    if variant in ("kvm-2023", "kvm-2023-lf"):
        k = w.first()
        count = d[k][TAIL] + d[k][CNT]
        if d[k][CNT] == ext:
            nk = w.alloc()
            d[nk][MORE] = k
            d[nk][TAIL] = count
            w.head = ("d", nk)
            k = nk
        d[k][S][d[k][CNT]] = s
        d[k][CNT] += 1
        return count
    raise UnknownVariant(variant)


def _positions(variant: str, w: Work) -> list:
    """Where the live sptes are: [None] for a single head, else (desc, slot)
    pairs in the order pte_list_remove() scans them."""
    if w.head is None:
        return []
    if w.head[0] == "s":
        return [None]
    out = []
    for k in w.chain():
        n = w.d[k][CNT] if variant in COUNTED else w.first_free(k)
        out.extend((k, i) for i in range(n))
    return out


def _remove(variant: str, w: Work, s: int) -> str | None:
    lax = variant == "new"
    fail = "WARN" if lax else "BUG"
    if w.head is None:
        return fail
    if w.head[0] == "s":
        if w.head[1] != s:
            if lax:
                w.head = None
            return fail
        return _remove_at(variant, w, None)
    for pos in _positions(variant, w):
        if w.d[pos[0]][S][pos[1]] == s:
            return _remove_at(variant, w, pos)
    return fail


def _remove_at(variant: str, w: Work, pos) -> str | None:
    """Remove the spte found at pos (see _positions)."""
    if pos is None:
        w.head = None
        return None
    k, i = pos
    prev, x = None, w.first()
    while x != k:
        prev, x = x, w.d[x][MORE]
    return _remove_entry(variant, w, k, i, prev)


def _remove_entry(variant, w: Work, k: int, i: int, prev) -> str | None:
    ext, d = w.ext, w.d
    if variant == "old":
        j = ext - 1
        while d[k][S][j] is None and j > i:
            j -= 1
        d[k][S][i], d[k][S][j] = d[k][S][j], None
        if j != 0:
            return None
        _unlink(w, k, prev)
        return None
    if variant == "kvm-2021":
        j = d[k][CNT] - 1
        d[k][S][i], d[k][S][j] = d[k][S][j], None
        d[k][CNT] -= 1
        if d[k][CNT]:
            return None
        _unlink(w, k, prev)
        return None
    f = w.first()
    if variant in ("new", "new-fixed"):
        j = w.first_free(f) - 1
        d[k][S][i] = d[f][S][j]
        d[f][S][j] = None
        if d[f][S][0] is None:
            nxt = d[f][MORE]
            w.free(f)
            if nxt is None:
                w.head = None
                return "WARN"
            w.head = ("d", nxt)
            return None
        if d[f][S][1] is None and d[f][MORE] is None:
            w.head = ("s", d[f][S][0])
            w.free(f)
        return None
    # kvm-2023, kvm-2023-lf
    j = d[f][CNT] - 1
    d[k][S][i] = d[f][S][j]
    d[f][S][j] = None
    d[f][CNT] -= 1
    if d[f][CNT]:
        return None
    nxt = d[f][MORE]
    w.head = None if nxt is None else ("d", nxt)
    w.free(f)
    return None


def _unlink(w: Work, k: int, prev) -> None:
    d = w.d
    if prev is None and d[k][MORE] is None:
        w.head = None
    elif prev is not None:
        d[prev][MORE] = d[k][MORE]
    else:
        w.head = ("d", d[k][MORE])
    w.free(k)


def apply_op(variant: str, ext: int, mem, op: str, spte: int):
    """One atomic writer op on an immutable state: returns (new state, ret)."""
    if variant not in WALKS:
        raise UnknownVariant(variant)
    w = Work(mem, ext)
    ret = _add(variant, w, spte) if op == "add" else _remove(variant, w, spte)
    return w.freeze(), ret


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


def walker_step(kind: str, ext: int, mem, pc):
    """One read.  Returns (new pc, spte visited or None, description)."""
    head, descs = mem
    tag = pc[0]
    if tag == "head":
        if head is None:
            return ("done",), None, "reads head = empty: walk ends"
        if head[0] == "s":
            return ("done",), head[1], f"reads head = spte {head[1]}: visits {head[1]}, walk ends"
        return _start(kind, head[1]), None, f"reads head = D{head[1]}"
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

    def bounds(self) -> dict:
        return {"ext": self.ext, "max_initial_len": self.max_len,
                "max_writer_ops": self.max_ops, "initial_layouts": self.initial_layouts,
                "states": self.states, "explored_len": self.explored_len}


def _fmt_mem(mem, pc=None) -> str:
    head, descs = mem
    if head is None:
        txt = "head=empty"
    elif head[0] == "s":
        txt = f"head=spte {head[1]}"
    else:
        parts, k = [f"head=D{head[1]}"], head[1]
        while k is not None:
            parts.append(_fmt_desc(k, descs[k]))
            k = descs[k][MORE]
        txt = " ".join(parts)
    if pc and len(pc) > 1 and not descs[pc[1]][LIVE]:
        txt += f"   (walker's D{pc[1]}, freed: {_fmt_desc(pc[1], descs[pc[1]])})"
    return txt


def _fmt_desc(k, x) -> str:
    slots = " ".join("_" if s is None else str(s) for s in x[S])
    return f"D{k}[{slots}]"


def explore(variant: str, ext: int, max_len: int, max_ops: int = 3,
            want_trace: bool = True, min_len: int = 0) -> RaceResult:
    """Explore every interleaving within the bounds; see the module doc.

    The verdict comes from the quotient search, initial length by initial
    length, stopping at the first length with a miss; the counterexample
    trace from a plain breadth-first search at that length (same length)."""
    if variant not in WALKS:
        raise UnknownVariant(variant)
    kind = WALKS[variant]
    inits = initial_layouts(variant, ext, max_len)
    res = RaceResult(variant, ext, max_len, max_ops, False,
                     initial_layouts=sum(len(v) for v in inits.values()))
    for n in range(min_len, max_len + 1):
        if _explore_n_quotient(variant, kind, ext, inits.get(n, []), max_ops, res):
            res.can_miss = True
            if want_trace:
                res.counterexample = _explore_n(variant, kind, ext, inits[n], max_ops,
                                                RaceResult(variant, ext, n, max_ops, True))
            break
        res.explored_len = n
    return res


def _explore_n(variant, kind, ext, inits, max_ops, res):
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
        npc, seen, txt = walker_step(kind, ext, mem, pc)
        succ.append(((mem, npc, pending - {seen} if seen is not None else pending, nops, fresh),
                     ("walker", txt)))
        if nops < max_ops:
            m2, _ = apply_op(variant, ext, mem, "add", fresh + 1)
            succ.append(((m2, pc, pending, nops + 1, fresh + 1),
                         ("writer", f"add {fresh + 1}")))
            for s in live_sptes(mem):
                m2, r = apply_op(variant, ext, mem, "remove", s)
                assert r is None, (variant, mem, s, r)
                succ.append(((m2, pc, pending - {s}, nops + 1, fresh),
                             ("writer", f"remove {s}")))
        for child, ev in succ:
            if child in parent:
                continue
            parent[child] = (node, ev, None)
            res.states += 1
            if child[1][0] == "done" and child[2]:
                return _trace(parent, child)
            q.append(child)
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

X = 0


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


def _explore_n_quotient(variant, kind, ext, inits, max_ops, res) -> bool:
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
        npc, visited, _ = walker_step(kind, ext, mem, pc)
        succ.append((_forget(mem, visited) if visited not in (None, X) else mem, npc, nops))
        if nops < max_ops:
            w = Work(mem, ext)
            _add(variant, w, X)
            succ.append((w.freeze(), pc, nops + 1))
            for pos in _positions(variant, Work(mem, ext)):
                w = Work(mem, ext)
                _remove_at(variant, w, pos)
                succ.append((w.freeze(), pc, nops + 1))
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


def _trace(parent, last) -> dict:
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
    kind = WALKS[variant]
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
