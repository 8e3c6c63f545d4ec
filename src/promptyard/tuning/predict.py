"""Run a registered adapter on raw text: render through its prompt, then score or generate."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from promptyard.core.lookups import read_meta
from promptyard.core.template import Template
from promptyard.runtime.adapter_loading import load_adapted
from promptyard.runtime.inference import generate, score_choices
from promptyard.runtime.lineage import read_lineage
from promptyard.runtime.model_text import render_model_text
from promptyard.runtime.prompts import resolve_prompt
from promptyard.runtime.text_format import (
    MISMATCH,
    check_text_format,
    refuse_mismatch,
    summary,
    text_format,
    trained_formats,
)

log = logging.getLogger(__name__)


def predict(adapter_dir: str | Path, texts: list[str], *, max_new_tokens: int = 32, prompt: str | None = None,
            registry: Any = None, strict_template: bool = False) -> list[dict[str, Any]]:
    """One result per text: ``{"prediction", "scores"}`` (classification) or ``{"prediction"}``.

    The text goes through the adapter's own prompt, or through ``prompt`` (a reference or template file,
    resolved in ``registry``). When that prompt, or the chat template it goes through, is not the one the
    adapter was trained on, each result carries ``template_check`` and a warning is logged;
    ``strict_template`` refuses it (TemplateMismatchError) before anything runs.
    """

    meta = read_meta(adapter_dir)
    if prompt is None:
        template = Template.from_dict(meta["prompt"]["template"], where=f"{adapter_dir}: prompt")
        prompt_hash, name = template.content_hash(), (meta.get("prompt") or {}).get("resolved")
    else:
        resolved = resolve_prompt(prompt, registry)
        template, prompt_hash, name = resolved.template, resolved.content_hash, resolved.resolved
    loaded = load_adapted(adapter_dir)
    used = text_format(prompt_hash, loaded.tokenizer, chat=template.kind == "multi", prompt=name)
    check = check_text_format(trained_formats(meta), used)
    if strict_template:
        refuse_mismatch(check, where=prompt or str(adapter_dir))
    if check["status"] == MISMATCH:
        log.warning("%s", summary(check))
    mark = {"template_check": check} if check["status"] == MISMATCH else {}
    prompts = [render_model_text(template, {"text": t}, loaded.tokenizer, seed=0) for t in texts]
    labels = meta.get("labels") or []
    if labels:
        scores = score_choices(loaded, prompts, meta.get("choices") or labels)
        out = []
        for row in scores:
            total = math.log(sum(math.exp(s) for s in row))
            probs = {label: math.exp(s - total) for label, s in zip(labels, row, strict=True)}
            out.append({"prediction": max(probs, key=probs.get), "probabilities": probs, **mark})
        return out
    return [{"prediction": reply.strip(), **mark}
            for reply in generate(loaded, prompts, max_new_tokens=max_new_tokens)]


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
