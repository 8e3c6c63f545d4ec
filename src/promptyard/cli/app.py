"""The root typer app and its global options; every sub-command module attaches itself to ``app``."""

from __future__ import annotations

from typing import Optional

import typer

from promptyard.cli import logs, progress
from promptyard.cli.state import state

app = typer.Typer(
    name="promptyard",
    help="Manage, tune and evaluate prompts: versioned registry, PEFT tuning, offline evals, Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


@app.callback()
def root(
    registry: Optional[str] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
        None, "--registry", envvar="PROMPTYARD_REGISTRY",
        help="Registry file (default: .promptyard/registry.db found upward from here)."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results, no progress."),
    no_plugins: bool = typer.Option(  # read by main() before the app is built; declared for --help
        False, "--no-plugins", help="Load no external plugins (same as PROMPTYARD_PLUGINS=none)."),
) -> None:
    state.registry = registry
    state.debug = debug or state.debug
    apply_quiet(quiet)


def apply_quiet(quiet: bool) -> None:
    """Where ``--quiet`` takes effect, the one way: no progress display, library messages from WARNING up."""
    state.quiet = quiet
    progress.quiet = quiet
    progress.install()
    logs.install(quiet=quiet)
