"""Progress events: library code says what it is doing; whoever listens (the CLI) decides how to show it.

Library code never prints. A slow step opens a :class:`Task` (a bar when it has a total, a spinner when it
has none) and advances it; messages for people go through :mod:`logging`. The CLI installs one listener
(:mod:`promptyard.cli.progress`) that draws every task with rich, and nothing when ``--quiet``. Without a
listener — a library caller, a Ray worker — an event costs one attribute check.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """One change to a task: it started, moved, or ended (``done``)."""

    task_id: int
    description: str
    completed: float = 0
    total: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    #: a spinner for a step without a count disappears when done; a bar stays
    transient: bool = False


Listener = Callable[[ProgressEvent], None]

_listeners: list[Listener] = []
_ids = itertools.count(1)
_lock = threading.Lock()


def add_listener(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` with every event from now on; returns the function that removes it again."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock, contextlib.suppress(ValueError):
            _listeners.remove(listener)

    return remove


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """``listener`` receives the events raised while the block runs."""
    remove = add_listener(listener)
    try:
        yield
    finally:
        remove()


def listened() -> bool:
    return bool(_listeners)


def _emit(event: ProgressEvent) -> None:
    for listener in list(_listeners):
        listener(event)


class Task:
    """A slow step others may watch: ``advance`` it as work is done; ``close`` (or leave the ``with``) at the end."""

    def __init__(self, description: str, total: float | None = None, *, completed: float = 0,
                 transient: bool | None = None, **fields: Any):
        self.id = next(_ids)
        self.description = description
        self.total = total
        self.completed = completed
        self.fields = dict(fields)
        self.transient = total is None if transient is None else transient
        self.closed = False
        self._send()

    def _send(self, done: bool = False) -> None:
        if _listeners:
            _emit(ProgressEvent(self.id, self.description, self.completed, self.total, dict(self.fields), done,
                                self.transient))

    def advance(self, amount: float = 1, **fields: Any) -> None:
        self.update(completed=self.completed + amount, **fields)

    def update(self, *, completed: float | None = None, total: float | None = None,
               description: str | None = None, **fields: Any) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if description is not None:
            self.description = description
        self.fields.update(fields)
        self._send()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._send(done=True)

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def status(description: str) -> Iterator[Task]:
    """A step with no count (a spinner in the CLI) while the block runs."""
    with Task(description) as task:
        yield task
