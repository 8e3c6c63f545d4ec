from __future__ import annotations

from pathlib import Path

from promptyard.cli.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date():
    expected = render_reference()
    assert DOC.read_text() == expected, (
        "docs/cli.md is out of date: run `python -m promptyard.cli.reference > docs/cli.md`")


def test_reference_lists_every_command():
    import typer.main

    from promptyard.cli.main import get_app

    text = render_reference()
    group = typer.main.get_command(get_app())
    for name in getattr(group, "commands", {}):
        assert f"`promptyard {name}`" in text
