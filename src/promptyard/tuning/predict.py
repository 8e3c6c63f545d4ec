"""Run a registered adapter on raw text: render through its prompt, then score or generate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from promptyard.core.lookups import read_meta
from promptyard.core.template import Template
from promptyard.runtime.adapter_loading import load_adapted
from promptyard.runtime.inference import generate, score_choices
from promptyard.runtime.lineage import read_lineage
from promptyard.runtime.model_text import render_model_text


def predict(adapter_dir: str | Path, texts: list[str], *, max_new_tokens: int = 32) -> list[dict[str, Any]]:
    """One result per text: ``{"prediction", "scores"}`` (classification) or ``{"prediction"}``."""

    meta = read_meta(adapter_dir)
    loaded = load_adapted(adapter_dir)
    template = Template.from_dict(meta["prompt"]["template"], where=f"{adapter_dir}: prompt")
    prompts = [render_model_text(template, {"text": t}, loaded.tokenizer, seed=0) for t in texts]
    labels = meta.get("labels") or []
    if labels:
        scores = score_choices(loaded, prompts, meta.get("choices") or labels)
        out = []
        for row in scores:
            total = math.log(sum(math.exp(s) for s in row))
            probs = {label: math.exp(s - total) for label, s in zip(labels, row, strict=True)}
            out.append({"prediction": max(probs, key=probs.get), "probabilities": probs})
        return out
    return [{"prediction": reply.strip()} for reply in generate(loaded, prompts, max_new_tokens=max_new_tokens)]


def adapter_diff(a: Any, b: Any) -> dict[str, Any]:
    """What differs between two adapter versions' lineage: base, prompt, data, method, settings, metrics."""
    keys = ("base_model", "prompt", "data", "task", "method", "hyperparameters", "seed", "metrics")
    changes = {}
    lin_a, lin_b = read_lineage(a.lineage), read_lineage(b.lineage)  # adapters of any source or age
    for key in keys:
        left, right = lin_a.get(key), lin_b.get(key)
        if left == right:
            continue
        if isinstance(left, dict) and isinstance(right, dict):
            changes[key] = {k: {"a": left.get(k), "b": right.get(k)} for k in sorted(set(left) | set(right))
                            if left.get(k) != right.get(k)}
        else:
            changes[key] = {"a": left, "b": right}
    return {"a": a.ref, "b": b.ref, "same_weights": a.artifact_hash == b.artifact_hash, "changes": changes}
