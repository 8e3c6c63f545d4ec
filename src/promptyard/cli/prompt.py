"""``promptyard prompt …``: add, commit, show, list, log, diff, render, label, rollback, archive, export, import."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.output import print_json, table
from promptyard.cli.registry_cmd import open_registry
from promptyard.cli.render_cmd import run_render
from promptyard.cli.state import state
from promptyard.core.errors import UsageError
from promptyard.core.template import Template
from promptyard.core.template_files import load_template_file
from promptyard.registry.history import contract_lines

app = typer.Typer(name="prompt", help="Versioned prompt templates: commit, label, render, diff, roll back.",
                  no_args_is_help=True)
root_app.add_typer(app, name="prompt")

JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _when(stamp: Any) -> str:
    return stamp.strftime("%m-%d %H:%M:%S") if stamp else ""


def _done(as_json: bool, text: str, data: dict[str, Any]) -> None:
    """What a write command prints: ``text`` for people, ``data`` with ``--json``."""
    if as_json:

        print_json(data)
    else:
        print(text)


def _load_file(path: Path) -> tuple[Any, dict[str, Any]]:

    return load_template_file(path)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Prompt name, e.g. team/sentiment."),
    file: Path = typer.Argument(..., help="Template file (.j2, .txt, .yaml, .json)."),
    message: str = typer.Option("initial version", "--message", "-m", help="What this version is."),
    task_type: str = typer.Option(None, "--task-type", help="Task type, e.g. classification."),
    tags: list[str] = typer.Option(None, "--tag", help="A tag (repeatable)."),
    description: str = typer.Option(None, "--description", help="One line about the prompt."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create prompt NAME from FILE as version 1."""
    template, meta = _load_file(file)
    with open_registry() as reg:
        if any(i.name == name for i in reg.list(name, archived=True)):
            raise UsageError(f"prompt {name!r} already exists", where="prompt add",
                             hint=f"add versions with `promptyard prompt commit {name} FILE -m MESSAGE`")
        info = reg.commit(name, template, message, task_type=task_type or meta.get("task_type"),
                          tags=tags or meta.get("tags"), description=description or meta.get("description"))
    _done(as_json, f"added {info.ref} ({info.short_hash})", {"ref": info.ref, "hash": info.content_hash})


