"""The sandbox limits through the real ``promptyard`` command (a subprocess): exit code, one stderr line, no trace.

A refused commit leaves the registry as it was; a refused render prints nothing on stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptyard.core.sandbox_limits import LIMITS_ENV
from promptyard.testing import invoke

ROOT = Path(__file__).resolve().parents[2]
BOMB = ("{% set ns = namespace(s='x' * 100000) %}{% for i in range(6) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        "{{ ([ns.s] * 250)|join|length }}")


def _cli(args: list[str], limits: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), LIMITS_ENV: limits}
    # what the installed `promptyard` script runs ([project.scripts] in pyproject.toml)
    entry = "import sys; from promptyard.cli.entry import main; sys.argv[0] = 'promptyard'; main()"
    return subprocess.run([sys.executable, "-c", entry, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _one_error_line(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _dump() -> str:
    return invoke(["prompt", "list", "--json"]).stdout + invoke(["prompt", "log", "kept", "--json"]).stdout


COMMITS = [
    ("template over max_template_chars", "hello {{ x }} " * 20, "max_template_chars=100",
     ["sandbox limit max_template_chars=100 exceeded", "280 characters"]),
    ("21 nested for-loops", "{% for a in x %}" * 21 + "{{ a }}" + "{% endfor %}" * 21, "",
     ["text line 1: the template nests too deeply to compile"]),
    ("70 nested parentheses", "{{ " + "(" * 70 + "a" + ")" * 70 + " }}", "", ["text line 1", "nests too deeply"]),
    ("199-term a + a + ...", "first\n{{ " + " + ".join(["a"] * 199) + " }}", "", ["text line 2", "nests too deeply"]),
]


@pytest.mark.parametrize(("what", "text", "limits", "words"), COMMITS, ids=[c[0] for c in COMMITS])
def test_prompt_commit_refuses_with_one_line(what, text, limits, words):
    assert invoke(["init"]).exit_code == 0
    assert invoke(["prompt", "commit", "kept", "--text", "Hi {{ name }}"]).exit_code == 0
    before = _dump()
    _one_error_line(_cli(["prompt", "commit", "new", "--text", text], limits), *words)
    assert _dump() == before


RENDERS = [
    ("join of an aliased list", BOMB, "", ["text line 1: sandbox limit max_text=10000000 exceeded: |join"]),
    ("lipsum in a loop past the deadline", "{% for i in range(10000) %}{{ lipsum(20)|length }}{% endfor %}",
     "deadline_s=0.2", ["sandbox limit deadline_s=0.2 exceeded", "still running at the deadline"]),
    ("range printed", "{{ range }}", "", ["cannot print function 'bounded_range'"]),
    ("a limit set too low", "{% for i in range(5) %}{{ i }}{% endfor %}", "max_loop_iterations=3",
     ["max_loop_iterations=3 exceeded"]),
    ("a misspelt limit", "{{ 1 }}", "max_loops=3", [LIMITS_ENV, "known limits: deadline_s"]),
]


@pytest.mark.parametrize(("what", "text", "limits", "words"), RENDERS, ids=[r[0] for r in RENDERS])
def test_prompt_render_refuses_with_one_line(what, text, limits, words):
    assert invoke(["init"]).exit_code == 0
    assert invoke(["prompt", "commit", "p", "--text", text]).exit_code == 0  # fine to store: it fails when run
    _one_error_line(_cli(["prompt", "render", "p"], limits), *words)


def test_prompt_render_within_the_limits_prints_the_text():
    assert invoke(["init"]).exit_code == 0
    assert invoke(["prompt", "commit", "p", "--text", "{{ ['a', 'b']|join('-') }} {{ range(3)|list }}"]).exit_code == 0
    result = _cli(["prompt", "render", "p"], "deadline_s=2")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "a-b [0, 1, 2]", "")
