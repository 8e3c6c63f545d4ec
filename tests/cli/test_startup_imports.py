"""``promptyard --help`` and ``promptyard plugins list`` load every built-in plugin, and none of the heavy
libraries: plugins must import torch, transformers, peft, ray and evaluate inside functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("torch", "transformers", "peft", "ray", "evaluate")

PROBE = """
import contextlib, io, json, sys
from promptyard.cli.main import main
from promptyard.core.host import DEFAULT_PLUGINS, get_host

args = json.loads(sys.argv[1])
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
host = get_host()
print(json.dumps({
    "code": code,
    "printed": len(out.getvalue()),
    "not_loaded": [m for m in DEFAULT_PLUGINS if m not in host.plugin_names()],
    "failures": [f.message() for f in host.failures],
    "heavy": sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2]))),
}))
"""


@pytest.mark.parametrize("args", [["--help"], ["plugins", "list"], ["plugins", "list", "--json"]])
def test_cli_start_imports_no_heavy_library(args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "PROMPTYARD_PLUGINS": "none"}  # the built-ins are what this checks; installed plugins are not ours
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None) and report["printed"] > 0
    assert report["not_loaded"] == [] and report["failures"] == []
    assert report["heavy"] == [], f"imported at start-up: {report['heavy']}"
