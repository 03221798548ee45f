"""`rmapbench check`: each variant against the contract, and its lockless walk.

Part 1, conformance.  The real C kernel (bench.native.Rmap) is driven by a
breadth-first search over op sequences on one head, over the alphabet
{add a fresh spte, remove each present spte, remove an absent spte}.  States
are deduplicated by the head's slot layout with the sptes relabelled in slot
order (a kernel compares spte pointers only for equality, so relabelling is
a symmetry), so the first time a kind of deviation shows up it shows up on a
shortest sequence.  After every op the contract of DESIGN.md section 2 is
checked: add returns the true count before the add; the first add stores in
the head word and returns 0; the second builds [first, second] and returns
1; removing a present spte succeeds; removing an absent one is a BUG that
leaves the list as it was; walk visits exactly the present sptes; count is
the true count; every live descriptor is reachable from the head (none
leaked, none left when the list is empty).  Cost differences that break no
rule of section 2 are reported apart, as "differences".

Part 2, the race explorer of bench.race (DESIGN.md section 7), run at EXT 2
and 3 with lists up to 3*EXT+1 sptes and three writer ops, and at the
checked EXT (if larger) with lists up to 2*EXT+1 sptes and two writer ops.
Its writers are the variant's own C code and its walker follows the walk
the variant declares, so nothing here is per variant.  Its
counterexample's writer ops are replayed on the C kernel op by op and the
layouts compared after every op.  The same is asked again store by store
(race.explore_stores, bounds in store_bounds): each writer op stopped after
any of its stores, walker steps run there (`race_stores` in the JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
import math
import sys
import time

from .errors import UsageError

ABSENT = 999      # an spte id never added


# ---------------------------------------------------------------------------
# Part 1: conformance
# ---------------------------------------------------------------------------

DIFFERENCE_KINDS = ("no-return-to-single", "sparse-descriptors")

KIND_TEXT = {
    "add-returns-count-after": "add returns the count after the add, not before",
    "add-undercount-tail-append": "add undercounts when it appends a tail descriptor",
    "add-partial-count": "add does not count sptes in descriptors after the one it fills",
    "add-return-wrong": "add returns a wrong count",
    "first-add-layout": "the first add does not store the spte in the head word",
    "second-add-layout": "the second add does not build [first, second]",
    "remove-absent-warn": "removing an absent spte is a WARN, not a BUG",
    "remove-absent-silent": "removing an absent spte reports nothing",
    "failed-remove-clears-head": "a failed remove clears a single-pointer head (a present spte is lost)",
    "failed-remove-changes-list": "a failed remove changes the list",
    "remove-present-fails": "removing a present spte fails",
    "walk-wrong": "walk does not visit exactly the present sptes",
    "walk-order-differs": "pte_list_walk does not follow the walk order the variant declares "
                          "(PTE_LIST_DECLARE), which check's race explorer walks",
    "count-wrong": "count is not the number of present sptes",
    "descriptor-leak": "a live descriptor is not reachable from the head",
    "no-return-to-single": "a list down to one spte keeps it in a descriptor (never back to the single-pointer form)",
    "sparse-descriptors": "more descriptors than ceil(n/EXT): holes are not compacted across descriptors",
}


def _canon_layout(lay: dict):
    if lay["form"] == "single":
        return ("single",)
    ren = {}
    out = []
    for d in lay["descs"]:
        row = []
        for s in d:
            if s is not None and s not in ren:
                ren[s] = len(ren) + 1
            row.append(None if s is None else ren[s])
        out.append(tuple(row))
    return (lay["form"], tuple(out))


def _fmt(ops) -> list[str]:
    return [f"{op} 0 {s}" if s is not None else f"{op} 0" for op, s in ops]


def conformance(variant: str, ext: int, max_ops: int | None = None) -> dict:
    """Breadth-first search for deviations; returns
    {"deviations": [...], "differences": [...], "max_ops", "states", "sequences"}."""
    from . import isolate
    from .native import Rmap, load

    if isolate.ACTIVE:
        isolate.note(f"conformance search at EXT {ext}")
    kernel = load(variant, ext)
    if max_ops is None:
        max_ops = ext + 4
    found: dict[str, dict] = {}
    # node: (ops, shadow, layout, live)
    start = ([], [], {"head": 0, "form": "empty", "descs": []}, 0)
    seen = {(_canon_layout(start[2]), 0)}
    level = [start]
    runs = 0

    forms: dict[str, list] = {}

    def note(kind, ops, detail, form=None):
        if kind not in found:
            found[kind] = {"kind": kind, "ops": _fmt(ops), "detail": detail}
        if form and form not in forms.setdefault(kind, []):
            forms[kind].append(form)
            if len(forms[kind]) > 1:
                found[kind]["detail"] = (found[kind]["detail"].split(" [")[0]
                                         + f" [seen on {', '.join(forms[kind])} heads]")

    for depth in range(max_ops):
        nxt = []
        for ops, shadow, lay, live in level:
            fresh = max([s for _, s in ops if s != ABSENT], default=0) + 1
            choices = [("add", fresh)] + [("remove", s) for s in _layout_ids(lay)] \
                + [("remove", ABSENT)]
            for op, s in choices:
                path = ops + [(op, s)]
                if isolate.ACTIVE:
                    isolate.note(f"conformance search at EXT {ext}, ops: "
                                 + "; ".join(_fmt(path)))
                with Rmap(kernel, 1, alloc="slab", expected=len(path)) as r:
                    for o, x in ops:
                        (r.add if o == "add" else r.remove)(0, x)
                    ret = (r.add if op == "add" else r.remove)(0, s)
                    lay2, walk, cnt, live2 = r.layout(0), r.walk(0), r.count(0), r.live_descs()
                runs += 1
                shadow2 = _judge(variant, ext, path, op, s, ret, shadow, lay, lay2,
                                 walk, cnt, live, live2, note)
                declared = _declared_walk(variant, ext, path)
                if declared != walk:
                    note("walk-order-differs", path + [("walk", None)],
                         f"pte_list_walk visits {walk}; the declared "
                         f"{race_walk_kind(variant, ext)} walk visits {declared}")
                key = (_canon_layout(lay2), live2)
                if key in seen:
                    continue
                seen.add(key)
                nxt.append((path, shadow2, lay2, live2))
        level = nxt
        if not level:
            break
    devs = [v for k, v in found.items() if k not in DIFFERENCE_KINDS]
    diffs = [v for k, v in found.items() if k in DIFFERENCE_KINDS]
    order = list(KIND_TEXT)
    devs.sort(key=lambda d: (len(d["ops"]), order.index(d["kind"])))
    diffs.sort(key=lambda d: (len(d["ops"]), order.index(d["kind"])))
    return {"deviations": devs, "differences": diffs, "max_ops": max_ops,
            "states": len(seen), "sequences": runs}


def race_walk_kind(variant: str, ext: int) -> str:
    from .race import walk_kind
    return walk_kind(variant, ext)


def _declared_walk(variant: str, ext: int, path) -> list[int]:
    """The sptes the walk the variant declares visits, in order, on the
    state path builds (no writer running): what check's race explorer
    assumes pte_list_walk() does."""
    from . import race

    mem = race.build(variant, ext, path)
    kind, pc, out = race.walk_kind(variant, ext), ("head",), []
    while pc[0] != "done":
        pc, seen, _ = race.walker_step(kind, ext, mem, pc)
        if seen is not None:
            out.append(seen)
    return out


def _layout_ids(lay: dict) -> list[int]:
    if lay["form"] == "single":
        return [lay["single"]]
    return [s for d in lay["descs"] for s in d if s is not None]


def _where(lay: dict, s: int):
    for k, d in enumerate(lay["descs"]):
        if s in d:
            return k
    return None


def _n(k: int, what: str) -> str:
    return f"{k} {what}" + ("" if k == 1 else "s")


def _an(form: str) -> str:
    return ("an " if form[0] in "aeiou" else "a ") + form


def _judge(variant, ext, path, op, s, ret, shadow, lay, lay2, walk, cnt, live, live2, note):
    """Check one op against the contract; returns the shadow after it."""
    n = len(shadow)
    if op == "add":
        if n == 0 and (lay2["form"] != "single" or lay2.get("single") != s or ret != 0):
            note("first-add-layout", path, f"first add: ret {ret}, head {lay2}")
        if n == 1 and lay["form"] == "single":
            want = [shadow[0], s] + [None] * (ext - 2)
            if ret != 1 or lay2["descs"] != [want]:
                note("second-add-layout", path, f"second add: ret {ret}, descs {lay2['descs']}")
        if ret != n:
            k, nd = _where(lay2, s), len(lay2["descs"])
            base = f"add 0 {s} returned {ret} with {n} sptes present"
            if ret == n + 1:
                note("add-returns-count-after", path, base + " (the count after the add)")
            elif ret < n and k == nd - 1 and nd > len(lay["descs"]) and live2 > live:
                note("add-undercount-tail-append", path,
                     base + f" (appended descriptor {k}; the full one before it, "
                     f"{ext} sptes, not counted)")
            elif ret < n and k is not None and k < nd - 1:
                later = sum(x is not None for d in lay2["descs"][k + 1:] for x in d)
                note("add-partial-count", path,
                     base + f" (stored in descriptor {k}; {_n(later, 'spte')} in the "
                     "descriptors after it not counted)")
            else:
                note("add-return-wrong", path, base)
        shadow2 = shadow + [s]
    elif s != ABSENT:
        if ret is not None:
            note("remove-present-fails", path, f"remove of present spte {s} gave {ret}")
        shadow2 = [x for x in shadow if x != s]
    else:
        form = lay["form"]
        if ret == "WARN":
            note("remove-absent-warn", path, f"remove of an absent spte from {_an(form)} head "
                 "gave WARN (contract: BUG)", form)
        elif ret is None:
            note("remove-absent-silent", path, f"remove of an absent spte from {_an(form)} head "
                 "gave no status (contract: BUG)", form)
        if lay2 != lay:
            lost = sorted(set(_layout_ids(lay)) - set(walk))
            if form == "single" and lay2["form"] == "empty":
                note("failed-remove-clears-head", path,
                     f"{ret} on a single-pointer head cleared it: spte {lost[0]} lost")
            else:
                note("failed-remove-changes-list", path,
                     f"{ret} changed the {form} list: {lay['descs']} -> {lay2['descs']}")
        shadow2 = list(walk)           # carry on from what is really there
    if sorted(walk) != sorted(shadow2):
        note("walk-wrong", path + [("walk", None)],
             f"walk {walk}, present {sorted(shadow2)}")
        shadow2 = list(walk)
    if cnt != len(shadow2):
        note("count-wrong", path + [("count", None)], f"count {cnt}, present {len(shadow2)}")
    if live2 != len(lay2["descs"]):
        note("descriptor-leak", path,
             f"{live2} descriptors live, {len(lay2['descs'])} reachable from the head")
    m = len(shadow2)
    if m == 1 and lay2["form"] == "many":
        note("no-return-to-single", path,
             f"one spte left, still in a descriptor: {lay2['descs']}")
    if lay2["form"] == "many" and len(lay2["descs"]) > math.ceil(m / ext):
        note("sparse-descriptors", path,
             f"{m} sptes in {len(lay2['descs'])} descriptors: {lay2['descs']}")
    return shadow2


# ---------------------------------------------------------------------------
# Part 2: the race explorer, with its counterexample replayed on C
# ---------------------------------------------------------------------------

def race_bounds(ext: int) -> list[tuple[int, int, int]]:
    """(EXT, max initial length, max writer ops) runs for a checked EXT."""
    runs = [(2, 7, 3), (3, 10, 3)]
    if ext == 4:
        runs.append((4, 13, 3))
    elif ext > 4:
        # three descriptors' worth (capped: the state count grows as len**3)
        runs.append((ext, min(2 * ext + 1, 33), 2))
    return runs


def store_bounds(ext: int) -> list[tuple[int, int, int]]:
    """(EXT, max initial length, max writer ops) runs of the store-by-store
    search for a checked EXT: smaller than race_bounds at a large EXT, since
    every stop inside an op multiplies the states (docs/check.md)."""
    runs = [(2, 7, 3), (3, 10, 3)]
    if ext == 4:
        runs.append((4, 9, 3))
    elif ext > 4:
        runs.append((ext, ext + 1, 2))
    return runs


def crosscheck_c(variant: str, ext: int, cx: dict) -> dict:
    """Replay a counterexample's history and writer ops on the C kernel
    directly (one context, op after op) and through the explorer's
    restore-apply-read-back path: layouts and return values must agree
    after every op."""
    from . import race
    from .native import Rmap, load

    ops = [ln.split() for ln in cx["history"] + cx["writer_ops"]]
    _note(f"C replay of a counterexample at EXT {ext}: " + "; ".join(
        cx["history"] + cx["writer_ops"]))
    mem = race.EMPTY_MEM
    with Rmap(load(variant, ext), 1, expected=len(ops)) as r:
        for i, (op, _h, s) in enumerate(ops):
            s = int(s)
            mem, want = race.apply_op(variant, ext, mem, op, s)
            got = (r.add if op == "add" else r.remove)(0, s)
            if got != want or r.layout(0) != race.layout(mem):
                return {"equal": False, "ops": len(ops),
                        "detail": f"after op {i + 1} ({op} {s}): C {got} {r.layout(0)}, "
                                  f"model {want} {race.layout(mem)}"}
    return {"equal": True, "ops": len(ops)}


def race_check(variant: str, ext: int, locked: bool = False, stores: bool = False) -> dict:
    """The race explorer's runs for one variant; locked: the walker takes
    the head lock (variants that declare PTE_LIST_HEAD_LOCK); stores: writer
    ops stopped after any of their stores (race.explore_stores), else atomic."""
    from . import race

    runs, cx, cx_ext = [], None, None
    for e, max_len, max_ops in (store_bounds if stores else race_bounds)(ext):
        t = time.perf_counter()
        _note(f"race explorer{' store by store' if stores else ''} at EXT {e} (lists up to "
              f"{max_len} sptes, {max_ops} writer ops)")
        res = (race.explore_stores if stores else race.explore)(variant, e, max_len, max_ops,
                                                                 locked=locked)
        b = res.bounds()
        b["can_miss"] = res.can_miss
        b["seconds"] = round(time.perf_counter() - t, 3)
        runs.append(b)
        if res.counterexample and (cx is None or e == ext):
            cx, cx_ext = res.counterexample, e
    out = {
        "can_miss": any(r["can_miss"] for r in runs),
        "bounds": {
            "runs": runs,
            "walker": "one word per step in the variant's walk order (head word; "
                      "per descriptor its count if it has one, slots, then more)"
                      + ("; it takes the head lock (KVM_RMAP_LOCKED) with its first read "
                         "and holds it to the end" if locked else ""),
            "writers": ("add of a fresh spte or remove of any present spte, stopped "
                        "after any of its stores through RMAP_STORE() with walker steps "
                        "run there; stores visible one at a time in program order "
                        "(sequential consistency, what x86-TSO gives one writer and a "
                        "reading walker: docs/check.md)" if stores else
                        "atomic add of a fresh spte or remove of any present spte "
                        "between walker steps") +
                       "; freed descriptors stay readable, never reused",
            "initial_layouts": "every layout reachable from an empty head without "
                               "exceeding the length bound",
        },
        "counterexample": None,
    }
    if cx is not None:
        # the trace as a list of steps, the initial list first
        out["counterexample"] = [{"actor": "init",
                                  "action": "built by: " + "; ".join(cx["history"]),
                                  "layout": cx["initial"]}] + cx["steps"]
        out.update({"ext": cx_ext, "initial_len": cx["initial_len"], "missed": cx["missed"],
                    "events": cx["events"], "history": cx["history"],
                    "writer_ops": cx["writer_ops"],
                    "c_crosscheck": crosscheck_c(variant, cx_ext, cx)})
        if stores:
            out["stopped_mid_op"] = cx["stopped_mid_op"]
    return out


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

def run_check(variants: list[str] | None = None, ext: int | None = None) -> list[dict]:
    """One JSON-ready dict per variant (the objects `check --json` prints)."""
    from .native import trusted
    from .variants import check_ext, check_variant, default_ext, names as all_names

    names = [check_variant(v) for v in (variants or all_names())]
    if ext is not None:
        ext = check_ext(ext)
    out = []
    for v in names:
        e = ext if ext is not None else default_ext(v)
        out.append(_check_one(v, e) if trusted(v) else _check_isolated(v, e))
    return out


def libraries_needed(ext: int) -> list[tuple[int, bool]]:
    """(EXT, check_stores) of every library a check at ext loads."""
    exts = sorted({ext} | {b[0] for b in race_bounds(ext) + store_bounds(ext)})
    return [(e, stores) for e in exts for stores in (False, True)]


def _check_isolated(v: str, e: int) -> dict:
    """_check_one for a user's variant: its libraries compiled here, its code
    run in a child process (bench.isolate), so that a crash or a hang of it
    is one error naming what check was doing."""
    from . import isolate
    from .build import build_library
    from .variants import describe

    for x, stores in libraries_needed(e):
        build_library(v, x, None, stores)
    return isolate.call(lambda: _check_one(v, e), label=describe(v), timeout=isolate.CHECK_S,
                        describe=lambda i, text: f"in check's {text}" if text else "",
                        allowed="a variant whose operations return on every list is "
                        "allowed (docs/variants.md)")


def _note(text: str) -> None:
    from . import isolate
    isolate.note(text)


def _check_one(v: str, e: int) -> dict:
    from .race import head_lock

    t = time.perf_counter()
    conf = conformance(v, e)
    t1 = time.perf_counter()
    locks = head_lock(v, e)
    race = race_check(v, e, locked=locks)
    # a variant with a head lock: the walker that does not take it, too
    unlocked = race_check(v, e, locked=False) if locks else None
    # and the same, store by store
    race_st = race_check(v, e, locked=locks, stores=True)
    unlocked_st = race_check(v, e, locked=False, stores=True) if locks else None
    t2 = time.perf_counter()
    rec = {
        "variant": v, "ext": e,
        "deviations": conf["deviations"],
        "differences": conf["differences"],
        "conformance": {"max_ops": conf["max_ops"], "states": conf["states"],
                        "sequences": conf["sequences"],
                        "seconds": round(t1 - t, 3)},
        "race": race,
        "seconds": round(t2 - t, 3),
    }
    if unlocked is not None:
        rec["race_without_lock"] = unlocked
    rec["race_stores"] = race_st
    if unlocked_st is not None:
        rec["race_stores_without_lock"] = unlocked_st
    return rec


def format_report(results: list[dict]) -> str:
    lines = []
    for r in results:
        c = r["conformance"]
        lines.append(f"== {r['variant']} (EXT {r['ext']}) ==")
        lines.append(f"conformance: {c['sequences']} op sequences of up to {c['max_ops']} ops "
                     f"on the C kernel ({c['states']} distinct layouts, {c['seconds']:.2f} s)")
        for title, rows in (("deviations from DESIGN.md section 2", r["deviations"]),
                            ("differences (within the contract)", r["differences"])):
            if not rows:
                lines.append(f"  {title}: none")
                continue
            lines.append(f"  {title}:")
            w = max(len(x["kind"]) for x in rows)
            for x in rows:
                lines.append(f"    {x['kind']:{w}s}  {_n(len(x['ops']), 'op'):>6s}: {'; '.join(x['ops'])}")
                lines.append(f"    {'':{w}s}  {KIND_TEXT[x['kind']]}: {x['detail']}")
        if "race_without_lock" in r:
            _format_race(lines, r["race"], "race, walker taking the head lock")
            _format_race(lines, r["race_without_lock"], "race, walker not taking the head lock")
        else:
            _format_race(lines, r["race"], "race")
        if "race_stores_without_lock" in r:
            _format_race(lines, r["race_stores"], "race store by store, walker taking "
                         "the head lock")
            _format_race(lines, r["race_stores_without_lock"], "race store by store, walker "
                         "not taking the head lock")
        elif "race_stores" in r:
            _format_race(lines, r["race_stores"], "race store by store")
        lines.append("")
    return "\n".join(lines)


def _format_race(lines: list, race: dict, title: str) -> None:
    from .race import format_trace

    verdict = ("a lockless walker CAN miss an spte present for the whole walk"
               if race["can_miss"] else
               "no interleaving within the bounds makes a lockless walker miss an spte")
    lines.append(f"{title}: {verdict}")
    for b in race["bounds"]["runs"]:
        st = (f", up to {b['max_stores_per_op']} stores per op"
              if "max_stores_per_op" in b else "")
        lines.append(f"  EXT {b['ext']}: lists up to {b['max_initial_len']} sptes "
                     f"({b['initial_layouts']} layouts), up to {b['max_writer_ops']} writer ops"
                     f"{st}: {'miss' if b['can_miss'] else 'no miss'} "
                     f"({b['states']} states, {b['seconds']:.2f} s)")
        if b.get("max_stores_per_op") == 0:
            lines.append("    (no store of this variant goes through RMAP_STORE(): its ops "
                         "stay atomic here; native/rmap.h)")
    if race["counterexample"]:
        cx = dict(race, initial=race["counterexample"][0]["layout"],
                  steps=race["counterexample"][1:])
        lines.append(f"  shortest counterexample at EXT {cx['ext']} ({cx['events']} events):")
        lines.append(format_trace(cx, indent="    "))
        cc = cx["c_crosscheck"]
        lines.append("    C kernel replay of these ops: " +
                     (f"same layouts and returns after each of {cc['ops']} ops"
                      if cc["equal"] else "DIFFERS: " + cc["detail"]))


def _cmd(args) -> int:
    from .variants import parse_variants

    variants = parse_variants(args.variant) if args.variant is not None else None
    if args.out is not None:
        from .errors import refuse_dir_like
        from .results import check_output_file

        refuse_dir_like(args.out, "check: --out")   # 'DIR/x/' is not the file 'DIR/x'
        check_output_file(args.out)         # before the search, not after it
    t = time.perf_counter()
    results = run_check(variants, args.ext)
    if args.out is not None:
        from .results import atomic_write

        atomic_write(Path(args.out), json.dumps(results, indent=1) + "\n")
        print(f"check results: {args.out}")
    elif args.json:
        sys.stdout.write(json.dumps(results, indent=1) + "\n")
    else:
        sys.stdout.write(format_report(results))
        sys.stdout.write(f"check took {time.perf_counter() - t:.1f} s\n")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check", help="conformance of each variant to the contract, and its lockless-walk races")
    p.add_argument("--variant", help="comma-separated variants (default: all)")
    p.add_argument("--ext", help="slots per descriptor (default: each variant's own)")
    p.add_argument("--json", action="store_true", help="print one JSON list instead")
    p.add_argument("--out", help="write the JSON list to this file (atomically) instead")
    p.set_defaults(func=_cmd)
