"""`rmapbench import`: the pte_list code of a kernel tree as a user variant.

From arch/x86/kvm/mmu/mmu.c (arch/x86/kvm/mmu.c before the file moved) the
pte_list code is taken as written: PTE_LIST_EXT's value, struct
pte_list_desc, pte_list_add, pte_list_desc_remove_entry, __pte_list_remove
or pte_list_remove, pte_list_count, the rmap iterator (struct rmap_iterator,
rmap_get_first, rmap_get_next, for_each_rmap_spte) or pte_list_walk, the
KVM_RMAP_LOCKED lock helpers, and every macro, type and helper of mmu.c
they use.  Nothing is rewritten: the code goes into a generated C file in
the tree's order, after native/kshim.h (which maps the kernel facilities
onto the suite's), followed by generated glue implementing the variant
interface of native/rmap.h.

The reading is at the level of C tokens: comments, strings and character
literals are skipped as wholes, preprocessor lines (with their
continuations) are one token each, and #if/#ifdef/#ifndef/#elif/#else
blocks are evaluated as a production build would (CONFIG_X86_64 and
CONFIG_X86 on, every other symbol off unless the file defines it:
MMU_DEBUG, CONFIG_KVM_PROVE_MMU and CONFIG_BUG_ON_DATA_CORRUPTION are off).
Top-level items (functions, structs, typedefs, declarations, macros) are
found by matching braces and parentheses over those tokens.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError, file_kind

MMU_PATHS = ("arch/x86/kvm/mmu/mmu.c", "arch/x86/kvm/mmu.c")
MAX_BYTES = 8 << 20            # a real mmu.c is ~250 KB
DEFINED = {"CONFIG_X86_64": "1", "CONFIG_X86": "1", "CONFIG_64BIT": "1", "__KERNEL__": "1"}

# Names the shim provides: never taken from mmu.c even when mmu.c defines them
# (allocation wrappers reach into struct kvm_vcpu; the printk macros read the
# spte; is_shadow_present_pte reads the spte; kvm_rmap_head is the suite's).
SHIM_PROVIDED = {
    "mmu_alloc_pte_list_desc", "mmu_free_pte_list_desc", "kvm_mmu_memory_cache_alloc",
    "mmu_memory_cache_alloc", "is_shadow_present_pte", "kvm_rmap_head", "rmap_printk",
    "pgprintk", "MMU_WARN_ON", "KVM_MMU_WARN_ON", "dbg", "BIT", "ASSERT",
}
# The interface names of native/rmap.h: the kernel's functions of the same
# names are renamed kernel_<name> in the generated file.
INTERFACE = ("pte_list_add", "pte_list_remove", "__pte_list_remove", "pte_list_count",
             "pte_list_walk", "pte_list_dump")

# shape -> (what it is, the first release of its era as the registry's
# `kernels` field spells it: the built-in standing for that era)
SHAPES = {
    "chain": ("3.x-5.14 chain without counters", "v3."),
    "count": ("5.15-6.3 per-descriptor spte_count", "v5.15"),
    "tail": ("6.4-6.14 head-only with tail_count", "v6.4"),
    "locked": ("6.15+ head-only with tail_count and the KVM_RMAP_LOCKED head lock", "v6.15"),
}


def era_builtin(shape: str) -> str | None:
    """The built-in variant that stands for the shape's kernel releases."""
    from . import variants
    first = SHAPES[shape][1]
    return next((v.name for v in variants.BUILTINS if v.kernels.startswith(first)), None)

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,47}")


class ImportFailure(UsageError):
    """The file is readable but its pte_list code is not one the suite can take."""


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

@dataclass
class Tok:
    kind: str       # ident, num, str, chr, punct, pp
    text: str
    start: int
    end: int


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUM = re.compile(r"\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*")


def tokenize(src: str, where: str) -> list[Tok]:
    """C tokens of src; comments dropped, each preprocessor line one `pp` token."""
    toks: list[Tok] = []
    i, n = 0, len(src)
    line_start = True
    while i < n:
        c = src[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if c == "\\" and src.startswith("\\\n", i):
            i += 2
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise ImportFailure(f"{where}: a comment opened at line "
                                    f"{src.count(chr(10), 0, i) + 1} is never closed")
            i = j + 2
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "#" and line_start:
            j = _pp_end(src, i)
            toks.append(Tok("pp", src[i:j], i, j))
            i = j
            continue
        line_start = False
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                if src[j] == "\\":
                    j += 1
                elif src[j] == "\n":
                    break
                j += 1
            if j >= n or src[j] != c:
                what = "string" if c == '"' else "character"
                raise ImportFailure(f"{where}: unterminated {what} literal at line "
                                    f"{src.count(chr(10), 0, i) + 1}")
            toks.append(Tok("str" if c == '"' else "chr", src[i:j + 1], i, j + 1))
            i = j + 1
            continue
        m = _IDENT.match(src, i)
        if m:
            toks.append(Tok("ident", m.group(), i, m.end()))
            i = m.end()
            continue
        m = _NUM.match(src, i)
        if m:
            toks.append(Tok("num", m.group(), i, m.end()))
            i = m.end()
            continue
        if src.startswith("##", i) or src.startswith("->", i):
            toks.append(Tok("punct", src[i:i + 2], i, i + 2))
            i += 2
            continue
        toks.append(Tok("punct", c, i, i + 1))
        i += 1
    return toks


def _pp_end(src: str, i: int) -> int:
    """End of the preprocessor line starting at i: continuations and block
    comments (which may span lines) included, the newline not."""
    n = len(src)
    while i < n:
        if src.startswith("\\\n", i):
            i += 2
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif src.startswith("//", i):
            j = src.find("\n", i)
            return n if j < 0 else j
        elif src[i] == "\n":
            return i
        else:
            i += 1
    return n


def _pp_parts(text: str) -> tuple[str, str]:
    """('define', 'NAME(args) body') from '#  define NAME(args) body', comments removed."""
    body = re.sub(r"/\*.*?\*/", " ", text[1:], flags=re.S)
    body = re.sub(r"//.*", "", body).replace("\\\n", " ")
    m = re.match(r"\s*([A-Za-z_]\w*)?\s*(.*)", body, re.S)
    return (m.group(1) or ""), m.group(2).strip()


# ---------------------------------------------------------------------------
# Conditional blocks
# ---------------------------------------------------------------------------

def _cond_eval(expr: str, macros: dict[str, str], where: str) -> bool:
    return bool(_cpp_value(expr, macros, where))


def _kconfig_test(call: str, macros: dict[str, str]) -> int:
    """IS_ENABLED(X) and its kin as include/linux/kconfig.h defines them: a
    built-in option is X defined to 1, a modular one X_MODULE defined to 1;
    IS_REACHABLE also takes a modular option from code built as a module
    (MODULE defined).  Under this importer's production rule every CONFIG_
    symbol but the x86-64 ones is off, so most of these are 0."""
    test, name = re.findall(r"\w+", call)[:2]
    builtin = macros.get(name, "").strip() == "1"
    module = macros.get(name + "_MODULE", "").strip() == "1"
    value = {"IS_BUILTIN": builtin, "IS_MODULE": module, "IS_ENABLED": builtin or module,
             "IS_REACHABLE": builtin or (module and "MODULE" in macros)}[test]
    return int(value)


MAX_IF_DEPTH = 64      # nesting of an #if expression; the kernel's stay under 10


class _TooDeep(Exception):
    pass


# binary operators of #if, loosest first, each level binding tighter
_CPP_LEVELS = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
               ("<<", ">>"), ("+", "-"), ("*", "/", "%")]
