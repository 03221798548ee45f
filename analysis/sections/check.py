"""The behaviour check and the lockless-walk race (rmapbench check --json)."""

from __future__ import annotations

from ..fmt import text as _text
from ..render import Heading, Para, Pre, Table
from . import Context

TITLE = "Behaviour check and lockless-walk race"


def _ops_text(ops) -> str:
    if isinstance(ops, list) and all(isinstance(o, str) for o in ops):
        return "; ".join(ops)
    return _text(ops)


def _kinds_text(items) -> str:
    out = []
    for d in items or []:
        if isinstance(d, dict):
            ops = d.get("ops")
            n = f"{len(ops)} ops: " if isinstance(ops, list) else ""
            out.append(f"{d.get('kind', '?')}: {d.get('detail', '')}"
                       + (f" ({n}{_ops_text(ops)})" if ops else ""))
        else:
            out.append(_text(d))
    return "; ".join(out) or "none"


def _bounds_text(bounds) -> str:
    """rmapbench check's {"runs": [{ext, max_initial_len, max_writer_ops, can_miss}...]}."""
    if isinstance(bounds, dict) and isinstance(bounds.get("runs"), list):
        parts = []
        for b in bounds["runs"]:
            if not isinstance(b, dict):
                continue
            miss = {True: "miss", False: "no miss"}.get(b.get("can_miss"), "?")
            parts.append(f"EXT {b.get('ext', '?')}: lists up to {b.get('max_initial_len', '?')} "
                         f"sptes, up to {b.get('max_writer_ops', '?')} writer ops: {miss}")
        return "; ".join(parts) or _text(bounds)
    return "" if bounds is None else _text(bounds)


def _trace_text(cx) -> str:
    """A counterexample as lines: a list of steps {actor, action, layout} or anything else."""
    if isinstance(cx, list) and all(isinstance(s, dict) for s in cx):
        return "\n".join(f"{s.get('actor', '?'):>7}: {s.get('action', '')}"
                         + (f"    [{s['layout']}]" if s.get("layout") else "") for s in cx)
    if isinstance(cx, list):
        return "\n".join(_text(s) for s in cx)
    return _text(cx)


def check_blocks(check: list, source: str) -> list:
    """The optional section from `rmapbench check --json` (a list of per-variant
    objects: variant, ext, deviations [{kind, ops, detail}], differences,
    race {can_miss, bounds, counterexample}, and for a variant with a head lock
    race_without_lock, the walker that does not take it: one row each)."""
    rows, traces = [], []
    runs = []
    for c in check:
        if isinstance(c, dict) and isinstance(c.get("race_without_lock"), dict):
            # a head lock: the walker taking it, and one that does not
            runs.append((f"{c.get('variant')} (walker takes the head lock)", c, c.get("race")))
            runs.append((f"{c.get('variant')} (walker without the lock)", c,
                         c["race_without_lock"]))
        else:
            runs.append((str(c.get("variant")), c, c.get("race")))
    for label, c, race in runs:
        race = race or {}
        can_miss = race.get("can_miss")
        cx = race.get("counterexample")
        rows.append([label, _text(c.get("ext")), _kinds_text(c.get("deviations")),
                     _kinds_text(c.get("differences")) if "differences" in c else "",
                     "yes" if can_miss is True else "no" if can_miss is False else _text(can_miss),
                     _bounds_text(race.get("bounds")),
                     "" if cx is None else (f"{len(cx)} steps, below" if isinstance(cx, list)
                                            else _text(cx))])
        if cx is not None:
            where = f" at EXT {race['ext']}" if "ext" in race else ""
            m = race.get("missed")
            missed = (f"; missed spte(s) {', '.join(map(str, m)) if isinstance(m, list) else m}"
                      if m is not None else "")
            traces += [Para(f"{label}: shortest counterexample{where}{missed}:"),
                       Pre(_trace_text(cx))]
    return [Heading(2, TITLE),
            Para(f"From {source} (rmapbench check): deviations of each variant from the "
                 "documented pte_list contract, and whether a lockless walker can miss an spte "
                 "that stays present for the whole walk (DESIGN.md section 7), within the "
                 "search bounds, with a shortest counterexample."),
            Table("check results (exhaustive search on the model and the C kernels; not a timing)",
                  ["variant", "EXT", "deviations", "differences (within the contract)",
                   "walker can miss an spte", "bounds", "counterexample"], rows)] + traces


def blocks(ctx: Context) -> list:
    return check_blocks(ctx.check, ctx.check_source) if ctx.check else []
