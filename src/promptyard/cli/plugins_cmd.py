"""``promptyard plugins``: what is installed (``list``), the hooks (``hooks``), a new plugin (``new``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from promptyard.cli.app import app
from promptyard.cli.output import console, print_json
from promptyard.core.host import get_host, hook_names, hook_signature
from promptyard.scaffold import new_plugin

plugins_app = typer.Typer(help="List installed plugins and their contributions, or start a new plugin.",
                          no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")


@plugins_app.command("list")
def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON: plugins and failures."),
) -> None:
    """Every plugin (built-in and installed): version, hooks, what it registered; and any that failed."""

    host = get_host()
    plugins = host.describe()
    failures = [f.to_dict() for f in host.failures]
    if as_json:
        print_json({"plugins": plugins, "failures": failures})
        return
    # One block per plugin rather than a table: hook and contribution lists are long and would wrap.
    for p in plugins:
        source = p["origin"] if p["origin"] != "external" else f"{p['distribution'] or p['module']}"
        _line(f"[bold]{escape(p['name'])}[/bold] {escape(p['version'] or '-')} ({escape(source)})")
        _line(f"  hooks: {', '.join(p['hooks']) or '-'}")
        for table_name, names in p["registered"].items():
            _line(f"  {table_name}: {escape(', '.join(names))}")
    if not plugins:
        _line("no plugins")
    for f in failures:
        where = f" ({f['distribution']} {f['version']})" if f["distribution"] else ""
        _line(f"[red]failed[/red] {escape(f['plugin'] + where)} at {f['stage']}: {escape(f['error'])}")


def _line(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@plugins_app.command("hooks")
def list_hooks(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every hook a plugin can implement, with its signature."""

    signatures = [hook_signature(name) for name in hook_names()]
    if as_json:
        print_json(signatures)
        return
    for signature in signatures:
        console.print(signature, highlight=False, markup=False, soft_wrap=True)


@plugins_app.command("new")
def new(
    name: str = typer.Argument(..., help="Plugin name; the package is called promptyard-NAME."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create the promptyard-NAME folder."),
    kind: str = typer.Option("both", "--kind", help="Example to include: metric, task or both."),
) -> None:
    """Write a ready-to-install plugin package promptyard-NAME with an example, a test and a README."""

    root = new_plugin(name, directory, kind=kind)
    console.print(f"created {root}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"next: cd {root} && pip install -e '.[test]' && python -m pytest "
                  "&& promptyard plugins list", highlight=False, markup=False, soft_wrap=True)