_CPP_PREC = {op: k for k, ops in enumerate(_CPP_LEVELS) for op in ops}
_CPP_OPS = {"*": lambda a, b: a * b, "/": lambda a, b: a // b if b else 0,
            "%": lambda a, b: a % b if b else 0, "+": lambda a, b: a + b,
            "-": lambda a, b: a - b, "<<": lambda a, b: a << min(b, 64),
            ">>": lambda a, b: a >> min(b, 64), "<": lambda a, b: int(a < b),
            ">": lambda a, b: int(a > b), "<=": lambda a, b: int(a <= b),
            ">=": lambda a, b: int(a >= b), "==": lambda a, b: int(a == b),
            "!=": lambda a, b: int(a != b), "&": lambda a, b: a & b,
            "^": lambda a, b: a ^ b, "|": lambda a, b: a | b,
            "&&": lambda a, b: int(bool(a) and bool(b)),
            "||": lambda a, b: int(bool(a) or bool(b))}


def _cpp_value(expr: str, macros: dict[str, str], where: str) -> int:
    """A #if expression's value: defined(X), the kconfig tests IS_ENABLED(X),
    IS_BUILTIN(X), IS_MODULE(X) and IS_REACHABLE(X) (include/linux/kconfig.h:
    X, or X_MODULE, defined to 1), integers, identifiers (macros expanded
    once if they are plain integers, else 0), ! ~ * / % + - << >> < > <= >=
    == != & ^ | && || ?: and parentheses."""
    toks = re.findall(r"defined\s*\(\s*\w+\s*\)|defined\s+\w+"
                      r"|IS_(?:ENABLED|BUILTIN|MODULE|REACHABLE)\s*\(\s*\w+\s*\)"
                      r"|\d+[uUlL]*|0[xX][0-9a-fA-F]+[uUlL]*"
                      r"|[A-Za-z_]\w*|&&|\|\||<<|>>|<=|>=|==|!=|[()!~*/%+\-<>&^|?:]|\S", expr)
    vals: list = []
    for t in toks:
        if t.startswith("defined"):
            vals.append(1 if re.findall(r"\w+", t)[1] in macros else 0)
        elif t.startswith("IS_") and t.endswith(")"):
            vals.append(_kconfig_test(t, macros))
        elif re.fullmatch(r"\d+[uUlL]*", t):
            vals.append(int(t.rstrip("uUlL")))
        elif re.fullmatch(r"0[xX][0-9a-fA-F]+[uUlL]*", t):
            vals.append(int(t.rstrip("uUlL"), 16))
        elif re.fullmatch(r"[A-Za-z_]\w*", t):
            v = macros.get(t, "0").strip()
            vals.append(int(v) if re.fullmatch(r"\d+", v) else 0)
        else:
            vals.append(t)
    pos = 0
    depth = 0

    def peek():
        return vals[pos] if pos < len(vals) else None

    def take():
        nonlocal pos
        pos += 1
        return vals[pos - 1]

    def nested():
        # parentheses, unary operators and ?: nest by recursion: bounded
        nonlocal depth
        depth += 1
        if depth > MAX_IF_DEPTH:
            raise _TooDeep

    def primary():
        nonlocal depth
        t = take() if peek() is not None else None
        if isinstance(t, int):
            return t
        nested()
        try:
            if t == "(":
                v = ternary()
                if take() != ")":
                    raise ValueError
                return v
            if t == "!":
                return int(not primary())
            if t == "~":
                return ~primary()
            if t == "-":
                return -primary()
            if t == "+":
                return primary()
            raise ValueError
        finally:
            depth -= 1

    def binary(min_prec):
        # precedence climbing: one frame per operator level actually used
        v = primary()
        while isinstance(peek(), str) and _CPP_PREC.get(peek(), -1) >= min_prec:
            op = take()
            w = binary(_CPP_PREC[op] + 1)
            v = _CPP_OPS[op](v, w)
        return v

    def ternary():
        nonlocal depth
        v = binary(0)
        if peek() == "?":
            take()
            nested()
            try:
                a = ternary()
                if take() != ":":
                    raise ValueError
                b = ternary()
            finally:
                depth -= 1
            return a if v else b
        return v

    try:
        v = ternary()
        if pos != len(vals):
            raise ValueError
    except _TooDeep:
        raise ImportFailure(f"{where}: '#if' expression nested deeper than {MAX_IF_DEPTH} "
                            "levels (parentheses, unary operators, ?:): at most "
                            f"{MAX_IF_DEPTH} are allowed") from None
    except (ValueError, IndexError, TypeError):
        shown = expr.strip() if len(expr.strip()) <= 80 else expr.strip()[:80] + "..."
        raise ImportFailure(f"{where}: cannot evaluate '#if {shown}'") from None
    return v


def active_tokens(toks: list[Tok], src: str, where: str) -> tuple[list[Tok], list[tuple[int, int]]]:
    """The tokens a production build compiles, and the source ranges dropped
    (inactive blocks and the conditional directives themselves)."""
    macros = dict(DEFINED)
    line_of = LineOf(src)
    out: list[Tok] = []
    dropped: list[tuple[int, int]] = []
    # stack of [this branch active, some branch taken, parent active]
    stack: list[list[bool]] = []
    active = True
    drop_from = None
    for t in toks:
        if t.kind == "pp":
            d, rest = _pp_parts(t.text)
            line = f"{where}:{line_of(t.start)}"
            if d in ("if", "ifdef", "ifndef"):
                if active:
                    if d == "if":
                        v = _cond_eval(rest, macros, line)
                    else:
                        m = re.match(r"\w+", rest)
                        if not m:
                            raise ImportFailure(f"{line}: #{d} without a name")
                        v = (m.group() in macros) == (d == "ifdef")
                else:
                    v = False
                stack.append([active and v, active and v, active])
                dropped.append((t.start, t.end))
                active = stack[-1][0]
                if not active and drop_from is None:
                    drop_from = t.end
                continue
            if d in ("elif", "else", "endif"):
                if not stack:
                    raise ImportFailure(f"{line}: #{d} without #if")
                top = stack[-1]
                if drop_from is not None and not top[0] and top[2]:
                    dropped.append((drop_from, t.start))
                    drop_from = None
                dropped.append((t.start, t.end))
                if d == "endif":
                    stack.pop()
                    active = top[2]
                else:
                    v = top[2] and not top[1] and (
                        d == "else" or _cond_eval(rest, macros, line))
                    top[0] = v
                    top[1] = top[1] or v
                    active = v
                if not active and drop_from is None:
                    drop_from = t.end
                continue
            if not active:
                continue
            if d == "define":
                m = re.match(r"(\w+)(\(.*?\))?\s*(.*)", rest, re.S)
                if m:
                    macros[m.group(1)] = "" if m.group(2) else m.group(3)
            elif d == "undef":
                m = re.match(r"\w+", rest)
                if m:
                    macros.pop(m.group(), None)
            out.append(t)
            continue
        if active:
            out.append(t)
    if stack:
        raise ImportFailure(f"{where}: an #if block is never closed (#endif missing)")
    return out, dropped


# ---------------------------------------------------------------------------
# Top-level items
# ---------------------------------------------------------------------------

