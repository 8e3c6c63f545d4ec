"""``promptyard --help`` from the command index: the same text as the full tree, without the command modules."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout

import pytest

from promptyard.cli import command_index
from promptyard.cli.compose import compose


def test_the_index_matches_the_real_command_tree():
    assert command_index.generate() == command_index.ROOT_COMMANDS, (
        "the root command list changed: run `python -m promptyard.cli.command_index` and paste its output "
        "into ROOT_COMMANDS in src/promptyard/cli/command_index.py")


def _help(app) -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        app(args=["--help"], prog_name="promptyard", standalone_mode=True)
    return out.getvalue()


def test_root_help_from_the_index_is_the_full_trees_help(monkeypatch):
    from promptyard.cli.main import app

    monkeypatch.setenv("COLUMNS", "100")
    assert _help(compose(command_index.stub_app())) == _help(compose(app))


def test_root_help_imports_no_command_module(tmp_path, child_pythonpath):
    code = ("import sys, json\nfrom promptyard.cli.entry import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('promptyard', 'jinja2', 'sqlite3')))),"
            " file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": child_pythonpath, "PROMPTYARD_HOME": str(tmp_path),
                               "PATH": "/usr/bin:/bin"})
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "predict" in proc.stdout and "tune" in proc.stdout
    commands = {"promptyard.cli." + m for m in ("adapter", "data", "eval", "optimize", "plugins_cmd", "prompt",
                                                "quickstart", "registry_cmd", "serve", "tune", "tune_search",
                                                "main")}
    assert not loaded & commands, sorted(loaded & commands)
    assert "jinja2" not in loaded
