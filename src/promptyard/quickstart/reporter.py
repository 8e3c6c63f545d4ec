"""How the quickstart tells a person what it does: steps, messages and tables, through a :class:`Reporter`.

The quickstart never prints. ``promptyard quickstart`` passes a rich reporter (:mod:`promptyard.cli.quickstart`);
a library caller gets :class:`TextReporter` lines on the ``promptyard.quickstart`` logger by default, or passes
its own reporter. Progress of the long steps (eval cells, trials, training) goes through
:mod:`promptyard.core.events` like everywhere else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

#: a message's tone, for a reporter that colours: "" (plain), "good", "bad", "warn", "dim", "code" (a command)
TONES = ("", "good", "bad", "warn", "dim", "code")


class Reporter(Protocol):
    """What the quickstart reports; a reporter decides how (and whether) to show it."""

    def step(self, number: int, total: int, title: str, what: str) -> None:
        """Step ``number`` of ``total`` begins: its title and one line on what it does."""

    def message(self, text: str, tone: str = "") -> None:
        """One line of plain text (no markup); ``tone`` is one of :data:`TONES`."""

    def table(self, title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
        """A table of plain values."""


class SilentReporter:
    """Reports nothing (``quiet``)."""

    def step(self, number: int, total: int, title: str, what: str) -> None:
        pass

    def message(self, text: str, tone: str = "") -> None:
        pass

    def table(self, title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
        pass


class TextReporter:
    """Plain text lines handed to ``write`` (default: INFO records of the ``promptyard.quickstart`` logger)."""

    def __init__(self, write: Callable[[str], None] | None = None):
        self.write = write or logging.getLogger("promptyard.quickstart").info

    def step(self, number: int, total: int, title: str, what: str) -> None:
        self.write(f"Step {number}/{total} · {title}: {what}")

    def message(self, text: str, tone: str = "") -> None:
        self.write(text)

    def table(self, title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
        cells = [list(columns)] + [["" if v is None else str(v) for v in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        if title:
            self.write(title)
        for row in cells:
            self.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


class Narrator:
    """The quickstart's steps with their timings, told through a reporter."""

    STEPS = 5

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._step: tuple[str, float] | None = None

    def step(self, number: int, title: str, what: str) -> None:
        self._close()
        self._step = (f"{number}. {title}", time.perf_counter())
        self.reporter.step(number, self.STEPS, title, what)

    def say(self, text: str, tone: str = "") -> None:
        self.reporter.message(text, tone)

    def table(self, title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
        self.reporter.table(title, columns, rows)

    def _close(self) -> None:
        if self._step is not None:
            name, t0 = self._step
            self.timings[name] = round(time.perf_counter() - t0, 1)
            self.reporter.message(f"({self.timings[name]:.1f}s)", "dim")
            self._step = None

    def finish(self) -> float:
        self._close()
        return round(time.perf_counter() - self.started, 1)
