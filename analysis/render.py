"""A tiny document model rendered to self-contained HTML and to Markdown.

Reports are built as a list of blocks; the same blocks become report.html
(plots inline as base64 PNG, no external assets) and report.md (plots as
files beside it).  The page skeletons are string.Template files in
reports/templates/.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from string import Template

from bench.errors import UsageError

from bench.paths import template_dir

TEMPLATE_DIR = template_dir()


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Pre:
    text: str


@dataclass
class Table:
    caption: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    # True: folded into a <details> block (HTML and Markdown) that opens on a
    # click; None: folded when it has more than FOLD_ROWS rows.
    fold: bool | None = None

    @property
    def folded(self) -> bool:
        return len(self.rows) > FOLD_ROWS if self.fold is None else self.fold


FOLD_ROWS = 20
# A cell that reads as a number (right-aligned); everything else is text (left-aligned).
_NUMERIC = re.compile(r"^[+-]?(\d[\d.,]*(e[+-]?\d+)?|inf|n/a)( ±[\d.e+-]+)?"
                      r"( ?(%|[KMG]i?B|B|x))?$")


@dataclass
class Image:
    name: str  # file name stem, unique in the report
    png: bytes = field(repr=False)
    alt: str = ""


Block = Heading | Para | Bullets | Pre | Table | Image


def load_template(name: str) -> Template:
    p = TEMPLATE_DIR / name
    try:
        return Template(p.read_text())
    except OSError:
        raise UsageError(f"report template {str(p)!r} is missing: the repository's "
                         "reports/templates/ is needed") from None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


# -- HTML ----------------------------------------------------------------------

def to_html(blocks: list[Block], title: str, template: str = "report.html.tmpl") -> str:
    body: list[str] = []
    ntables = 0
    toc: list[str] = []
    ids: set[str] = set()
    for b in blocks:
        if isinstance(b, Heading):
            anchor = slug(b.text)
            while anchor in ids:
                anchor += "-x"
            ids.add(anchor)
            if b.level <= 2:
                toc.append(f'<li class="toc{b.level}"><a href="#{anchor}">{html.escape(b.text)}</a></li>')
            body.append(f'<h{b.level} id="{anchor}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            body.append(f"<p>{html.escape(b.text)}</p>")
        elif isinstance(b, Bullets):
            items = "".join(f"<li>{html.escape(i)}</li>" for i in b.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(b, Pre):
            body.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
            # a column is right-aligned when every cell in it reads as a number
            ncols = max((len(r) for r in b.rows), default=0)
            numeric = [all(_NUMERIC.match(str(r[i]).strip()) for r in b.rows
                           if i < len(r) and str(r[i]).strip()) for i in range(ncols)]
            # cells carry no class (a default sweep has tens of thousands): the
            # table's own rule right-aligns its numeric columns
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r)
                           + "</tr>" for r in b.rows)
            note = f'<p class="note">{html.escape(b.note)}</p>' if b.note else ""
            ntables += 1
            tid = f"t{ntables}"
            cols = ",".join(f"#{tid} td:nth-child({i + 1})" for i, num in enumerate(numeric) if num)
            style = (f"<style>{cols}{{text-align:right;white-space:nowrap;"
                     "font-family:inherit;min-width:0}</style>" if cols else "")
            table = (f'{style}<table id="{tid}"><caption>{html.escape(b.caption)}</caption>'
                     f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            if b.folded:
                body.append(f'<details class="tbl"><summary>{html.escape(b.caption)} '
                            f"({len(b.rows)} rows; click to open)</summary>{table}{note}</details>")
            else:
                body.append(f'<div class="tbl">{table}{note}</div>')
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(b.alt)}" '
                        f'src="data:image/png;base64,{data}"><figcaption>'
                        f"{html.escape(b.alt)}</figcaption></figure>")
    return load_template(template).substitute(
        title=html.escape(title), toc="\n".join(toc), body="\n".join(body))


# -- Markdown ------------------------------------------------------------------

def _md_cell(c) -> str:
    return str(c).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], title: str, image_dir: str = "plots",
                template: str = "report.md.tmpl") -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {i}" for i in b.items))
        elif isinstance(b, Pre):
            out.append("```\n" + b.text.rstrip("\n") + "\n```")
        elif isinstance(b, Table):
            lines = [f"*{b.caption}*", "",
                     "| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
            if b.note:
                lines += ["", b.note]
            if b.folded:
                lines = [f"<details><summary>{b.caption} ({len(b.rows)} rows)</summary>", ""] + lines + [
                    "", "</details>"]
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            out.append(f"![{b.alt}]({image_dir}/{b.name}.png)")
    return load_template(template).substitute(title=title, body="\n\n".join(out) + "\n")


def images(blocks: list[Block]) -> list[Image]:
    return [b for b in blocks if isinstance(b, Image)]
