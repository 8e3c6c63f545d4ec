"""Build the root command tree (the built-in commands plus what plugins add) and run it.

No sub-command module is imported here: :mod:`promptyard.cli.main` composes the full tree, and the entry point
composes ``--help``'s placeholder tree (:mod:`promptyard.cli.command_index`) the same way.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any

import typer

from promptyard.cli.errors import error_boundary, print_plugin_failures
from promptyard.cli.state import state
from promptyard.core.errors import PluginError
from promptyard.core.host import get_host


def compose(base: typer.Typer, *, load_external: bool = True) -> typer.Typer:
    """``base`` plus what the plugins add through ``register_commands``.

    Composed on every call from a shallow copy of ``base``, so a plugin registered or unregistered
    at run time (tests) adds or removes its commands. A plugin whose ``register_commands`` raises
    is reported and its commands left out; two plugins adding the same command is a PluginError.
    """
    host = get_host(load_external=load_external)
    composed = copy.copy(base)
    composed.registered_commands = list(base.registered_commands)
    composed.registered_groups = list(base.registered_groups)
    owners = {name: "promptyard" for name in _command_names(composed)}
    for plugin_name, call in host.call_each("register_commands", app=composed):
        seen = len(composed.registered_commands), len(composed.registered_groups)
        try:
            call()
        except Exception as exc:
            del composed.registered_commands[seen[0]:], composed.registered_groups[seen[1]:]
            host.record_failure(plugin_name, "register_commands", exc)
            continue
        for name in _command_names(composed, since=seen):
            if name in owners:
                raise PluginError(f"command {name!r} is added by both {owners[name]} and plugin "
                                  f"{plugin_name!r}",
                                  hint="uninstall one, or leave one out of PROMPTYARD_PLUGINS")
            owners[name] = f"plugin {plugin_name!r}"
    return composed


def _command_names(typer_app: typer.Typer, since: tuple[int, int] = (0, 0)) -> list[str]:
    from typer.main import get_command_name

    names: list[Any] = [c.name or (c.callback and get_command_name(c.callback.__name__))
                        for c in typer_app.registered_commands[since[0]:]]
    names += [g.name or g.typer_instance.info.name for g in typer_app.registered_groups[since[1]:]]
    return [n for n in names if isinstance(n, str)]


def run(base: Callable[[], typer.Typer], argv: list[str]) -> None:
    """Compose the tree from ``base()`` and run it with the error boundary."""
    if "--debug" in argv:
        state.debug = True
    with error_boundary(state.debug):
        cli = compose(base(), load_external="--no-plugins" not in argv)
        print_plugin_failures(state.debug)
        _run(cli, argv)


def _run(cli: typer.Typer, args: list[str]) -> None:
    """Run ``cli``; a usage error (missing option, bad value, unknown command) is one ``error:`` line too."""
    from typer._click.exceptions import ClickException, UsageError
    from typer.exceptions import Abort

    try:
        code = cli(args=args, prog_name="promptyard", standalone_mode=False)
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # typer has already printed the help
            sys.exit(exc.exit_code)
        where = exc.ctx.command_path if exc.ctx else "promptyard"
        message = " ".join(exc.format_message().split())
        print(f"error: {where}: {message} (see `{where} --help`)", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    # without standalone mode an explicit typer.Exit(n) comes back as n; exit like standalone mode did
    sys.exit(code if isinstance(code, int) else 0)
