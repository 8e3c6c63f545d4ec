"""Test helpers: one simple template of each kind, and a dump of every row (to show that a refused operation
changed nothing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from promptyard.core.template import Part, Template

TEMPLATES = {
    "single": lambda w: Template(kind="single", text=f"{w}: {{{{ x }}}}"),
    "multi": lambda w: Template(
        kind="multi", parts=[Part("system", f"You are {w}."), Part("user", "{{ x }}")]
    ),
    "structured": lambda w: Template(
        kind="structured",
        sections={"task": f"{w} the text", "input": "{{ x }}", "output_format": "JSON"},
        output_schema={"type": "object"},
    ),
    "dynamic": lambda w: Template(kind="dynamic", text=f"{w}: {{{{ x }}}}", examples=[{"x": "a"}], k=1),
}
KINDS = list(TEMPLATES)


def dump(path: Path) -> list[str]:
    """Every schema statement and row of the registry file, in order."""
    conn = sqlite3.connect(str(path))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
