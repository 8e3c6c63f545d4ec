"""Runs the ``<!-- test -->``-marked ``bash`` blocks of the docs pages, in order, in an empty folder.

A marker may substitute names, ``<!-- test: smollm2-135m=tiny-causal rotten_tomatoes=reviews.jsonl -->``:
the page says so, so a reader knows which lines ran with a tiny model. ``reviews.jsonl`` (40 labelled
rows) is written for every page. Each ``promptyard …`` line (``\\`` continuations joined, ``#`` comments
dropped) runs through :func:`promptyard.testing.invoke` and must exit 0.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from promptyard.testing import invoke

DOCS = Path(__file__).resolve().parents[2] / "docs"
MARKED = re.compile(r"<!-- test(?::([^>]*))? -->\s*\n```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
PAGES = ["concepts.md", "tuning.md", "evals.md"]


def marked_commands(page: str) -> list[list[str]]:
    """The command lines of every marked block of ``page``, substitutions applied."""
    commands = []
    for match in MARKED.finditer((DOCS / page).read_text()):
        swaps = [pair.split("=", 1) for pair in (match.group(1) or "").split()]
        body = match.group(2).replace("\\\n", " ")
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if not words or words[0] != "promptyard":
                continue
            commands.append([_swap(w, swaps) for w in words[1:]])
    return commands


def _swap(word: str, swaps: list[list[str]]) -> str:
    for old, new in swaps:
        word = word.replace(old, new)
    return word


def write_reviews(folder: Path) -> None:
    words = {"positive": ["great", "lovely", "superb", "moving"], "negative": ["awful", "dull", "bad", "tedious"]}
    with open(folder / "reviews.jsonl", "w") as f:
        for i in range(40):
            label = "positive" if i % 2 == 0 else "negative"
            f.write(json.dumps({"text": f"A {words[label][i % 4]} film.", "label": label}) + "\n")


@pytest.mark.parametrize("page", PAGES)
def test_marked_examples_run(page, tmp_path):
    write_reviews(tmp_path)
    commands = marked_commands(page)
    assert len(commands) >= 4, f"{page}: too few marked examples"
    for args in commands:
        result = invoke(args)
        assert result.exit_code == 0, f"{page}: promptyard {shlex.join(args)}\n{result.output}"


def test_the_marker_substitutes_only_where_the_page_says(tmp_path):
    lines = [" ".join(c) for c in marked_commands("concepts.md")]
    assert any("tiny-causal" in line for line in lines)
    assert not any("smollm2-135m" in line for line in lines)
    assert "smollm2-135m" in (DOCS / "concepts.md").read_text()
