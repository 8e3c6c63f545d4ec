"""Progress shown on stderr for slow steps, silenced by the CLI's ``--quiet`` (light: rich loads lazily)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: set by the CLI's root ``--quiet``; library callers may set it too
quiet = False


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with elapsed time while the block runs (a terminal only; nothing when quiet)."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        bar.add_task(message, total=None)
        yield
