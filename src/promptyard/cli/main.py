"""The whole command tree: every built-in sub-command module attached to the root app, plus plugins' commands."""

from __future__ import annotations

import sys

import typer

from promptyard.cli import (  # noqa: F401 - importing a sub-command module attaches it to `app`
    adapter,
    data,
    eval,
    optimize,  # after eval: adds `eval search` to its sub-app
    plugins_cmd,
    prompt,
    quickstart,
    registry_cmd,
    serve,
    tune,
    tune_search,  # after tune: adds `tune search|resume|searches` to its sub-app
)
from promptyard.cli.app import app
from promptyard.cli.compose import compose, run


def get_app(*, load_external: bool = True) -> typer.Typer:
    """The root app: the built-in sub-apps plus what the plugins add through ``register_commands``."""
    return compose(app, load_external=load_external)


def main(argv: list[str] | None = None) -> None:
    """The typer app with the error boundary (the script's entry point is :func:`promptyard.cli.entry.main`)."""
    run(lambda: app, sys.argv[1:] if argv is None else list(argv))
