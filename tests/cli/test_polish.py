"""What scripts and people rely on: --json on write commands, NO_COLOR, --quiet, completion, README links."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from promptyard.testing import invoke

ROOT = Path(__file__).resolve().parents[2]
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;)[0-9;]*m")


def test_write_commands_print_json(tmp_path):
    assert json.loads(invoke(["init", "--json"]).stdout)["created"] is True
    added = json.loads(invoke(["prompt", "commit", "p", "--text", "a {{ x }}", "--json"]).stdout)
    assert added == {"ref": "p@1", "hash": added["hash"], "created": True} and len(added["hash"]) == 64
    again = json.loads(invoke(["prompt", "commit", "p", "--text", "a {{ x }}", "--json"]).stdout)
    assert again["created"] is False and again["ref"] == "p@1"
    invoke(["prompt", "commit", "p", "--text", "b {{ x }}"])
    moved = json.loads(invoke(["prompt", "label", "p@1", "production", "--force", "--json"]).stdout)
    assert moved == {"name": "p", "label": "production", "from": None, "to": 1}
    invoke(["prompt", "label", "p@2", "production", "--force"])
    back = json.loads(invoke(["prompt", "rollback", "p", "--json"]).stdout)
    assert back == {"name": "p", "label": "production", "from": 2, "to": 1}
    archived = json.loads(invoke(["prompt", "archive", "p", "--json"]).stdout)
    assert archived == {"name": "p", "archived": True, "changed": True}


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    full.pop("NO_COLOR", None) if "NO_COLOR" not in env else None
    return subprocess.run([sys.executable, "-m", "promptyard.cli", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False)])
def test_no_color_turns_colour_off(tmp_path, no_color, coloured):
    invoke(["init"])
    invoke(["prompt", "commit", "p", "--text", "a {{ x }}"])
    env = {"FORCE_COLOR": "1", "COLUMNS": "100"}  # a pipe is not a terminal: force what a terminal would get
    if no_color:
        env["NO_COLOR"] = no_color
    out = _cli(["prompt", "list"], tmp_path, **env).stdout + _cli(["--help"], tmp_path, **env).stdout
    assert bool(COLOUR.search(out)) is coloured


def test_quiet_silences_progress_and_status():
    from promptyard.cli import progress

    invoke(["--quiet", "plugins", "hooks"])
    assert progress.quiet is True
    invoke(["plugins", "hooks"])
    assert progress.quiet is False


def test_completion_is_installable():
    import typer.main
    from typer._completion_shared import get_completion_script

    from promptyard.cli.main import get_app

    options = {o for p in typer.main.get_command(get_app()).params for o in p.opts}
    assert {"--install-completion", "--show-completion"} <= options
    # what --show-completion prints in bash (the shell is detected from the parent process there)
    script = get_completion_script(prog_name="promptyard", complete_var="_PROMPTYARD_COMPLETE", shell="bash")
    assert "_PROMPTYARD_COMPLETE" in script and "complete " in script


def test_readme_links_every_doc_page():
    readme = (ROOT / "README.md").read_text()
    index = (ROOT / "docs" / "index.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"docs/{page.name}" in readme, f"README does not link {page.name}"
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


# commands whose output is a file or a walk-through, not a result to parse
NO_JSON = {"prompt export", "registry upgrade", "adapter export", "plugins new", "quickstart",
           "serve"}  # serve runs until stopped: it prints no result


def _commands(cmd, path):
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, [*path, name])
    else:
        yield " ".join(path), cmd


def test_every_read_and_run_command_has_json():
    import typer.main

    from promptyard.cli.main import get_app

    root = typer.main.get_command(get_app())
    missing = [name for name, cmd in _commands(root, [])
               if name not in NO_JSON and not any("--json" in p.opts for p in cmd.params)]
    assert missing == []