@app.command("commit")
def commit(
    name: str = typer.Argument(..., help="Prompt name."),
    file: Path = typer.Argument(None, help="Template file; or use --text."),
    message: str = typer.Option("", "--message", "-m", help="What changed."),
    text: str = typer.Option(None, "--text", help="Inline text of a single-kind template."),
    author: str = typer.Option(None, "--author", help="Author (default: PROMPTYARD_AUTHOR or login name)."),
    task_type: str = typer.Option(None, "--task-type", help="Set the task type."),
    tags: list[str] = typer.Option(None, "--tag", help="Set the tags (repeatable)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Add a version of NAME from FILE or --text (nothing happens when it equals the latest)."""

    if (file is None) == (text is None):
        raise UsageError("give either FILE or --text", where="prompt commit")
    template, meta = (Template(kind="single", text=text), {}) if text is not None else _load_file(file)
    with open_registry() as reg:
        info = reg.commit(name, template, message, author=author, task_type=task_type or meta.get("task_type"),
                          tags=tags or meta.get("tags"))
        if info is None:
            latest = reg.resolve(f"{name}@latest")
            _done(as_json, f"nothing to commit: identical to {latest.ref} ({latest.short_hash})",
                  {"ref": latest.ref, "hash": latest.content_hash, "created": False})
            return
    _done(as_json, f"committed {info.ref} ({info.short_hash})",
          {"ref": info.ref, "hash": info.content_hash, "created": True})


@app.command("show")
def show(ref: str = typer.Argument(..., help="NAME, NAME@3, NAME@label, NAME@sha:1a2b"), as_json: bool = JSON_OPT
         ) -> None:
    """Show one version: metadata, labels, variables and template."""
    with open_registry() as reg:
        v = reg.resolve(ref)
        item = reg.item(v.name)
    labels = sorted(label for label, n in item.labels.items() if n == v.number)
    if as_json:

        print_json({**v.to_dict(), "labels": labels, "task_type": item.task_type, "tags": item.tags,
                    "description": item.description})
        return
    print(f"{v.ref}  sha:{v.short_hash}  {v.content.get('kind')}  labels: {', '.join(labels) or '-'}")
    print(f"author: {v.author}  created: {_when(v.created_at)}  parent: {v.parent or '-'}")
    if v.message:
        print(f"message: {v.message}")

    print("variables:\n" + "".join("  " + line for line in contract_lines(v.contract)).rstrip())
    print("---\n" + v.template.source_text())


@app.command("list")
def list_(
    pattern: str = typer.Argument(None, help="Name glob (team/*) or substring."),
    tag: str = typer.Option(None, "--tag", help="Only prompts with this tag."),
    kind: str = typer.Option(None, "--kind", help="Only this template kind (single, multi, structured, dynamic)."),
    task_type: str = typer.Option(None, "--task-type", help="Only this task type."),
    label: str = typer.Option(None, "--label", help="Only prompts that have this label."),
    archived: bool = typer.Option(False, "--archived", help="Include archived prompts."),
    as_json: bool = JSON_OPT,
) -> None:
    """List prompts, filtered by name pattern, tag, kind, task type or label."""
    with open_registry() as reg:
        items = reg.list(pattern, tag=tag, template_kind=kind, task_type=task_type, label=label, archived=archived)
    if as_json:

        print_json([i.to_dict() for i in items])
        return

    rows = [[i.name + (" (archived)" if i.archived else ""), i.template_kind, i.latest, i.task_type or "",
             ", ".join(f"{k}→{v}" for k, v in i.labels.items()), ", ".join(i.tags)] for i in items]
    table(None, ["name", "kind", "latest", "task type", "labels", "tags"], rows)


@app.command("log")
def log(name: str = typer.Argument(..., help="Prompt name."), as_json: bool = JSON_OPT) -> None:
    """Versions and label moves of NAME, in time order."""
    with open_registry() as reg:
        events = reg.log(name)
    if as_json:

        print_json(events)
        return

    rows = []
    for e in events:
        if e["type"] == "version":
            rows.append([_when(e["time"]), f"v{e['number']}", e["content_hash"][:12], e["author"], e["message"]])
        else:
            what = f"{e['label']}: {e['from'] or '-'} → {e['to']}"
            what += " (rollback)" if e["action"] == "rollback" else ""
            rows.append([_when(e["time"]), "label", what, e["actor"], e["reason"]])
    table(f"log of {name}", ["time", "event", "what", "who", "message / reason"], rows)


@app.command("diff")
def diff(a: str = typer.Argument(..., help="First reference."), b: str = typer.Argument(..., help="Second reference."),
         as_json: bool = JSON_OPT) -> None:
    """Unified diff of the template text and of the variable contract of two versions."""
    with open_registry() as reg:
        result = reg.diff(a, b)
    if as_json:

        print_json(result)
        return
    if result["same"]:
        print(f"{result['a']} and {result['b']} have identical content")
        return
    sys.stdout.write(result["text"] or "(template text unchanged)\n")
    sys.stdout.write(result["contract"] or "(variables unchanged)\n")


@app.command("render")
def render(
    ref: str = typer.Argument(..., help="Prompt reference."),
    var: list[str] = typer.Option(None, "--var", "-v", help="key=value (repeatable)."),
    vars_file: Path = typer.Option(None, "--vars", help="JSON file of variables ('-' for stdin)."),
    seed: int = typer.Option(None, "--seed", help="Seed for dynamic example selection."),
    as_json: bool = JSON_OPT,
) -> None:
    """Render REF with variables (-v, --vars or JSON on stdin): text, or JSON messages for multi prompts."""

    run_render(state.registry, ref, var, vars_file, seed, as_json)


def _interactive() -> bool:
    """Whether a person can answer a confirmation (stdin is a terminal)."""
    return sys.stdin.isatty()


@app.command("label")
def label(
    ref: str = typer.Argument(..., help="The version to label, e.g. NAME@3."),
    name: str = typer.Argument(..., help="Label, e.g. production or staging."),
    force: bool = typer.Option(False, "--force", help="Move a protected label without asking."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the label history)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Point label NAME at REF (protected labels need --force or a confirmation)."""
    with open_registry() as reg:
        if not force and name in reg.protected_labels and _interactive():
            target = reg.resolve(ref)
            force = typer.confirm(f"'{name}' is protected; move it to {target.ref}?", default=False)
            if not force:
                raise typer.Exit(1)
        move = reg.label(ref, name, force=force, reason=reason)
        if move is None:
            target = reg.resolve(ref)
            _done(as_json, f"{name} already points to {target.ref}",
                  {"name": target.name, "label": name, "from": target.number, "to": target.number})
            return
    _done(as_json, f"{move.name}@{name}: {move.from_number or '-'} -> {move.to_number}",
          {"name": move.name, "label": name, "from": move.from_number, "to": move.to_number})


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Prompt name."),
    label_name: str = typer.Option("production", "--label", help="Label to move back."),
    to: int = typer.Option(None, "--to", help="Version number to move it to (default: its previous version)."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the label history)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Move a label back to its previous version (or --to N); recorded in the history."""
    with open_registry() as reg:
        move = reg.rollback(name, label_name, to, reason=reason)
    _done(as_json, f"rolled back {name}@{label_name}: {move.from_number} -> {move.to_number}",
          {"name": name, "label": label_name, "from": move.from_number, "to": move.to_number})


@app.command("archive")
def archive(name: str = typer.Argument(..., help="Prompt name."),
            undo: bool = typer.Option(False, "--undo", help="Bring an archived prompt back."),
            as_json: bool = JSON_OPT) -> None:
    """Archive a prompt (hidden from list, no new versions); versions are kept. --undo reverses it."""
    with open_registry() as reg:
        changed = reg.archive(name, undo=undo)
    state = "active" if undo else "archived"
    _done(as_json, f"{name} is {'now' if changed else 'already'} {state}",
          {"name": name, "archived": not undo, "changed": changed})


@app.command("export")
def export(
    names: list[str] = typer.Argument(None, help="Prompt names (default: every active prompt)."),
    output: Path = typer.Option(None, "--output", "-o", help="Bundle file (default: stdout)."),
    fmt: str = typer.Option(None, "--format", help="json or yaml (default: from the file suffix, else json)."),
) -> None:
    """Export prompts (versions, labels, hashes) to a portable JSON or YAML bundle."""
    from promptyard.registry.bundle import write_bundle

    if fmt not in (None, "json", "yaml"):
        raise UsageError(f"unknown format {fmt!r}", where="--format", hint="json or yaml")
    with open_registry() as reg:
        bundle = reg.export(names or None)
    if output is None:
        if fmt == "yaml":
            import yaml

            sys.stdout.write(yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True))
        else:
            sys.stdout.write(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
        return
    write_bundle(bundle, output, fmt)
    print(f"exported {len(bundle['items'])} prompt(s) to {output}")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="Bundle file (JSON or YAML)."),
    as_name: str = typer.Option(None, "--as", help="Import the bundle's one prompt under this name."),
    as_json: bool = JSON_OPT,
) -> None:
    """Import a bundle: hashes are verified; conflicting version numbers are refused (or use --as)."""
    with open_registry() as reg:
        report = reg.import_bundle(file, as_name=as_name)
    if as_json:

        print_json(report)
        return
    for item in report["items"]:
        added = ", ".join(map(str, item["added"])) or "none"
        print(f"{item['name']}: added versions {added}; labels set: {item['labels'] or '-'}")
        for label, number in item["labels_kept"].items():
            print(f"  kept local {label} -> {number} (bundle differs)")