@dataclass
class Item:
    kind: str               # function, struct, typedef, decl, define, undef
    name: str
    toks: list[Tok]
    body: list[Tok] = field(default_factory=list)   # function body or macro tokens

    @property
    def start(self) -> int:
        return self.toks[0].start

    @property
    def end(self) -> int:
        return self.toks[-1].end


_SKIP_WORDS = {"static", "inline", "extern", "const", "volatile", "__always_inline", "noinline",
               "__maybe_unused", "__must_check", "__init", "__exit", "__cold", "__weak",
               "unsigned", "signed", "struct", "union", "enum", "__attribute__", "__read_mostly",
               "__ro_after_init"}


def _match(toks: list[Tok], i: int, open_: str, close: str, where: str) -> int:
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].text == open_:
            depth += 1
        elif toks[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise ImportFailure(f"{where}: unbalanced '{open_}' opened at offset {toks[i].start}")


def split_items(toks: list[Tok], where: str) -> list[Item]:
    """Top-level items: a function ends at its body's closing brace, anything
    else at the `;` at brace and paren depth 0; #define and #undef are items."""
    items: list[Item] = []
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t.kind == "pp":
            d, rest = _pp_parts(t.text)
            if d in ("define", "undef"):
                m = re.match(r"\w+", rest)
                if m:
                    body = tokenize(rest[m.end():], where) if d == "define" else []
                    items.append(Item(d, m.group(), [t], body))
            i += 1
            continue
        j, func = i, False
        while j < n:
            tj = toks[j]
            if tj.kind == "pp" or tj.text == ";":
                break
            if tj.text in ("(", "["):
                j = _match(toks, j, tj.text, ")" if tj.text == "(" else "]", where) + 1
                continue
            if tj.text == "{":
                k = _match(toks, j, "{", "}", where)
                head = _strip_attrs(toks[i:j])
                if head and head[-1].text == ")" and "=" not in [x.text for x in head]:
                    items.append(Item("function", _func_name(head), toks[i:k + 1], toks[j:k + 1]))
                    j, func = k + 1, True
                    break
                j = k + 1
                continue
            j += 1
        if func:
            i = j
            continue
        semi = j < n and toks[j].text == ";"
        part = toks[i:j + 1] if semi else toks[i:j]
        if part:
            items.append(Item(*_decl_kind_name(part), part))
        i = j + 1 if semi else max(j, i + 1)
    return items


def _strip_attrs(head: list[Tok]) -> list[Tok]:
    out, i = [], 0
    while i < len(head):
        if head[i].text == "__attribute__" and i + 1 < len(head) and head[i + 1].text == "(":
            i = _match(head, i + 1, "(", ")", "attr") + 1
            continue
        out.append(head[i])
        i += 1
    return out


def _func_name(head: list[Tok]) -> str:
    head = _strip_attrs(head)
    for k, t in enumerate(head):
        if t.text == "(" and k and head[k - 1].kind == "ident":
            return head[k - 1].text
    return ""


def _decl_kind_name(part: list[Tok]) -> tuple[str, str]:
    words = [t.text for t in part]
    if words and words[0] == "typedef":
        p = _strip_attrs(part)
        for k in range(len(p) - 2):
            if p[k].text == "(" and p[k + 1].text == "*" and p[k + 2].kind == "ident":
                return "typedef", p[k + 2].text
        idents = [t.text for t in p if t.kind == "ident"]
        return "typedef", idents[-1] if idents else ""
    for kw in ("struct", "union", "enum"):
        if (len(part) >= 3 and kw in words[:3]):
            k = words.index(kw)
            if k + 2 < len(part) and part[k + 1].kind == "ident" and part[k + 2].text == "{":
                close = _match(part, k + 2, "{", "}", "decl")
                rest = [t for t in part[close + 1:] if t.text != ";"]
                if not rest:
                    return kw, part[k + 1].text
    p = _strip_attrs(part)
    name = ""
    for k, t in enumerate(p):
        if t.text in ("=", "[", ";"):
            break
        if t.text == "(":
            # a prototype or a top-level macro call: the identifier before '('
            if k and p[k - 1].kind == "ident":
                name = p[k - 1].text
            break
        if t.kind == "ident" and t.text not in _SKIP_WORDS:
            name = t.text
    return "decl", name


def struct_members(item: Item) -> list[str]:
    toks = item.toks
    k = next(i for i, t in enumerate(toks) if t.text == "{")
    close = _match(toks, k, "{", "}", "struct")
    names, depth, last = [], 0, None
    for t in toks[k + 1:close]:
        if t.text in "({[":
            depth += 1
        elif t.text in ")}]":
            depth -= 1
        elif depth == 0 and t.kind == "ident":
            last = t.text
        elif depth == 0 and t.text in ";," and last:
            names.append(last)
            last = None
    return names


def params(item: Item) -> list[tuple[str, str]]:
    """(type, name) of a function's parameters, e.g. ('struct kvm_rmap_head *', 'rmap_head')."""
    head = _strip_attrs(item.toks[:item.toks.index(item.body[0])])
    k = next(i for i, t in enumerate(head) if t.text == "(" and i and head[i - 1].text == item.name)
    close = _match(head, k, "(", ")", item.name)
    out, cur, depth = [], [], 0
    for t in head[k + 1:close]:
        if t.text in "([":
            depth += 1
        elif t.text in ")]":
            depth -= 1
        if t.text == "," and depth == 0:
            out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    res = []
    for p in out:
        words = [t.text for t in p]
        if words == ["void"]:
            continue
        if p and p[-1].kind == "ident" and len(p) > 1:
            res.append((" ".join(words[:-1]).replace("* ", "*").replace(" *", " *"), words[-1]))
        else:
            res.append((" ".join(words), ""))
    return res


def return_type(item: Item) -> str:
    head = _strip_attrs(item.toks[:item.toks.index(item.body[0])])
    k = next(i for i, t in enumerate(head) if t.text == item.name)
    words = [t.text for t in head[:k] if t.text not in
             ("static", "inline", "__always_inline", "noinline", "__maybe_unused", "__must_check",
              "extern")]
    return " ".join(words)


# ---------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------

@dataclass
class Extracted:
    path: str
    shape: str
    era: str
    tree_ext: int
    version: str | None
    code: str                       # the kernel text, as written, in file order
    taken: list[str]                # names taken, in file order
    funcs: dict[str, Item]
    members: list[str]
    has_lock: bool
    chosen: dict = field(default_factory=dict)      # name -> the items taken

    def may_bug(self, root: str) -> bool:
        """Whether root, or anything taken it uses, says BUG() or BUG_ON()."""
        seen, todo = set(), [root]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            for it in self.chosen.get(n, []):
                refs = _references(it)
                if refs & {"BUG", "BUG_ON"}:
                    return True
                todo.extend(r for r in refs if r in self.chosen)
        return False


ROOTS_ALWAYS = ("pte_list_desc", "pte_list_add")


def _references(item: Item) -> set[str]:
    toks = item.body if item.kind == "define" else item.toks
    return {t.text for t in toks if t.kind == "ident"}


def extract(src: str, where: str, version: str | None = None) -> Extracted:
    toks = tokenize(src, where)
    act, dropped = active_tokens(toks, src, where)
    items = split_items(act, where)
    by_name: dict[str, list[Item]] = {}
    for it in items:
        if it.name:
            by_name.setdefault(it.name, []).append(it)

    def defined(name: str, kind: str | None = None) -> list[Item]:
        return [it for it in by_name.get(name, []) if kind is None or it.kind == kind]

    def need(name: str, kind: str, what: str | None = None) -> Item:
        found = defined(name, kind)
        if not found:
            raise ImportFailure(f"{where}: {what or name} not found "
                                f"(needed for every pte_list shape the suite knows)")
        return found[-1]

    # PTE_LIST_EXT
    ext_def = defined("PTE_LIST_EXT", "define")
    if not ext_def:
        raise ImportFailure(f"{where}: macro PTE_LIST_EXT not found")
    ext_text = " ".join(t.text for t in ext_def[-1].body)
    try:
        macros = {it.name: " ".join(t.text for t in it.body) for it in items if it.kind == "define"}
        tree_ext = _cpp_int(ext_text, macros)
    except ImportFailure:
        raise ImportFailure(f"{where}: PTE_LIST_EXT is {ext_text!r}, not an integer constant") from None

    desc = defined("pte_list_desc", "struct")
    if not desc:
        raise ImportFailure(f"{where}: struct pte_list_desc not found")
    members = struct_members(desc[-1])
    for m in ("sptes", "more"):
        if m not in members:
            raise ImportFailure(f"{where}: struct pte_list_desc has no member {m!r} "
                                f"(members: {', '.join(members)})")

    funcs: dict[str, Item] = {}
    need("pte_list_add", "function")
    remove = "__pte_list_remove" if defined("__pte_list_remove", "function") else "pte_list_remove"
    need(remove, "function", "pte_list_remove (or __pte_list_remove)")
    need("pte_list_desc_remove_entry", "function")
    roots = ["pte_list_desc", "pte_list_add", remove, "pte_list_desc_remove_entry"]
    if defined("pte_list_count", "function"):
        roots.append("pte_list_count")
    if defined("for_each_rmap_spte", "define"):
        roots += ["for_each_rmap_spte"]
    if defined("rmap_get_first", "function") or defined("for_each_rmap_spte", "define"):
        for n in ("rmap_get_first", "rmap_get_next"):
            need(n, "function")
        roots += ["rmap_iterator", "rmap_get_first", "rmap_get_next"]
        need("rmap_iterator", "struct", "struct rmap_iterator")
    elif defined("pte_list_walk", "function"):
        roots.append("pte_list_walk")
    else:
        raise ImportFailure(f"{where}: no rmap iterator found (rmap_get_first/rmap_get_next/"
                            "for_each_rmap_spte, or pte_list_walk)")
    has_locked_macro = bool(defined("KVM_RMAP_LOCKED", "define"))
    if has_locked_macro:
        for n in ("kvm_rmap_lock", "kvm_rmap_unlock"):
            need(n, "function", f"{n} (KVM_RMAP_LOCKED is defined)")
        roots += ["KVM_RMAP_LOCKED", "kvm_rmap_lock", "kvm_rmap_unlock"]
        for n in ("__kvm_rmap_lock", "__kvm_rmap_unlock", "kvm_rmap_lock_readonly",
                  "kvm_rmap_unlock_readonly", "kvm_rmap_get"):
            if defined(n, "function"):
                roots.append(n)

    # closure over mmu.c's own names
    taken: set[int] = set()
    todo = list(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in SHIM_PROVIDED or name == "PTE_LIST_EXT":
            continue
        seen.add(name)
        for it in by_name.get(name, []):
            taken.add(id(it))
            todo.extend(r for r in _references(it) if r in by_name and r not in seen)
    chosen = [it for it in items if id(it) in taken]
    for it in chosen:
        if it.kind == "function":
            funcs[it.name] = it

    if "tail_count" in members:
        shape = "locked" if has_locked_macro else "tail"
    elif "spte_count" in members:
        if has_locked_macro:
            raise ImportFailure(f"{where}: KVM_RMAP_LOCKED with a pte_list_desc without tail_count "
                                "is not a shape the suite knows")
        shape = "count"
    else:
        if has_locked_macro:
            raise ImportFailure(f"{where}: KVM_RMAP_LOCKED with a pte_list_desc without counters "
                                "is not a shape the suite knows")
        shape = "chain"

    code = []
    line_of, dropped = LineOf(src), _merged(dropped)
    for it in chosen:
        line = line_of(it.start)
        text = _cut(src, it.start, it.end, dropped)
        if it.kind == "define" and it.name == "PTE_LIST_EXT":
            continue
        code.append(f"/* {Path(where).name}:{line} */\n{text}\n")
    by_chosen: dict[str, list[Item]] = {}
    for it in chosen:
        by_chosen.setdefault(it.name, []).append(it)
    return Extracted(where, shape, era_builtin(shape) or "none", tree_ext, version,
                     "\n".join(code),
                     [it.name for it in chosen], funcs, members, has_locked_macro, by_chosen)


def _cpp_int(text: str, macros: dict[str, str]) -> int:
    t = text.strip()
    for _ in range(8):
        t2 = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: f"({macros[m.group()]})"
                    if m.group() in macros else m.group(), t)
        if t2 == t:
            break
        t = t2
        if len(t) > 4096:
            raise ImportFailure("not an integer")
    if re.search(r"[A-Za-z_]", re.sub(r"\b(\d+)[uUlL]+\b", r"\1", t)):
        raise ImportFailure("not an integer")
    return _cpp_value(t, {}, "PTE_LIST_EXT")


def _cut(src: str, start: int, end: int, dropped: list[tuple[int, int]]) -> str:
    """src[start:end] without the ranges a production build drops (dropped:
    sorted and disjoint, _merged); only the ranges from start on are looked
    at, so cutting every item of a file is not quadratic in it."""
    import bisect

    out, pos = [], start
    k = max(bisect.bisect_right(dropped, (start, float("inf"))) - 1, 0)
    for a, b in dropped[k:]:
        if a >= end:
            break
        if b <= pos:
            continue
        out.append(src[pos:max(a, pos)])
        pos = max(pos, min(b, end))
    out.append(src[pos:end])
    return "".join(out)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges sorted and merged where they overlap (a directive inside a
    dropped block)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class LineOf:
    """Line numbers of offsets in src, by bisection over its newlines (a
    count from the start for every offset is quadratic in the file)."""

    def __init__(self, src: str):
        self.nl = [m.start() for m in re.finditer("\n", src)]

    def __call__(self, offset: int) -> int:
        import bisect
        return bisect.bisect_left(self.nl, offset) + 1


# ---------------------------------------------------------------------------
# The generated variant file
# ---------------------------------------------------------------------------

def _arg(fn: Item, ptype: str, pname: str, where: str) -> str:
    """What the glue passes for one kernel parameter."""
    t = ptype.replace("const", "").replace(" ", "")
    if t == "u64*":
        return "spte"
    if t == "structkvm_rmap_head*":
        return "rmap_head"
    if t == "unsignedlong*":
        return "&rmap_head->val"
    if t == "unsignedlong":
        return "rmap_head->val"
    if t in ("structkvm_vcpu*", "structkvm_mmu_memory_cache*"):
        return "cache"
    if t == "structkvm*":
        return "(struct kvm *)(void *)cache"
    raise ImportFailure(f"{where}: {fn.name} has a parameter '{ptype} {pname}' "
                        "of a type the shim does not map (spte, rmap head, vCPU, kvm, cache)")


def _call(fn: Item, where: str) -> str:
    args = ", ".join(_arg(fn, t, n, where) for t, n in params(fn))
    return f"kernel_{fn.name}({args})" if fn.name in INTERFACE else f"{fn.name}({args})"


def render(ex: Extracted, name: str, ext: int, walk: str) -> str:
    """The variant file: header, the kernel code as written, then the glue."""
    f = ex.funcs
    where = ex.path
    add = f["pte_list_add"]
    remove = f.get("__pte_list_remove") or f["pte_list_remove"]
    label, era = SHAPES[ex.shape][0], ex.era
    ver = f"Linux {ex.version}" if ex.version else "no top Makefile, version unknown"
    lines = [
        "// SPDX-License-Identifier: GPL-2.0",
        "/*",
        f" * pte_list \"{name}\": generated by `rmapbench import` from",
        f" *   {ex.path}",
        f" *   ({ver}).",
        f" * Shape: {label} (the era of the built-in `{era}`).",
        f" * Default PTE_LIST_EXT {ext}; the tree defines {ex.tree_ext}.",
        " *",
        " * Between the two markers below is the tree's own code, as written and in",
        " * the tree's order, without the blocks a production build leaves out (#if).",
        " * The tree's #define of PTE_LIST_EXT is left out: the build defines it.",
        " * native/kshim.h maps the kernel facilities onto the suite's; the glue after",
        " * the code implements the interface of native/rmap.h by calling the",
        " * kernel functions (renamed kernel_<name> where rmap.h has the name).",
        " * Regenerate rather than edit: docs/import.md.",
        " */",
        f"/* rmapbench-import: default-ext {ext} */",
        f"/* rmapbench-import: kernel {ex.version or 'unknown'} shape {ex.shape} */",
        "#include \"kshim.h\"",
        "",
    ]
    lines += [f"#define {n} kernel_{n}" for n in INTERFACE]
    lines += ["", "/* ---- kernel code ---- */", ""]
    for_undef = {"KVM_RMAP_MANY", "KVM_RMAP_LOCKED", "rmap_head_desc"}
    code = ex.code
    for n in sorted(for_undef):
        # rmap.h defines these with the kernel's values; the tree's own
        # definition is the one that counts in the code below
        code = code.replace(f"#define {n}", f"#undef {n}\n#define {n}", 1) \
            if re.search(rf"^#\s*define\s+{n}\b", code, re.M) else code
    lines.append(code)
    lines += ["/* ---- end of kernel code ---- */", ""]
    lines += [f"#undef {n}" for n in INTERFACE]
    lines += ["", "/* ---- glue: the interface of native/rmap.h ---- */", ""]
    ret_add = return_type(add)
    call_add = _call(add, where)

    def guard(fn: Item, on_bug: str) -> list[str]:
        # a BUG() stops the op where it is: only where the tree's code can BUG
        if not ex.may_bug(fn.name):
            return ["\tKSHIM_BEGIN(cache);"]
        return ["\tKSHIM_BEGIN(cache);", "\tif (KSHIM_BUGGED()) {", "\t\tKSHIM_END();",
                f"\t\treturn {on_bug};", "\t}"]

    lines += [
        "int pte_list_add(struct rmap_cache *cache, u64 *spte,",
        "\t\t struct kvm_rmap_head *rmap_head)",
        "{",
        "\tint ret = 0;",
        "",
        *guard(add, "-EFAULT"),	# a BUG() inside add
        f"\t{call_add};" if ret_add == "void" else f"\tret = {call_add};",
        "\tKSHIM_END();",
        "\treturn ret;",
        "}",
        "",
        "int pte_list_remove(struct rmap_cache *cache, u64 *spte,",
        "\t\t    struct kvm_rmap_head *rmap_head)",
        "{",
        *guard(remove, "RMAP_BUG"),
        f"\t{_call(remove, where)};",
        "\tKSHIM_END();",
        "\treturn kshim_status;",
        "}",
        "",
    ]
    # the walk (under mmu_lock, as the write-protect and zap walks): the
    # tree's iterator
    lock = ex.has_lock and "kvm_rmap_lock_readonly" in f and "kvm_rmap_unlock_readonly" in f
    if "rmap_get_first" in f:
        first = f["rmap_get_first"]
        fargs = [_arg(first, t, n, where) if t.replace(" ", "") != "structrmap_iterator*"
                 else "&iter" for t, n in params(first)]
        if "for_each_rmap_spte" in ex.taken and len(params(first)) == 2 and \
                _arg(first, *params(first)[0], where) == "rmap_head":
            loop = "\tfor_each_rmap_spte(rmap_head, &iter, sptep) {"
        else:
            loop = (f"\tfor (sptep = rmap_get_first({', '.join(fargs)}); sptep;"
                    " sptep = rmap_get_next(&iter)) {")
        body = ["\tstruct rmap_iterator iter;", "\tunsigned int n = 0;", "\tu64 *sptep;", "",
                loop, "\t\tfn(sptep, arg);", "\t\tn++;", "\t}", "\treturn n;"]
        if lock:
            # not part of the interface: the tree's walk without mmu_lock
            # (aging), for tests of the head lock with real threads
            lines += [
                "/* The tree's walk without mmu_lock: under its read-only head lock. */",
                "unsigned int pte_list_walk_lockless(struct kvm_rmap_head *rmap_head,",
                "\t\t\t\t    rmap_visit_fn fn, void *arg)",
                "{",
                "\tstruct rmap_iterator iter;",
                "\tunsigned long locked;",
                "\tunsigned int n = 0;",
                "\tu64 *sptep;",
                "",
                "\tlocked = kvm_rmap_lock_readonly(rmap_head);",
                loop, "\t\tfn(sptep, arg);", "\t\tn++;", "\t}",
                "\tkvm_rmap_unlock_readonly(rmap_head, locked);",
                "\treturn n;",
                "}",
                "",
            ]
    else:
        w = f["pte_list_walk"]
        wargs = ", ".join("kshim_visit" if "fn" in t or t.endswith("_fn") else
                          _arg(w, t, n, where) for t, n in params(w))
        lines += [
            "/* The tree's pte_list_walk() passes no argument: one walker at a time. */",
            "static rmap_visit_fn kshim_walk_fn;",
            "static void *kshim_walk_arg;",
            "static unsigned int kshim_walked;",
            "",
            "static void kshim_visit(u64 *sptep)",
            "{",
            "\tkshim_walk_fn(sptep, kshim_walk_arg);",
            "\tkshim_walked++;",
            "}",
            "",
        ]
        body = ["\tkshim_walked = 0;", "\tkshim_walk_fn = fn;", "\tkshim_walk_arg = arg;",
                f"\tkernel_pte_list_walk({wargs});", "\treturn kshim_walked;"]
    lines += ["unsigned int pte_list_walk(struct kvm_rmap_head *rmap_head,",
              "\t\t\t   rmap_visit_fn fn, void *arg)", "{", *body, "}", ""]
    if "pte_list_count" in f:
        lines += ["unsigned int pte_list_count(struct kvm_rmap_head *rmap_head)", "{",
                  f"\treturn {_call(f['pte_list_count'], where)};", "}", ""]
    else:
        lines += ["static void kshim_count_one(u64 *sptep, void *arg)", "{",
                  "\t(void)sptep;", "\t(*(unsigned int *)arg)++;", "}", "",
                  "/* The tree has no pte_list_count: its iterator counts. */",
                  "unsigned int pte_list_count(struct kvm_rmap_head *rmap_head)", "{",
                  "\tunsigned int n = 0;", "",
                  "\tpte_list_walk(rmap_head, kshim_count_one, &n);", "\treturn n;", "}", ""]
    count_f = "PTE_LIST_FIELD(spte_count)" if "spte_count" in ex.members else "PTE_LIST_NO_FIELD"
    tail_f = "PTE_LIST_FIELD(tail_count)" if "tail_count" in ex.members else "PTE_LIST_NO_FIELD"
    flags = "PTE_LIST_HEAD_LOCK" if ex.shape == "locked" else "0"
    lines += [f"PTE_LIST_DECLARE(\"{name}\", {walk},",
              f"\t\t {count_f}, {tail_f}, {flags});", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Reading the tree, compiling, registering
# ---------------------------------------------------------------------------

def imported_dir() -> Path:
    """Where imported variants are registered: <build dir>/imported/NAME.c."""
    from .build import build_dir
    return build_dir() / "imported"


def imported_path(name: str) -> Path | None:
    p = imported_dir() / f"{name}.c"
    return p if p.is_file() else None


def imported_names() -> list[str]:
    d = imported_dir()
    return sorted(p.stem for p in d.glob("*.c")) if d.is_dir() else []


def header_of(path: Path) -> dict:
    """What an imported file's marker lines record (default EXT, kernel,
    shape), from its first 4 KiB; opened without waiting, a regular file
    only (else {})."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        if file_kind(os.fstat(fd)) is not None:
            return {}
        head = os.read(fd, 4096).decode("utf-8", "replace")
    except OSError:
        return {}
    finally:
        os.close(fd)
    out = {}
    m = re.search(r"rmapbench-import: default-ext (\d+)", head)
    if m:
        out["ext"] = int(m.group(1))
    m = re.search(r"rmapbench-import: kernel (\S+) shape (\w+)", head)
    if m:
        out["kernel"], out["shape"] = m.group(1), m.group(2)
    return out


def register_imported() -> list[str]:
    """Make every variant in the build cache's imported/ directory known by
    name to bench.variants (and, through it, to worker processes).  A file
    whose name is taken (a built-in, or a user file of that name already
    registered) is skipped: the name refers to the other one."""
    from . import variants

    done = []
    for name in imported_names():
        if name in variants.VARIANTS or not NAME_RE.fullmatch(name):
            continue
        entry = imported_dir() / f"{name}.c"
        # never opened unless it is a regular file (a FIFO would block every
        # command): anything else is skipped, and refused only where that
        # name is used (variants.check_variant)
        try:
            kind = file_kind(os.stat(entry))
            path = entry.resolve(strict=True)
        except (OSError, RuntimeError) as e:
            kind = f"unreadable ({getattr(e, 'strerror', None) or e})"
        if kind is not None:
            from .errors import shown_path
            variants.BROKEN_IMPORTS[name] = (
                f"variant {name!r}: its file in the build cache, {shown_path(entry)}, is "
                f"{kind}, not a regular file: remove it (rmapbench import makes a new one)")
            continue
        h = header_of(path)
        if "ext" not in h:
            continue
        try:
            ext = variants.check_ext(h["ext"])
        except UsageError:
            continue
        kernels = f"Linux {h['kernel']} (imported)" if h.get("kernel", "unknown") != "unknown" \
            else "imported"
        summary = f"{SHAPES[h['shape']][0]}, from a kernel tree" if h.get("shape") in SHAPES \
            else "imported from a kernel tree"
        # registered by name (its record says the tree's kernel and shape);
        # workers inherit it like any user file
        variants.register_user(variants.Variant(name, path, ext, kernels, variants._user_style(name),
                                            summary, True), path)
        done.append(name)
    return done


def register_file(path) -> str:
    """Register a variant file named by its path; returns its name."""
    from . import variants
    return variants.add_user_variant(str(path))


def locate(target: str) -> tuple[Path, Path | None]:
    """(the mmu.c to read, the tree's top directory or None)."""
    p = Path(target)
    if not p.exists():
        raise UsageError(f"import: {target!r} not found: give a kernel tree or its mmu.c")
    if p.is_dir():
        for rel in MMU_PATHS:
            if (p / rel).is_file():
                return p / rel, p
        raise UsageError(f"import: {target!r} is not a kernel tree with KVM: neither "
                         f"{MMU_PATHS[0]} nor {MMU_PATHS[1]} is in it")
    if not p.is_file():
        raise UsageError(f"import: {target!r} is not a regular file or a directory")
    if p.suffix != ".c":
        raise UsageError(f"import: {target!r} is not a .c file: give a kernel tree or its mmu.c")
    parts = p.resolve().parts
    for rel in MMU_PATHS:
        n = len(rel.split("/"))
        if tuple(parts[-n:]) == tuple(rel.split("/")):
            return p, Path(*parts[:-n])
    return p, None


def read_source(path: Path) -> str:
    where = f"import: {str(path)!r}"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UsageError(f"{where} is {size} bytes: at most {MAX_BYTES} allowed "
                             "(a real mmu.c is a few hundred KB)")
        data = path.read_bytes()
    except PermissionError:
        raise UsageError(f"{where} cannot be read: permission denied") from None
    except OSError as e:
        raise UsageError(f"{where} cannot be read: {e.strerror}") from None
    if b"\0" in data:
        raise UsageError(f"{where} is not C source text (it has NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not text (UTF-8 expected)") from None


MAKEFILE_MAX = 1 << 20       # a kernel's top Makefile is ~70 KB
# What each version field of the top Makefile may hold (the kernel's own are
# "6", "15", "0" and "-rc2"); VERSION and PATCHLEVEL are required together.
VERSION_FIELDS = {
    "VERSION": (re.compile(r"[0-9]{1,4}"), "1 to 4 ASCII digits"),
    "PATCHLEVEL": (re.compile(r"[0-9]{1,4}"), "1 to 4 ASCII digits"),
    "SUBLEVEL": (re.compile(r"[0-9]{0,4}"), "0 to 4 ASCII digits"),
    "EXTRAVERSION": (re.compile(r"[A-Za-z0-9._+~-]{0,32}"),
                     "0 to 32 of ASCII letters, digits and ._+~-"),
}


def kernel_version(root: Path | None) -> str | None:
    """VERSION.PATCHLEVEL.SUBLEVEL+EXTRAVERSION from the tree's top Makefile
    (None: no Makefile, or one without VERSION and PATCHLEVEL).  Read as a
    regular file of at most MAKEFILE_MAX bytes; a field present but not a
    version (VERSION_FIELDS) is refused naming the Makefile's line."""
    from .errors import read_user_bytes, shown_path

    if root is None:
        return None
    mf = root / "Makefile"
    if not os.path.lexists(mf):
        return None
    data = read_user_bytes(mf, "import: the tree's Makefile", MAKEFILE_MAX)
    text = data.decode("utf-8", "replace")
    vals = {}
    for key, (pattern, allowed) in VERSION_FIELDS.items():
        m = re.search(rf"^{key}[ \t]*=[ \t]*(\S*)[ \t]*$", text, re.M)
        vals[key] = m.group(1) if m else None
        if m and not pattern.fullmatch(m.group(1)):
            line = text.count("\n", 0, m.start()) + 1
            shown = m.group(1) if len(m.group(1)) <= 40 else m.group(1)[:40] + "..."
            raise UsageError(f"import: the tree's Makefile {shown_path(mf)}, line {line}: "
                             f"{key} {shown!r} is not a kernel version field: {allowed} "
                             "are allowed")
    if vals["VERSION"] is None and vals["PATCHLEVEL"] is None:
        return None
    for key in ("VERSION", "PATCHLEVEL"):
        if vals[key] is None:
            raise UsageError(f"import: the tree's Makefile {shown_path(mf)} has no {key} line: "
                             "a kernel Makefile states VERSION and PATCHLEVEL")
    v = f"{vals['VERSION']}.{vals['PATCHLEVEL']}"
    if vals["SUBLEVEL"]:
        v += f".{vals['SUBLEVEL']}"
    return v + (vals["EXTRAVERSION"] or "")


def check_name(name: str) -> str:
    from . import variants
    builtins = variants.builtin_names()
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"import: bad --name {name!r}: 1 to 48 of a-z, 0-9, '.', '_', '-', "
                         "starting with a letter or digit")
    if name in builtins:
        raise UsageError(f"import: --name {name!r} is a built-in variant: choose another name "
                         f"(built-ins: {', '.join(builtins)})")
    return name


def check_out(out: str) -> Path:
    from .errors import refuse_dir_like

    refuse_dir_like(out, "import: --out")
    p = Path(out)
    if p.suffix != ".c":
        raise UsageError(f"import: --out {out!r}: a file name ending in .c is allowed")
    if p.is_dir():
        raise UsageError(f"import: --out {out!r} is a directory: a .c file path is allowed")
    from .results import _regular_or_absent

    _regular_or_absent(p, "import: --out")
    if not p.parent.is_dir():
        raise UsageError(f"import: --out {out!r}: directory {str(p.parent)!r} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise UsageError(f"import: --out {out!r}: directory {str(p.parent)!r} is not writable")
    return p


_UNDEFINED = re.compile(r"undefined reference to [`'\u2018]([^'`\u2019]+)['\u2019]")


def _blame_link(text: str, sym: str) -> str:
    """The first piece of kernel code that uses sym (its own prototype aside)."""
    pieces = re.split(r"^(/\* \S+:\d+ \*/)$", text, flags=re.M)
    use = re.compile(rf"\b{re.escape(sym)}\b")
    proto = re.compile(rf"[^;{{}}]*\b{re.escape(sym)}\s*\([^;{{}}]*\)\s*;\s*", re.S)
    for k in range(1, len(pieces) - 1, 2):
        body = pieces[k + 1].split("/* ---- end of kernel code", 1)[0]
        if use.search(body) and not proto.fullmatch(body.strip()):
            at = re.match(r"/\* (\S+):(\d+) \*/", pieces[k])
            return f"the code at {at.group(1)}:{at.group(2)} ({body.strip()[:60]})"
    return "the generated glue"


def _blame(text: str, stderr: str, gen_name: str) -> str:
    """The kernel item (or glue) a compiler error falls in, and the error.
    A link error is the linker's own message (the symbol it could not find),
    not collect2's summary."""
    lines = stderr.splitlines()
    for ln in lines:
        m = _UNDEFINED.search(ln)
        if m:
            return (f"{_blame_link(text, m.group(1))}: undefined reference to "
                    f"'{m.group(1)}' (nothing taken from the tree's file, nor native/kshim.h, "
                    "defines it)")
    err = next((ln for ln in lines if ": error:" in ln and not ln.startswith("collect2:")),
               None) or next((ln for ln in lines if ": error:" in ln),
                             lines[0] if lines else "no message")
    m = re.search(rf"{re.escape(gen_name)}:(\d+):", err)
    what = "the generated glue"
    if m:
        at = int(m.group(1))
        src_lines = text.splitlines()
        for k in range(min(at, len(src_lines)) - 1, -1, -1):
            mk = re.match(r"/\* (\S+):(\d+) \*/$", src_lines[k])
            if mk:
                nxt = src_lines[k + 1] if k + 1 < len(src_lines) else ""
                what = f"the code at {mk.group(1)}:{mk.group(2)} ({nxt.strip()[:60]})"
                break
            if src_lines[k].startswith("/* ---- end of kernel code"):
                break
            if src_lines[k].startswith("/* ---- kernel code"):
                what = "the kernel code"
                break
    msg = err.split(": error:", 1)[1].strip() if ": error:" in err else err.strip()
    return f"{what}: {msg}"


def compile_and_probe(text: str, ext: int, where: str) -> dict:
    """Compile the generated file with the suite's native sources into a
    temporary library and run a probe on it: add's return after a tail
    append, and a round trip.  Nothing is left behind."""
    import shutil
    import subprocess
    import tempfile

    from . import build

    cc = build.find_compiler()
    tmp = tempfile.mkdtemp(prefix="rmapbench-import-")
    try:
        gen = Path(tmp) / "imported.c"
        gen.write_text(text, encoding="utf-8")
        so = Path(tmp) / "lib.so"
        argv = [cc, "-O1", *build.BASE_FLAGS, "-Werror=implicit-function-declaration",
                "-Werror=implicit-int", "-Werror=incompatible-pointer-types",
                "-Werror=int-conversion", f"-DPTE_LIST_EXT={ext}", f"-I{build.NATIVE_DIR}",
                "-fPIC", "-shared", "-Wl,-z,defs", str(gen)]
        argv += [str(build.NATIVE_DIR / s) for s in build.COMMON_SOURCES
                 if (build.NATIVE_DIR / s).exists()]
        proc = subprocess.run(argv + ["-o", str(so)], capture_output=True, text=True,
                              check=False, timeout=300)
        if proc.returncode != 0:
            how = "link" if _UNDEFINED.search(proc.stderr) else "compile"
            raise ImportFailure(f"{where}: does not {how} against native/kshim.h: "
                                f"{_blame(text, proc.stderr, str(gen))}")
        # the tree's code runs in a child (bench.isolate): a crash or a hang
        # of it is one error, and this temporary directory still goes
        from . import isolate
        return isolate.call(isolate.guarded(lambda: _probe(so, ext, where)), label=f"{where}: the imported code",
                            describe=lambda i, text: f"in the probe's {text}" if text else "",
                            timeout=isolate.LOAD_S, capture_stderr=True,
                            allowed="pte_list code that returns from every op of the probe "
                            f"(each call within {isolate.NATIVE_S:g} s, the probe within "
                            f"{isolate.LOAD_S:g} s) is allowed; nothing was written")
    except subprocess.TimeoutExpired:
        raise ImportFailure(f"{where}: compiling the imported code took over 300 s") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _probe(so: Path, ext: int, where: str) -> dict:
    """The probe, in the child: add's return after a tail append, and a
    round trip (every op noted for the parent, should one not return)."""
    import ctypes

    from .isolate import note

    note("loading of the library")
    try:
        lib = ctypes.CDLL(str(so))
    except OSError as e:
        raise ImportFailure(f"{where}: the imported code does not load: {e}") from None
    lib.rb_ctx_new.restype = ctypes.c_void_p
    lib.rb_ctx_new.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                               ctypes.c_ulonglong]
    lib.rb_add.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulonglong]
    lib.rb_remove.argtypes = lib.rb_add.argtypes
    lib.rb_count.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.rb_count.restype = ctypes.c_uint
    lib.rb_ctx_free.argtypes = [ctypes.c_void_p]
    lib.rb_head_val.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.rb_head_val.restype = ctypes.c_ulong
    ctx = lib.rb_ctx_new(3, 1, 64, 0)       # libc allocation
    rets, removes = [], []
    for i in range(ext + 1):
        note(f"pte_list_add of spte {i + 1} to a head holding {i} (EXT {ext})")
        rets.append(lib.rb_add(ctx, 0, (i + 1) << 3))
    note(f"pte_list_count of a head holding {ext + 1}")
    count = lib.rb_count(ctx, 0)
    if lib.rb_head_val(ctx, 0) & 2:
        raise ImportFailure(f"{where}: bit 1 of the head (KVM_RMAP_LOCKED) is still set "
                            "after pte_list_add returned: the head lock is left held")
    for i in range(ext + 1):
        note(f"pte_list_remove of spte {i + 1} from a head holding {ext + 1 - i} "
             f"(EXT {ext})")
        removes.append(lib.rb_remove(ctx, 0, (i + 1) << 3))
    note("pte_list_remove of an absent spte from an empty head")
    absent = lib.rb_remove(ctx, 0, 999 << 3)
    note("freeing of the probe's descriptors")
    lib.rb_ctx_free(ctx)
    return {"tail_append_ret": rets[-1], "first_rets": rets[:2], "count": count,
            "removes": removes, "absent": absent}


def walk_kind(ex: Extracted) -> str:
    """The walk a lockless walker is modelled with (PTE_LIST_DECLARE): the
    chain stops at the first empty slot, as its iterator and every loop over
    it do; a descriptor with a spte_count is walked up to that count, as the
    tree's own loops over it (pte_list_remove, pte_list_count, the zap and
    destroy walks) and the built-ins of those eras do.  The tree's
    rmap_get_next stops at the first empty slot instead, which visits the
    same slots whenever no writer runs (a counted list keeps its slots
    [0, count) filled and the rest empty), so the C walk is the iterator's
    either way; docs/import.md says what the choice changes in `check`."""
    return "PTE_LIST_WALK_FWD_NULL" if ex.shape == "chain" else "PTE_LIST_WALK_FWD_COUNT"


def chain_form(probe: dict, ext: int) -> str:
    r = probe["tail_append_ret"]
    if r == 0:
        return "3.x/4.x form: add does not count the full descriptor it leaves behind on a tail append"
    if r == ext:
        return "5.x form: add counts every full descriptor, the one left behind by a tail append too"
    return f"neither the 3.x/4.x nor the 5.x form: add returns {r} on a tail append at EXT {ext}"


def do_import(target: str, name: str | None = None, ext: str | int | None = None,
              out: str | None = None) -> dict:
    from .variants import check_ext

    try:
        ext_v = check_ext(ext) if ext is not None else None
    except UsageError as e:
        raise UsageError(f"import: --ext: {e}") from None
    if name is not None:
        check_name(name)
    out_p = check_out(out) if out is not None else None
    mmu, root = locate(target)
    src = read_source(mmu)
    version = kernel_version(root)
    shown = str(mmu)
    ex = extract(src, shown, version)
    ext_v = ext_v if ext_v is not None else ex.tree_ext
    try:
        check_ext(ext_v)
    except UsageError:
        raise ImportFailure(f"{shown}: PTE_LIST_EXT is {ex.tree_ext}, outside what the suite "
                            "builds; give --ext") from None
    # the code taken, without where it sits in the file: a change elsewhere
    # in mmu.c that moves it keeps the name
    code_only = re.sub(r"^/\* [^*\n]+:\d+ \*/\n", "", ex.code, flags=re.M)
    digest = hashlib.sha256(f"{code_only}\0{ext_v}".encode()).hexdigest()[:8]
    if name is None:
        # VERSION.PATCHLEVEL only (kernel_version checked both are digits)
        stem = f"linux-{re.match(r'[0-9]+[.][0-9]+', version).group()}" if version else "mmu"
        name = check_name(f"{stem}-{digest}")
    walk = walk_kind(ex)
    text = render(ex, name, ext_v, walk)
    probe = compile_and_probe(text, ext_v, shown)
    shape = SHAPES[ex.shape][0]
    if ex.shape == "chain":
        shape += f" ({chain_form(probe, ext_v)})"
    # --out: the file goes there (named by its path); else it is registered
    # by name in the build cache.
    dest = out_p if out_p is not None else imported_dir() / f"{name}.c"
    replaced = _differs(dest, text)
    if out_p is None:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"import: {str(dest.parent)!r} cannot be created ({e.strerror}): "
                             "set RMAPBENCH_BUILD_DIR to a writable directory") from None
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, dest)
    except OSError as e:
        raise UsageError(f"import: {str(dest)!r} cannot be written: {e.strerror}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"name": name, "version": version, "shape": shape, "era": ex.era,
            "shape_key": ex.shape, "ext": ext_v, "tree_ext": ex.tree_ext, "mmu": shown,
            "file": str(dest), "registered": out_p is None, "replaced": replaced,
            "taken": ex.taken, "probe": probe}


