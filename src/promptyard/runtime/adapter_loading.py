"""Trained adapters as registry versions: register with lineage, load back onto their base model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.errors import IntegrityError
from promptyard.core.protocols import LoadedModel
from promptyard.plugins.tuning.base import ADAPTER_META, load_adapter, read_meta


def default_adapter_name(prompt: Any, method: str) -> str:
    """``team/sentiment@3`` + lora -> ``team/sentiment-lora``; no prompt reference -> ``adapter-lora``."""
    suffix = method.replace("_", "-")
    if isinstance(prompt, str) and prompt and not Path(prompt).suffix:
        return f"{prompt.split('@', 1)[0]}-{suffix}"
    return f"adapter-{suffix}"


def register_result(registry: Any, name: str, result: Any, message: str = "") -> Any:
    """Register a :class:`TrainResult`'s adapter as a new version of ``name`` with its lineage."""
    check_safetensors_only(result.adapter_dir)
    metrics = result.metrics
    text = message or (f"{result.lineage['method']['name']} on {result.lineage['base_model']['ref']}: "
                       f"{metrics['metric_name']} {metrics['val_metric']:.4f}")
    return registry.register_adapter(name, result.adapter_dir, result.lineage, message=text)


def load_adapted(adapter_dir: str | Path, *, base: LoadedModel | None = None) -> LoadedModel:
    """The base model named in the adapter's metadata with the adapter applied.

    The base model's content hash must match the one the adapter was trained on.
    """
    from dataclasses import replace

    from promptyard.plugins.model_loaders import load_model

    adapter_dir = Path(adapter_dir)
    meta = read_meta(adapter_dir)
    if not meta:
        raise IntegrityError(f"no {ADAPTER_META} in the adapter folder", where=str(adapter_dir),
                             hint="only adapters trained by promptyard carry their base model's name")
    if base is None:
        labels = meta.get("labels") or []
        base = load_model(meta["base_model"], kind=meta.get("model_kind"),
                          num_labels=len(labels) if meta.get("model_kind") == "encoder" else None)
    if meta.get("base_model_hash") and base.content_hash != meta["base_model_hash"]:
        raise IntegrityError("the base model's weights differ from the ones the adapter was trained on",
                             where=str(adapter_dir), hint=f"expected base {meta['base_model']} with hash "
                                                          f"{meta['base_model_hash'][:12]}")
    model = load_adapter(base.model, adapter_dir)
    return replace(base, model=model)
