"""`rmapbench trace`: replay an op file on the real C kernels.

Op lines: `add H S`, `remove H S`, `walk H`, `count H` (H a head index, S an
spte id >= 1).  Blank lines and lines starting with `#` are skipped.  The
output is one JSON object per op, then one per head touched, sorted by
head, giving its slot-exact layout (DESIGN.md section 9).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterable

from .errors import UsageError, read_user_text

ARITY = {"add": 2, "remove": 2, "walk": 1, "count": 1}
MAX_HEAD = 1 << 20          # head indexes 0 .. MAX_HEAD-1
MAX_SPTE = (1 << 60) - 1    # id << 3 must fit a pointer


def _clip(text: str, limit: int = 60) -> str:
    """A token or line as it is shown in an error: repr'd, at most ~limit characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


_DECIMAL = re.compile(r"-?[0-9]+")


def _int(tok: str, what: str, lo: int, hi: int, where: str) -> int:
    # plain ASCII decimal only: int() would also take '1_0', '+1' and other scripts' digits
    if not _DECIMAL.fullmatch(tok):
        raise UsageError(f"{where}: {what} {_clip(tok)} is not an integer "
                         f"(allowed: {lo} to {hi}, in plain decimal digits)")
    try:
        v = int(tok, 10)
    except ValueError:      # more digits than int() converts
        raise UsageError(f"{where}: {what} {_clip(tok)} out of range "
                         f"(allowed: {lo} to {hi})") from None
    if not lo <= v <= hi:
        shown = str(v) if len(tok) <= 60 else _clip(tok)
        raise UsageError(f"{where}: {what} {shown} out of range (allowed: {lo} to {hi})")
    return v


_BLANKS = re.compile(r"[ \t]+")


def split_lines(text: str) -> list[str]:
    """Lines split on '\n' only (str.splitlines would also split on form
    feeds, vertical tabs, '\x1c'..'\x1e', '\x85' and U+2028/2029); a '\r'
    before the '\n' is dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def parse_ops(lines: Iterable[str], source: str = "<ops>",
              linenos: list[int] | None = None) -> list[tuple]:
    """The ops of an op file's lines; linenos, if given, gets each op's line."""
    ops = []
    for no, raw in enumerate(lines, 1):
        line = raw.strip(" \t")        # ASCII blanks only: any other character is content
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{no}"
        tok = _BLANKS.split(line)
        op = tok[0]
        if op not in ARITY:
            raise UsageError(f"{where}: unknown op {_clip(op, 20)} in {_clip(line)} "
                             "(allowed: add H S, remove H S, walk H, count H)")
        if len(tok) != ARITY[op] + 1:
            form = f"{op} H S" if ARITY[op] == 2 else f"{op} H"
            raise UsageError(f"{where}: malformed line {_clip(line)}: expected '{form}'")
        h = _int(tok[1], "head index", 0, MAX_HEAD - 1, where)
        if linenos is not None:
            linenos.append(no)
        if ARITY[op] == 2:
            s = _int(tok[2], "spte id", 1, MAX_SPTE, where)
            ops.append((op, h, s))
        else:
            ops.append((op, h))
    return ops


def read_ops(path: str, linenos: list[int] | None = None) -> list[tuple]:
    """An op file (or '-' for stdin), at most LIMITS["ops file"] bytes;
    linenos, if given, gets each op's line number."""
    from .errors import LIMITS, decode_text, read_stream

    if path == "-":
        if sys.stdin is None:
            raise UsageError("ops from stdin: standard input is closed: give an op file, or "
                             "pipe the ops in")
        try:
            data = read_stream(sys.stdin.buffer, "ops from stdin", LIMITS["ops file"])
        except OSError as e:
            raise UsageError(f"ops from stdin cannot be read: {e.strerror}: give an op "
                             "file, or pipe the ops in") from None
        return parse_ops(split_lines(decode_text(data, "ops from stdin")), "<stdin>", linenos)
    text = read_user_text(path, "ops file")
    return parse_ops(split_lines(text), path, linenos)


def replay(target, ops: list[tuple]) -> list[dict]:
    """Run ops on target (a bench.native.Rmap, or the tests' Python model) and
    return the records trace prints: one per op, then one per head.  In a
    child running a user's variant (bench.isolate) each op's index, then
    len(ops) + the index of each head dumped, is left as a breadcrumb."""
    from .isolate import crumb

    out, touched = [], set()
    for i, op in enumerate(ops):
        crumb(i)
        kind, h = op[0], op[1]
        touched.add(h)
        if kind == "add":
            out.append({"op": "add", "head": h, "spte": op[2], "ret": target.add(h, op[2])})
        elif kind == "remove":
            out.append({"op": "remove", "head": h, "spte": op[2],
                        "ret": target.remove(h, op[2])})
        elif kind == "walk":
            out.append({"op": "walk", "head": h, "ret": target.walk(h)})
        else:
            out.append({"op": "count", "head": h, "ret": target.count(h)})
    for k, h in enumerate(sorted(touched)):
        crumb(len(ops) + k)
        out.append(target.layout(h))
    return out


def run_c(variant: str, ext: int, ops: list[tuple], cflags: str | None = None,
          alloc: str = "slab", where: str = "", linenos: list[int] | None = None) -> list[dict]:
    """The records of ops replayed on the C kernel.  A user's variant runs in
    a child process (bench.isolate): a crash or a hang of its code is one
    UsageError naming the op (and its line in `where`, given linenos)."""
    from . import isolate
    from .build import build_library
    from .native import Rmap, load, trusted
    from .variants import describe

    def work() -> list[dict]:
        kernel = load(variant, ext, cflags)
        nheads = max((op[1] for op in ops), default=0) + 1
        with Rmap(kernel, nheads, alloc=alloc, expected=len(ops)) as rmap:
            return replay(rmap, ops)

    if trusted(variant):
        return work()
    build_library(variant, ext, cflags)     # compiled here; only run in the child
    heads = sorted({op[1] for op in ops})

    def at(i: int, text: str) -> str:
        if 0 <= i < len(ops):
            line = f" at {where}:{linenos[i]}" if linenos and i < len(linenos) else ""
            return f"in op {i + 1}, {' '.join(map(str, ops[i]))!r}{line}"
        if len(ops) <= i < len(ops) + len(heads):
            return (f"while the suite dumped head {heads[i - len(ops)]}'s slots after the "
                    f"ops (through the descriptors the variant left)")
        return "while its library was loaded"

    return isolate.call(work, label=describe(variant), describe=at, timeout=isolate.TRACE_S,
                        allowed="a variant whose operations return, leaving a head the "
                        "declared layout describes, is allowed (docs/variants.md)")


def format_records(records: list[dict]) -> str:
    return "".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in records)
