"""``promptyard --help`` from the cache of typer's output: the same bytes as typer, and never stale."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from promptyard.testing import write_distribution

SRC = Path(__file__).resolve().parents[2] / "src"
ENTRY = ["-m", "promptyard.cli"]  # the entry point, with the cache
TYPER = ["-c", "import sys; from promptyard.cli.main import main; main(sys.argv[1:])"]  # the full typer tree


@pytest.fixture
def env(tmp_path):
    return {"PYTHONPATH": str(SRC), "PROMPTYARD_HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", ""),
            "COLUMNS": "100"}


def run(how: list[str], args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, *how, *args], capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


def entries(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["PROMPTYARD_HOME"]) / "cache" / "help").glob("root-*.json"))


@pytest.mark.parametrize("columns", ["60", "100", "173"])
@pytest.mark.parametrize("args", [["--help"], [], ["--no-plugins", "--help"]], ids=" ".join)
def test_the_replayed_help_is_typers_own(env, columns, args):
    env["COLUMNS"] = columns
    drawn = run(ENTRY, args, env)
    assert len(entries(env)) == 1
    replayed = run(ENTRY, args, env)
    assert drawn == replayed == run(TYPER, args, env)
    assert "Usage: promptyard" in drawn[1] and "predict" in drawn[1]


def test_each_width_and_environment_has_its_own_entry(env):
    run(ENTRY, ["--help"], env)
    run(ENTRY, ["--help"], {**env, "COLUMNS": "70"})
    run(ENTRY, ["--help"], {**env, "NO_COLOR": "1"})
    run(ENTRY, ["--help"], {**env, "UNRELATED": "x"})  # not read by the layout: the same entry
    assert len(entries(env)) == 3


def test_only_the_most_recent_entries_are_kept(env):
    from promptyard.cli import help_cache

    for columns in range(60, 60 + help_cache.KEEP + 3):
        run(ENTRY, ["--help"], {**env, "COLUMNS": str(columns)})
    assert len(entries(env)) == help_cache.KEEP


def test_the_entry_is_what_is_printed_and_a_changed_file_redraws_it(env):
    real = run(ENTRY, ["--help"], env)
    (file,) = entries(env)
    entry = json.loads(file.read_text())
    entry["stdout"] = "from the cache\n"
    file.write_text(json.dumps(entry))
    assert run(ENTRY, ["--help"], env)[1] == "from the cache\n"
    # an edited or upgraded module (promptyard's command index, typer, rich …) changes its stamp
    index = next(i for i, (path, _) in enumerate(entry["files"]) if path.endswith("command_index.py"))
    entry["files"][index][1][0] -= 1
    file.write_text(json.dumps(entry))
    assert run(ENTRY, ["--help"], env) == real
    assert json.loads(file.read_text())["stdout"] == real[1]


COMMANDS_PLUGIN = '''
from promptyard import hookimpl


@hookimpl
def register_commands(app):
    @app.command(name="pyplug-hello")
    def hello() -> None:
        """Say hello from a plugin."""
        print("hello")
'''


def test_a_plugin_command_is_seen_on_the_next_help_and_gone_after_removal(env, tmp_path):
    site = tmp_path / "site"
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(site)])
    before = run(ENTRY, ["--help"], env)
    assert "pyplug-hello" not in before[1] and run(ENTRY, ["--help"], env) == before  # cached
    dist = write_distribution(site, "pyplug-hello", entry_points={"hello": "pyplug_hello"},
                              files={"pyplug_hello.py": COMMANDS_PLUGIN})
    installed = run(ENTRY, ["--help"], env)
    assert "pyplug-hello" in installed[1] and "Say hello from a plugin." in installed[1]
    assert installed == run(TYPER, ["--help"], env)
    assert run(ENTRY, ["--no-plugins", "--help"], env)[1] == before[1]
    shutil.rmtree(dist)
    assert run(ENTRY, ["--help"], env) == before


def _in_terminal(how: list[str], args: list[str], env: dict[str, str], columns: int) -> bytes:
    """What the command writes to a terminal ``columns`` wide (stdout and stderr both on it)."""
    import fcntl
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in env.items() if k != "COLUMNS"} | {"TERM": "xterm-256color"}
    proc = subprocess.Popen([sys.executable, *how, *args], stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(leader)
    return out


def test_in_a_terminal_the_replayed_help_is_typers_own(env):
    drawn = _in_terminal(ENTRY, ["--help"], env, 90)
    replayed = _in_terminal(ENTRY, ["--help"], env, 90)
    assert b"\x1b[" in drawn  # rich drew for a terminal: colours
    assert drawn == replayed == _in_terminal(TYPER, ["--help"], env, 90)
    assert _in_terminal(ENTRY, ["--help"], env, 130) == _in_terminal(TYPER, ["--help"], env, 130) != drawn
