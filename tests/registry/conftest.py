"""Fixtures for registry tests: an open registry and one simple template of each kind."""

from __future__ import annotations

import importlib.util
import sys

import pytest

if importlib.util.find_spec("promptyard.core.render") is None:  # pragma: no cover - until templates lands
    from tests.registry import _render_shim

    sys.modules["promptyard.core.render"] = _render_shim
if importlib.util.find_spec("promptyard.core.template_files") is None:  # pragma: no cover
    from tests.registry import _render_shim

    sys.modules["promptyard.core.template_files"] = _render_shim

from promptyard.core.template import Part, Template  # noqa: E402

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
