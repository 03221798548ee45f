"""The run directories merged into the report."""

from __future__ import annotations

from ..render import Heading
from ..tables import runs_table
from . import Context

TITLE = "Runs"


def blocks(ctx: Context) -> list:
    return [Heading(2, TITLE), runs_table(ctx.loaded)]
