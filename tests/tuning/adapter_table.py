"""Train a table of adapters in one isolated registry, then reload them all in one fresh process.

Shared by the table-driven method tests (``test_peft_types.py``, ``test_lora_variants.py``): one subprocess for
the whole table keeps the fresh-process check cheap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from promptyard.core.template import Template
from promptyard.runtime.adapter_loading import load_adapted, register_result
from promptyard.testing import isolated_environment
from promptyard.tuning.loop import train
from promptyard.tuning.spec import TrainSpec
from tests.tuning.reload_logits import logits_of
from tests.tuning.toydata import write_toy_sentiment

TEXTS = ["the film was great fun", "the plot was dull the cast the acting"]
PROMPT = "Review: {{ text }}\nSentiment:"


def selected(request: Any, test_name: str, *params: str) -> set[tuple]:
    """The parameter tuples of ``test_name`` that this session runs (after -k / -m)."""
    return {tuple(item.callspec.params[p] for p in params) for item in request.session.items
            if getattr(item, "originalname", "") == test_name}


def train_table(root: Path, model_cache: Path, pythonpath: str,
                cases: dict[Hashable, dict[str, Any]]) -> dict[Hashable, dict[str, Any]]:
    """``cases``: key -> ``{"model", "method", "config"}``. Returns key -> result, version, here and fresh
    logits (``fresh`` is the fresh process's error text where loading failed there)."""
    from promptyard.registry.api import Registry

    (root / "cache").mkdir(exist_ok=True)
    for kind in ("models", "hashes"):
        (root / "cache" / kind).symlink_to(model_cache / kind, target_is_directory=True)
    out: dict[Hashable, dict[str, Any]] = {}
    with isolated_environment(root):
        data = write_toy_sentiment(root / "toy.jsonl")
        registry = Registry.open(create=True)
        for i, (key, case) in enumerate(cases.items()):
            spec = TrainSpec(model=case["model"], data=data, method=case["method"], task="sentiment", quiet=True,
                             prompt=Template(kind="single", text=PROMPT), config=case["config"])
            result = train(spec)
            version = register_result(registry, f"table-{i}", result)
            out[key] = {"result": result, "version": version,
                        "here": logits_of(load_adapted(registry.adapter_path(version.ref)), TEXTS)}
        if out:
            refs = [case["version"].ref for case in out.values()]
            ran = subprocess.run([sys.executable, "-m", "tests.tuning.reload_many_logits", str(registry.path),
                                  json.dumps(refs), json.dumps(TEXTS)], capture_output=True, text=True,
                                 timeout=900, env={**os.environ, "PYTHONPATH": pythonpath})
            assert ran.returncode == 0, ran.stderr[-3000:]
            fresh = json.loads(ran.stdout.strip().splitlines()[-1])
            for case in out.values():
                case["fresh"] = fresh[case["version"].ref]
    return out


def flat(rows: list[list[float]]) -> list[float]:
    return [x for row in rows for x in row]
