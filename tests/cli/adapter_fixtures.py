"""Tiny LoRA and prompt-tuning adapters trained for the adapter merge / merged export / template check tests.

One registry per test module: prompt ``sent`` at versions 1 and 2, the toy sentiment data, and adapters trained
on the tiny causal model in a few seconds each (:func:`build`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from promptyard.testing import isolated_environment
from tests.tuning.toydata import write_toy_sentiment

V1 = {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}
V2 = {"kind": "single", "text": "Is this review positive or negative?\n{{ text }}\nAnswer:"}
TEXTS = ["the film was great fun", "the plot was dull the cast the acting"]
# a short real run: 4 steps an epoch on 32 rows
FAST = {"train_sample": 32, "val_sample": 16, "eval_every": 0, "batch_size": 8, "epochs": 2, "lr": 2e-2,
        "patience": 0, "keep": "last"}


@dataclass
class Trained:
    root: Path
    registry: Path
    data: str
    refs: dict[str, str] = field(default_factory=dict)


def train_and_register(registry, name: str, *, prompt: str, data: str, method: str = "lora", seed: int = 0,
                       **config) -> str:
    """Train ``method`` on the tiny causal model with ``prompt`` (a registry reference) and register it."""
    from promptyard.runtime.adapter_loading import register_result
    from promptyard.tuning.loop import train
    from promptyard.tuning.spec import TrainSpec

    spec = TrainSpec(model="tiny-causal", data=data, method=method, prompt=prompt, task="sentiment", quiet=True,
                     seed=seed, registry=str(registry.path), config={**FAST, **config})
    return register_result(registry, name, train(spec)).ref


def build(root: Path, shared_model_cache: Path, adapters: dict[str, dict]) -> Trained:
    """A registry under ``root`` with prompt ``sent`` (v1, v2) and the ``adapters`` {name: train options}."""
    from promptyard.registry.api import Registry

    cache = root / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for kind in ("models", "hashes"):
        if not (cache / kind).exists():
            (cache / kind).symlink_to(shared_model_cache / kind, target_is_directory=True)
    with isolated_environment(root):
        path = root / "reg" / "registry.db"
        with Registry.open(path, create=True) as reg:
            reg.commit("sent", V1, message="v1", task_type="sentiment")
            reg.commit("sent", V2, message="v2", task_type="sentiment")
            data = write_toy_sentiment(root / "toy.jsonl")
            trained = Trained(root, path, data)
            for name, options in adapters.items():
                trained.refs[name] = train_and_register(reg, name, data=data, **options)
    return trained


def snapshot(registry_path: Path) -> dict:
    """Everything a refused command must leave as it was: adapter versions, eval runs, stored artifacts."""
    import sqlite3

    conn = sqlite3.connect(registry_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()
    artifacts = sorted(p.name for p in (registry_path.parent / "artifacts").rglob("*") if p.is_dir())
    return {"rows": counts, "artifacts": artifacts}
