"""Runs docs/registry.md: every ``$ promptyard …`` line, every ``python`` block, in order."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from promptyard.testing import invoke

DOC = Path(__file__).resolve().parents[2] / "docs" / "registry.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(DOC.read_text())]


def test_every_example_in_the_registry_page_runs(tmp_path, capsys):
    ran = 0
    for lang, info, body in blocks():
        if info.startswith("file="):
            (tmp_path / info.split("=", 1)[1]).write_text(body)
        elif lang == "console":
            for line in body.splitlines():
                if line.startswith("$ promptyard "):
                    result = invoke(shlex.split(line[len("$ promptyard "):]))
                    assert result.exit_code == 0, f"{line}\n{result.output}"
                    ran += 1
        elif lang == "python":
            exec(compile(body, str(DOC), "exec"), {})
            ran += 1
    assert ran >= 25
    assert "Hello Ada!" in capsys.readouterr().out


def test_the_documented_outputs_are_what_the_commands_print(tmp_path):
    (tmp_path / "t.txt").write_text("x {{ review }}")
    invoke(["init"])
    invoke(["prompt", "add", "team/sentiment", "t.txt"])
    invoke(["prompt", "commit", "team/sentiment", "--text", "y {{ review }}"])
    again = invoke(["prompt", "commit", "team/sentiment", "--text", "y {{ review }}"])
    assert again.stdout.startswith("nothing to commit: identical to team/sentiment@2")
    assert "nothing to commit: identical to team/sentiment@2" in DOC.read_text()
