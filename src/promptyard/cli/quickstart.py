"""``promptyard quickstart``: the whole platform end to end in one command (logic in :mod:`promptyard.quickstart`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from promptyard.cli import progress
from promptyard.cli.app import app as root_app
from promptyard.cli.app import apply_quiet
from promptyard.cli.output import console, print_json, table
from promptyard.cli.state import state
from promptyard.quickstart.reporter import SilentReporter

STYLES = {"good": "green", "bad": "red", "warn": "yellow", "dim": "dim"}


class RichReporter:
    """The quickstart's steps as rules, its messages as lines and its tables as rich tables."""

    def __init__(self, to: Console | None = None):
        self.console = to or console

    def step(self, number: int, total: int, title: str, what: str) -> None:
        self.console.rule(f"[bold]Step {number}/{total} · {title}")
        self.console.print(what, markup=False)

    def message(self, text: str, tone: str = "") -> None:
        if tone == "code":  # a command to copy: never wrapped or highlighted
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self.console.print(text, markup=False, style=STYLES.get(tone))

    def table(self, title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
        table(title, columns, rows, fold=True, to=self.console)


@root_app.command("quickstart")
def quickstart(
    directory: Path = typer.Option(Path("promptyard-quickstart"), "--dir",
                                   help="Where to write the registry, caches, work files and the report."),
    fast: bool = typer.Option(False, "--fast", help="Tiny model, small sample, fewer trials (for CI)."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Run the search trials in this process, without Ray."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors (and --json)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary for scripts.",
                                 callback=progress.silence_for_json),
) -> None:
    """Registry, evaluation, hyper-parameter search, gate and rollback, HTML report: the tour in one go.

    Commits a sentiment prompt in all four kinds, evaluates them with SmolLM2 on Rotten Tomatoes, searches
    prompt-tuning and LoRA adapters (ASHA), gates the best against production, rolls back, writes a report.
    """
    from promptyard.quickstart.run import QuickstartSettings, run_quickstart

    if quiet:  # the same as the root --quiet
        apply_quiet(True)
    settings = QuickstartSettings.for_run(directory, fast=fast, use_ray=not no_ray)
    reporter = SilentReporter() if state.quiet or as_json else RichReporter()
    summary = run_quickstart(settings, reporter=reporter)
    if as_json:
        print_json(summary)
