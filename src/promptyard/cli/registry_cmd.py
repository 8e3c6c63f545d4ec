"""``promptyard init`` and ``promptyard registry …``: create, upgrade and check the registry file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.output import print_json
from promptyard.cli.state import state
from promptyard.core.errors import UsageError
from promptyard.core.paths import REGISTRY_DIRNAME, REGISTRY_FILENAME, registry_path
from promptyard.registry.api import Registry
from promptyard.registry.backup import backup as take_backup

if TYPE_CHECKING:
    from promptyard.registry.api import Registry

app = typer.Typer(name="registry", help="The registry file: upgrade its schema, check its integrity, settings.",
                  no_args_is_help=True)
root_app.add_typer(app, name="registry")


def open_registry(*, create: bool = False) -> Registry:
    """The registry chosen by ``--registry`` / ``PROMPTYARD_REGISTRY`` / upward search."""

    return Registry.open(state.registry, create=create)


@root_app.command("init")
def init(path: str = typer.Argument(None, help="Folder to create .promptyard/registry.db in (default: here)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a registry (.promptyard/registry.db) here or in PATH."""
    from pathlib import Path


    target = state.registry or (Path(path or ".") / REGISTRY_DIRNAME / REGISTRY_FILENAME)
    existed = Path(target).exists()
    reg = Registry.open(target, create=True)
    if as_json:

        print_json({"path": str(reg.path), "created": not existed})
    else:
        print(f"{'registry already exists' if existed else 'created registry'}: {reg.path}")
    reg.close()


@app.command("upgrade")
def upgrade() -> None:
    """Upgrade the registry schema to this promptyard's newest revision (a backup copy is written first)."""

    # Opening would upgrade on its own; upgrade explicitly so the user sees from/to and the backup.
    path = registry_path(state.registry)
    if not path.exists():
        Registry.open(path)  # raises the usual "no registry here" error
    reg = Registry(path)
    result = reg.upgrade()
    reg.close()
    if result["to"] is None:
        print(f"registry is up to date ({', '.join(result['from'])}): {path}")
        return
    print(f"upgraded {path}: {', '.join(result['from']) or 'empty'} -> {', '.join(result['to'])}")
    if result["backup"]:
        print(f"backup: {result['backup']}")


@app.command("backup")
def backup(path: str = typer.Argument(..., help="New file for the copy (its artifacts go in the same folder)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A consistent copy of the registry while servers and writers keep running (SQLite's online backup)."""
    with open_registry() as reg:
        if not hasattr(reg, "artifacts_dir"):
            raise UsageError("backups are taken where the registry file is", where="registry backup",
                             hint="run it on the server with --registry PATH")
        result = take_backup(reg, path)
    if as_json:
        print_json(result)
    else:
        print(f"backed up {result['versions']} versions and {result['artifacts']} artifacts to {result['path']}")


@app.command("check")
def check(
    remove_orphans: bool = typer.Option(False, "--remove-orphans", help="Delete unrecorded artifact folders."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check the database (SQLite integrity and foreign keys, tables and columns), every version against
    its hash, every artifact against its files; list orphans. Exit 1 when anything is wrong."""
    from promptyard.registry.integrity import has_damage

    with Registry.open(state.registry, damaged_ok=True) as reg:
        report = reg.check_integrity(remove_orphans=remove_orphans)
    if as_json:
        print_json(report)
    else:
        problems = [(k, p) for k, rows in report.items() for p in rows]
        for kind, problem in problems:
            what = problem.get("ref") or problem.get("table") or problem.get("hash") or problem.get("path") \
                or problem.get("check")
            removed = " (removed)" if kind == "orphans" and remove_orphans else ""
            print(f"{kind}: {what}: {problem['problem']}{removed}")
        print("no problems found" if not problems else f"{len(problems)} problem(s)")
    if has_damage(report, orphans_removed=remove_orphans):
        raise typer.Exit(1)


@app.command("protect")
def protect(
    labels: list[str] = typer.Argument(None, help="Labels that need --force to move (replaces the set)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show or set the protected labels (default: production)."""

    with open_registry() as reg:
        if labels:
            reg.set_protected_labels(labels)
        current = list(reg.protected_labels)
    if as_json:
        print_json(current)
    else:
        print("protected labels: " + (", ".join(current) or "none"))
