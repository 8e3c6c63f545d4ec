"""docs/server.md holds the API reference the current OpenAPI schema generates."""

from __future__ import annotations

from pathlib import Path

from promptyard.server.reference import BEGIN, END, current_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"


def test_the_api_reference_in_the_docs_is_current():
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    assert text[start:end] == current_reference(), (
        "docs/server.md is out of date: replace its API reference with `python -m promptyard.server.reference`")
