"""The root typer app, global options and the error boundary (the only place errors become exit codes)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from promptyard.cli.state import state
from promptyard.core.errors import PromptyardError

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
) -> None:
    state.registry = registry
    state.debug = debug or state.debug
    state.quiet = quiet


_attached = False


def get_app() -> typer.Typer:
    """The root app with the built-in sub-apps and whatever plugins add through ``register_commands``."""
    global _attached
    if not _attached:
        _attached = True
        from promptyard.cli import commands  # noqa: F401 - attaches the built-in sub-apps to `app`
        from promptyard.core.plugins import get_host

        get_host().hook.register_commands(app=app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``promptyard`` script."""
    args = sys.argv[1:] if argv is None else argv
    if "--debug" in args:
        state.debug = True
    try:
        get_app()(args=args, prog_name="promptyard")
    except PromptyardError as exc:
        if state.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
