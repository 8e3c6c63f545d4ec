"""``promptyard --help`` from the command index: the same text as the full tree, without the command modules."""

from __future__ import annotations

import json
import subprocess
import sys

from promptyard.cli import command_index


def _run(code: str, tmp_path, child_pythonpath) -> str:
    """``code`` in a fresh interpreter: commands register in the order the real CLI imports them, whatever
    this test session imported first."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": child_pythonpath, "PROMPTYARD_HOME": str(tmp_path), "COLUMNS": "100",
                               "PATH": "/usr/bin:/bin", "PROMPTYARD_PLUGINS": "none"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_index_matches_the_real_command_tree(tmp_path, child_pythonpath):
    real = json.loads(_run("import json\nfrom promptyard.cli import command_index\n"
                           "print(json.dumps(command_index.generate()))", tmp_path, child_pythonpath))
    assert [tuple(row) for row in real] == command_index.ROOT_COMMANDS, (
        "the root command list changed: run `python -m promptyard.cli.command_index` and paste its output "
        "into ROOT_COMMANDS in src/promptyard/cli/command_index.py")


def test_root_help_from_the_index_is_the_full_trees_help(tmp_path, child_pythonpath):
    def helped(call: str) -> str:
        return _run(f"{call}\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n", tmp_path,
                    child_pythonpath)

    from_index = helped("from promptyard.cli.entry import main")  # the console script's path
    full_tree = helped("from promptyard.cli.main import main")
    assert "predict" in from_index and from_index == full_tree


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
