"""Printing helpers shared by the sub-commands: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console


def _pipe_width(stream: Any) -> int | None:
    """Width for output that is not a terminal: rich would wrap tables at 80 columns, which splits headers
    in CI logs and files; ``COLUMNS`` still wins."""
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        pass
    return int(os.environ.get("COLUMNS") or 160)


console = Console(width=_pipe_width(sys.stdout))
err_console = Console(stderr=True, width=_pipe_width(sys.stderr))


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout (plain, no colour), for ``--json``."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]], *, fold: bool = False,
          to: Console | None = None) -> None:
    """The one table helper: ``rows`` of plain values under ``columns``, printed to ``to`` (default: stdout).

    ``fold`` wraps a long value (a path, an error, a hash) onto more lines instead of cutting it short.
    """
    from rich.table import Table

    t = Table(title=title)
    for col in columns:
        t.add_column(col, overflow="fold" if fold else "ellipsis")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    (to or console).print(t)
