"""The one progress display: library tasks drawn on a terminal, nothing when quiet, spinners not in logs."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from promptyard.cli import progress
from promptyard.core import events


def console(tty: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=tty, width=100), out


@pytest.mark.parametrize(("quiet", "tty", "shown"), [(False, True, True), (True, True, False), (False, False, False)])
def test_a_spinner_shows_only_on_a_terminal_and_not_when_quiet(monkeypatch, quiet, tty, shown):
    con, out = console(tty)
    monkeypatch.setattr(progress, "quiet", quiet)
    progress.install(con)
    try:
        with events.status("converting the model once"):
            pass
    finally:
        progress.uninstall()
    assert ("converting the model once" in out.getvalue()) is shown


def test_a_bar_shows_its_count_and_fields_and_is_printed_in_a_log_too():
    con, out = console(False)
    progress.install(con)
    try:
        with events.Task("training", total=4, loss=float("nan")) as task:
            for step in range(4):
                task.advance(loss=1.0 / (step + 1))
    finally:
        progress.uninstall()
    text = out.getvalue()
    assert "training" in text and "4/4" in text and "loss 0.25" in text


def test_without_a_listener_tasks_cost_nothing_and_say_nothing(capsys):
    assert not events.listened()
    with events.Task("quiet work", total=2) as task:
        task.advance(2)
    assert capsys.readouterr() == ("", "")
