"""``promptyard quickstart``: the whole platform end to end in one command (logic in :mod:`promptyard.quickstart`)."""

from __future__ import annotations

from pathlib import Path

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.output import console, print_json
from promptyard.cli.state import state


@root_app.command("quickstart")
def quickstart(
    directory: Path = typer.Option(Path("promptyard-quickstart"), "--dir",
                                   help="Where to write the registry, caches, work files and the report."),
    fast: bool = typer.Option(False, "--fast", help="Tiny model, small sample, fewer trials (for CI)."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Run the search trials in this process, without Ray."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors (and --json)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary for scripts."),
) -> None:
    """Registry, evaluation, hyper-parameter search, gate and rollback, HTML report: the tour in one go.

    Commits a sentiment prompt in all four kinds, evaluates them with SmolLM2 on Rotten Tomatoes, searches
    prompt-tuning and LoRA adapters (ASHA), gates the best against production, rolls back, writes a report.
    """
    from promptyard.quickstart.run import QuickstartSettings, run_quickstart

    settings = QuickstartSettings.for_run(directory, fast=fast, use_ray=not no_ray,
                                          quiet=quiet or state.quiet or as_json)
    summary = run_quickstart(settings, console=console)
    if as_json:
        print_json(summary)
