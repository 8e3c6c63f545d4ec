"""The ``promptyard`` entry point, with a fast path for ``promptyard prompt render``.

Rendering a prompt is what scripts and services call cold, many times; typer alone (it builds pydantic
adapters to coerce every parameter) costs more than the rest of the command. So the entry point reads
``[--registry PATH] prompt render REF [-v K=V]... [--vars FILE] [--seed N] [--json]`` itself and runs the
same :func:`run_render` the typer command runs. Anything else (``--help``, other options, ``--debug``)
goes to the typer app unchanged. Both paths share :func:`run_render`, :func:`error_boundary` and
:func:`print_plugin_failures`, so they print the same output and the same errors
(``tests/cli/test_entry.py`` compares them over a table of argument lists). Two differences, by design:
the fast path builds no command tree, so a plugin whose ``register_commands`` raises is reported by
every other command but not by ``render``; and it reports plugin failures only when plugins may matter
(an external plugin is installed and allowed, or ``PROMPTYARD_PLUGINS`` names one: then the host is built
first, as the typer command builds it), so with no external plugin a built-in plugin that failed to load
goes unreported by ``render`` (``tests/cli/test_startup_imports.py`` checks that every built-in loads). The
root ``--help`` is replayed from a cache of typer's output (:mod:`promptyard.cli.help_cache`). This module
must not import typer, rich or SQLAlchemy.
"""

from __future__ import annotations

import sys

from promptyard.cli import help_cache
from promptyard.cli.command_index import is_root_help, stub_app
from promptyard.cli.errors import error_boundary, print_plugin_failures
from promptyard.cli.render_cmd import parse_render_args, run_render
from promptyard.cli.warning_lines import install_warnings


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``promptyard`` script."""
    args = sys.argv[1:] if argv is None else list(argv)
    if is_root_help(args):
        # the root's --help lists names and help texts only: no sub-command module is imported for it, and
        # typer draws it only when the cache of its output has no entry for this terminal, code and plugins
        if not help_cache.replay(args):
            from promptyard.cli.compose import run  # typer: never on the render path

            help_cache.record(args, lambda: run(stub_app, args))
        return
    parsed = parse_render_args(args)
    if parsed is None:
        from promptyard.cli.main import main as typer_main

        typer_main(args)
        return
    install_warnings()
    with error_boundary():
        print_plugin_failures(if_needed=True)
        run_render(**parsed)
