"""The spinner for slow steps: shown on a terminal, silent when quiet or piped."""

from __future__ import annotations

import io
import sys
import time

import pytest

from promptyard.cli import progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("quiet", "tty", "shown"), [(False, True, True), (True, True, False), (False, False, False)])
def test_status_shows_only_on_a_terminal_and_not_when_quiet(monkeypatch, quiet, tty, shown):
    err = FakeTerminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "quiet", quiet)
    monkeypatch.setenv("COLUMNS", "100")
    with progress.status("converting the model once"):
        time.sleep(0.2)
    assert ("converting the model once" in err.getvalue()) is shown
