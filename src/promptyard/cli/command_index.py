"""The root command list for ``promptyard --help``, without importing the sub-command modules.

``--help`` at the root shows only each built-in command's name and help text, so the entry point builds the
root app from this table (plus what plugins add) instead of importing every command module and what they
import. The table is generated from the real command tree; ``tests/cli/test_command_index.py`` fails when it
is stale: run ``python -m promptyard.cli.command_index`` and paste its output below.
"""

# ruff: noqa: E501 - a generated table, one command a line

from __future__ import annotations

#: (kind, name, help) in the order the real root app registers them: commands first, then groups
ROOT_COMMANDS: list[tuple[str, str, str]] = [
    ('command', 'predict', 'Run an adapter on text: rendered through its prompt, then labelled or answered.'),
    ('command', 'doctor', 'The same checks as `registry check` (database, tables, versions, artifacts, orphans); exit 1 on any.'),
    ('command', 'reproduce', 'Re-run a stored eval run from its lineage (exact versions, seed) and show that the metrics match.'),
    ('command', 'init', 'Create a registry (.promptyard/registry.db) here or in PATH.'),
    ('command', 'quickstart', 'Registry, evaluation, hyper-parameter search, gate and rollback, HTML report: the tour in one go.\n\nCommits a sentiment prompt in all four kinds, evaluates them with SmolLM2 on Rotten Tomatoes, searches\nprompt-tuning and LoRA adapters (ASHA), gates the best against production, rolls back, writes a report.'),
    ('command', 'serve', 'Serve the registry over HTTP: JSON API under /api/v1, its schema at /openapi.json.'),
    ('group', 'adapter', 'Trained adapters: versions, labels, rollback, export, merge, diff.'),
    ('group', 'data', 'Look at data sets: embedded ones (rotten_tomatoes, bbc_news), JSONL and CSV files.'),
    ('group', 'eval', 'Evaluate prompts x models/adapters x data: suites, compare, gate, report, search.'),
    ('group', 'cache', 'The response cache of evaluations.'),
    ('group', 'optimize', 'Search for a better prompt under a budget of model calls; list and show optimisations.'),
    ('group', 'plugins', 'List installed plugins and their contributions, or start a new plugin.'),
    ('group', 'registry', 'The registry file: upgrade its schema, check its integrity, settings.'),
    ('group', 'prompt', 'Versioned prompt templates: commit, label, render, diff, roll back.'),
    ('group', 'token', 'API tokens for `promptyard serve`: create, list, revoke.'),
    ('group', 'tune', 'Train adapters (PEFT methods or fine-tuning) and search hyper-parameters.'),
]


def is_root_help(args: list[str]) -> bool:
    """``promptyard``, ``promptyard --help`` (root options allowed before it): the root's own help."""
    rest = list(args)
    while rest and rest[0] in ("--no-plugins", "--quiet", "-q", "--debug"):
        rest.pop(0)
    return rest in ([], ["--help"])


def stub_app():  # -> typer.Typer
    """The root app with a placeholder per built-in command: right for ``--help``, runs nothing."""
    import copy

    import typer

    from promptyard.cli.app import app

    stub = copy.copy(app)
    stub.registered_commands = []
    stub.registered_groups = []
    for kind, name, help_text in ROOT_COMMANDS:
        if kind == "command":
            stub.command(name, help=help_text)(lambda: None)
        else:
            stub.add_typer(typer.Typer(help=help_text), name=name)
    return stub


def generate() -> list[tuple[str, str, str]]:
    """The table as the real root app gives it (imports every command module)."""
    import inspect

    from promptyard.cli.main import app

    rows = []
    for cmd in app.registered_commands:
        rows.append(("command", cmd.name, cmd.help or inspect.getdoc(cmd.callback) or ""))
    for group in app.registered_groups:
        rows.append(("group", group.name, group.help or group.typer_instance.info.help or ""))
    return rows


if __name__ == "__main__":
    for row in generate():
        print(f"    {row!r},")
