"""The quickstart tells a reporter (plain data); the CLI's reporter draws it with rich."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from promptyard.cli.quickstart import RichReporter
from promptyard.quickstart.reporter import Narrator, SilentReporter, TextReporter


def _tell(reporter) -> Narrator:
    n = Narrator(reporter)
    n.step(1, "registry", "commit a prompt")
    n.table("prompt versions", ["ref", "kind"], [["sentiment@1", "single"], ["sentiment@2", None]])
    n.say("PASS: accuracy 0.7 -> 0.8", "good")
    n.say("  promptyard prompt log sentiment --json", "code")
    n.step(2, "evaluate", "score it")
    n.finish()
    return n


def test_text_lines_hold_every_step_message_and_table_row():
    lines: list[str] = []
    n = _tell(TextReporter(lines.append))
    assert lines[0] == "Step 1/5 · registry: commit a prompt"
    assert lines[1:5] == ["prompt versions", "ref          kind", "sentiment@1  single", "sentiment@2"]
    assert "PASS: accuracy 0.7 -> 0.8" in lines and "Step 2/5 · evaluate: score it" in lines
    assert sum(line.startswith("(") and line.endswith("s)") for line in lines) == 2  # each step's time
    assert list(n.timings) == ["1. registry", "2. evaluate"]


def test_by_default_the_lines_go_to_the_quickstart_logger(caplog):
    with caplog.at_level(logging.INFO, logger="promptyard.quickstart"):
        _tell(TextReporter())
    assert caplog.records[0].name == "promptyard.quickstart"
    assert "Step 1/5 · registry: commit a prompt" in caplog.messages


def test_silent_reports_nothing_but_still_times_the_steps(capfd):
    n = _tell(SilentReporter())
    assert list(n.timings) == ["1. registry", "2. evaluate"]
    assert capfd.readouterr() == ("", "")


def test_the_cli_reporter_draws_rules_tables_and_commands_unwrapped():
    out = io.StringIO()
    _tell(RichReporter(Console(file=out, width=40, color_system=None)))
    text = out.getvalue()
    assert "Step 1/5 · registry" in text and "commit a prompt" in text
    assert "prompt versions" in text and "sentiment@2" in text
    assert "PASS: accuracy 0.7 -> 0.8" in text
    # a command to copy stays on one line even when wider than the console
    assert "  promptyard prompt log sentiment --json\n" in text
