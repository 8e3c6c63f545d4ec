"""Fixtures for registry tests: an open registry and one simple template of each kind."""

from __future__ import annotations

import pytest

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


@pytest.fixture
def registry(tmp_path):
    from promptyard import Registry

    reg = Registry.open(tmp_path / "reg" / "registry.db", create=True)
    yield reg
    reg.close()
