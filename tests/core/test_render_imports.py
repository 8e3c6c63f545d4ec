"""Rendering stays light: no ML stack, and no jsonschema/yaml unless a template needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import promptyard

SRC = str(Path(promptyard.__file__).resolve().parents[1])
HEAVY = ("torch", "transformers", "peft", "ray", "evaluate", "numpy", "sqlalchemy", "sqlmodel")

SCRIPT = """
import json, sys
from promptyard.core.template import Template, Part
from promptyard.core.render import render
render(Template(text="hi {{ x }}"), {"x": 1})
render(Template(kind="multi", parts=[Part("user", "{{ x }}")]), {"x": 1})
dyn = Template(kind="dynamic", text="{{ x }} {{ word_count }}", examples=[{"text": "a"}], selector="similar")
render(dyn, {"x": "a"})
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_render_imports_nothing_heavy():
    env = {**os.environ, "PYTHONPATH": SRC, "PROMPTYARD_PLUGINS": "none"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "jsonschema" not in loaded and "yaml" not in loaded
    assert "jinja2" in loaded
