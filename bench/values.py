"""The one parser for numbers a user types: command-line options and sizes.

Every integer option (--n, --heads, --seed, --ext, --cpu, --processes, ...)
goes through parse_int: plain ASCII decimal digits, an optional leading '-'
(so that a negative value is named as out of range rather than as not a
number), and a stated range.  Python's int() would also take '+5', '1_000',
' 7 ' and other scripts' digits ('\u0661'); those are refused here, as is an
empty value (which is never "all" or "the default").  Fractions (--precision,
--budget, --min-time) go through parse_number: ASCII digits with at most one
'.', no exponent, no 'nan' or 'inf'.  Sizes ("64MiB", "512K", 4096) through
parse_size, computed exactly in integers and bounded, never through a float
that could overflow to infinity.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .errors import UsageError

# pyperf's integer options, (lowest, highest) allowed: `run --NAME` and a
# sweep config's options.pyperf.NAME take the same (loops 0 = pyperf calibrates)
PYPERF_INT_RANGES = {"processes": (1, 1000), "values": (1, 1000), "warmups": (0, 1000),
                     "loops": (0, 1 << 30)}
BUDGET_MAX = 3600.0      # --budget / options.budget: seconds of timing per case group, at most

_INT = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
MAX_DIGITS = 40             # more than any allowed range needs: beyond is out of range


def shown(text, limit: int = 40) -> str:
    """A value as an error line shows it: repr'd, clipped, on one line."""
    if not isinstance(text, str):
        return repr(text)
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} chars)"
    return repr(text)


def _range_text(lo, hi) -> str:
    return f"{lo} to {hi}" if hi is not None else f">= {lo}"


def parse_int(name: str, text, lo: int, hi: int | None = None) -> int:
    """text (a string as typed, or an int) as an integer from lo to hi."""
    allowed = _range_text(lo, hi)
    if isinstance(text, int) and not isinstance(text, bool):
        v = text
    else:
        if not isinstance(text, str) or text == "":
            raise UsageError(f"{name} {shown(text)}: an empty value is not allowed: an integer "
                             f"{allowed} (decimal digits) is allowed")
        if not _INT.fullmatch(text):
            raise UsageError(f"bad {name} {shown(text)}: an integer {allowed} (plain decimal "
                             "digits 0-9, no sign, '_' or spaces) is allowed")
        if len(text.lstrip("-")) > MAX_DIGITS:
            raise UsageError(f"{name} {shown(text)} out of range: {allowed} is allowed")
        v = int(text, 10)
    if v < lo or (hi is not None and v > hi):
        raise UsageError(f"{name} {v} out of range: {allowed} is allowed")
    return v


def parse_int_list(name: str, text, lo: int, hi: int | None = None) -> list[int]:
    """'1,4,16' -> [1, 4, 16]: each a parse_int, none empty, none twice."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{name} {shown(text)}: an empty value is not allowed: "
                         f"comma-separated integers {_range_text(lo, hi)} are allowed")
    out = []
    for part in text.split(","):
        try:
            v = parse_int(name, part.strip() if part.strip() else part, lo, hi)
        except UsageError as e:       # the whole list, then what is wrong in it
            raise UsageError(f"{name} {shown(text)}: {e}") from None
        if v in out:
            raise UsageError(f"{name} {shown(text)} names {v} twice: each value once is allowed")
        out.append(v)
    return out


def parse_number(name: str, text, lo: float, hi: float, *, lo_open: bool = True,
                 hi_open: bool = False, allowed: str | None = None) -> float:
    """text as a decimal fraction in the interval (lo, hi] (by default)."""
    a = "(" if lo_open else "["
    b = ")" if hi_open else "]"
    allowed = allowed or f"a decimal number in {a}{lo:g}, {hi:g}{b}"
    if not isinstance(text, str) or text == "":
        raise UsageError(f"{name} {shown(text)}: an empty value is not allowed: {allowed} "
                         "is allowed")
    if not _NUMBER.fullmatch(text) or len(text) > MAX_DIGITS:
        raise UsageError(f"bad {name} {shown(text)}: {allowed} (plain decimal digits and "
                         "at most one '.') is allowed")
    x = Fraction(text)
    if x < lo or x > hi or (lo_open and x == lo) or (hi_open and x == hi):
        raise UsageError(f"{name} {text} out of range: {allowed} is allowed")
    return float(x)


SIZE_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(B|K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?\s*",
                     re.I | re.ASCII)
SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
              "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
              "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}
SIZE_MAX = 1 << 50          # 1 PiB: no size the suite takes comes near it


def parse_size(text) -> int | None:
    """'64MiB', '512K', '1.5GiB', 4096 -> bytes (binary units, rounded down);
    None if not a size from 1 byte to SIZE_MAX."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text if 0 < text <= SIZE_MAX else None
    if not isinstance(text, str) or len(text) > 64:
        return None
    m = SIZE_RE.fullmatch(text)
    if not m:
        return None
    value = int(Fraction(m.group(1)) * SIZE_UNITS[(m.group(2) or "").lower()])
    return value if 0 < value <= SIZE_MAX else None