def _differs(dest: Path, text: str) -> bool:
    """Whether dest holds something other than text (and so is replaced).
    Only a regular file is replaced (never a FIFO or a device, nor read
    through a symlink to one); nothing is read beyond text's size."""
    from .errors import shown_path

    try:
        st = os.stat(dest)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise UsageError(f"import: {shown_path(dest)} cannot be used: {e.strerror}") from None
    kind = file_kind(st)
    if kind is not None:
        raise UsageError(f"import: {shown_path(dest)} exists and is {kind}, not a regular "
                         "file: only a regular file there is replaced; remove it")
    data = text.encode("utf-8")
    if st.st_size != len(data):
        return True
    from .errors import read_user_bytes
    return read_user_bytes(dest, "import: the variant file", len(data)) != data


def _cmd(args) -> int:
    r = do_import(args.target, args.name, args.ext, args.out)
    print(f"variant: {r['name']}{'  (replaced the earlier import of that name)' if r['replaced'] else ''}")
    print(f"kernel: {'Linux ' + r['version'] if r['version'] else 'version unknown (no top Makefile)'}"
          f"  [{r['mmu']}]")
    print(f"shape: {r['shape']}; era of the built-in {r['era']}")
    print(f"default EXT: {r['ext']}" + ("" if r["ext"] == r["tree_ext"]
                                         else f" (the tree defines {r['tree_ext']})"))
    print(f"taken: {', '.join(dict.fromkeys(r['taken']))}")
    spec = r["name"] if r["registered"] else r["file"]
    print(f"file: {r['file']}" + ("  (registered: --variant NAME finds it)" if r["registered"]
                                  else "  (name it by this path)"))
    print(f"next: rmapbench check --variant {spec},{r['era']}")
    return 0


def register(subparsers) -> None:
    # the CLI loads this module before any command runs: imported variants
    # are then known by name to every command
    register_imported()
    p = subparsers.add_parser(
        "import", help="make a variant from the pte_list code of a kernel tree's mmu.c")
    p.add_argument("target", metavar="KERNEL_TREE|MMU_C",
                   help="a kernel tree (arch/x86/kvm/mmu/mmu.c or arch/x86/kvm/mmu.c) or an mmu.c")
    p.add_argument("--name", help="variant name (default: linux-X.Y-<hash of the code>)")
    p.add_argument("--ext", help="default PTE_LIST_EXT of the variant (default: the tree's)")
    p.add_argument("--out", help="also write the generated variant file here (FILE.c)")
    p.set_defaults(func=_cmd)
