"""The one progress display: draws the library's :mod:`promptyard.core.events` tasks with rich on stderr.

Installed by the root command unless ``--quiet``. A task with a total is a bar (it stays when done); a task
without one is a spinner with elapsed time (it disappears when done). Extra fields of a task (loss, tokens
per second, nodes) are shown after its bar. Spinners are drawn on a terminal only; bars also print their
final state in a log.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console

from promptyard.core import events

#: set by the root ``--quiet``: no display at all
quiet = False


def _info(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key} {value}" if key else str(value))
    return " · ".join(parts)


class RichProgress:
    """An :mod:`events` listener: one rich Progress shared by every open task."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.lock = threading.Lock()
        self.progress: Any = None
        self.tasks: dict[int, Any] = {}

    def __call__(self, event: events.ProgressEvent) -> None:
        if event.transient and not self.console.is_terminal:
            return
        with self.lock:
            if self.progress is None:
                # rich.progress (and its live display) loads on the first task, not on every start-up
                from rich.progress import (
                    BarColumn,
                    Progress,
                    SpinnerColumn,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                         TextColumn("{task.fields[count]}"), TextColumn("{task.fields[info]}"),
                                         TimeElapsedColumn(), TimeRemainingColumn(), console=self.console)
                self.progress.start()
            shown = {"info": _info(event.fields),
                     "count": "" if event.total is None else f"{event.completed:g}/{event.total:g}"}
            if event.task_id not in self.tasks:
                self.tasks[event.task_id] = self.progress.add_task(
                    event.description, total=event.total, completed=event.completed, **shown)
            task = self.tasks[event.task_id]
            self.progress.update(task, description=event.description, total=event.total,
                                 completed=event.completed, **shown)
            if event.done:
                del self.tasks[event.task_id]
                if event.transient:
                    self.progress.remove_task(task)
                else:
                    self.progress.stop_task(task)
                if not self.tasks:
                    self.progress.stop()
                    self.progress = None


_remove: Any = None


def install(console: Console | None = None) -> None:
    """Draw progress from now on (once; a second call replaces the first listener)."""
    global _remove
    uninstall()
    if not quiet:
        _remove = events.add_listener(RichProgress(console))


def silence_for_json(as_json: bool) -> bool:
    """The ``--json`` option's callback: a script reading the result wants no bars either (as ``--quiet``)."""
    if as_json:
        uninstall()
    return as_json


def uninstall() -> None:
    global _remove
    if _remove is not None:
        _remove()
        _remove = None
