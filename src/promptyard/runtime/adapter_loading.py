"""Trained adapters as registry versions: register with lineage, load back onto their base model.

Loading dispatches to the tuning method recorded in the adapter's ``promptyard_adapter.json``
(:func:`promptyard.core.lookups.load_adapter`): every method, built-in or not, loads its own format.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.adapter_format import PEFT_CONFIG
from promptyard.core.errors import IntegrityError, UnknownNameError
from promptyard.core.lookups import ADAPTER_META, adapter_method, load_adapter, load_model, read_meta, runs_as
from promptyard.core.protocols import LoadedModel, TuningMethodDefaults


def default_adapter_name(prompt: Any, method: str, *, searched: bool = False) -> str:
    """The adapter name when none is given, for ``tune run`` and (with ``searched``) ``tune search``.

    ``team/sentiment@3`` + lora -> ``team/sentiment-lora`` (``team/sentiment-lora-search`` for a search's best);
    a prompt that is no registry reference (a file, a Template, none) -> ``adapter-lora``. Underscores of the
    method become dashes: ``prompt_tuning`` -> ``...-prompt-tuning``.
    """
    suffix = (method or "adapter").replace("_", "-").replace(":", "-") + ("-search" if searched else "")
    if isinstance(prompt, str) and prompt and not Path(prompt).suffix and not Path(prompt).is_absolute():
        return f"{prompt.split('@', 1)[0]}-{suffix}"
    return f"adapter-{suffix}"


def register_result(registry: Any, name: str, result: Any, message: str = "") -> Any:
    """Register a :class:`TrainResult`'s adapter as a new version of ``name`` with its lineage."""
    check_safetensors_only(result.adapter_dir)
    metrics = result.metrics
    text = message or (f"{result.lineage['method']['name']} on {result.lineage['base_model']['ref']}: "
                       f"{metrics['metric_name']} {metrics['val_metric']:.4f}")
    return registry.register_adapter(name, result.adapter_dir, result.lineage, message=text)


def _meta(adapter_dir: Path) -> dict[str, Any]:
    meta = read_meta(adapter_dir)
    if not meta:
        raise IntegrityError(f"no {ADAPTER_META} in the adapter folder", where=str(adapter_dir),
                             hint="only adapters trained by promptyard carry their base model's name")
    return meta


def base_of(adapter_dir: str | Path) -> LoadedModel:
    """The base model named in the adapter's metadata, loaded as the adapter was trained on it (its kind, and
    an encoder's classification head sized for its labels), without the adapter."""
    meta = _meta(Path(adapter_dir))
    labels = meta.get("labels") or []
    return load_model(meta["base_model"], kind=meta.get("model_kind"),
                      num_labels=len(labels) if runs_as(meta.get("model_kind") or "causal") == "encoder" else None)


def load_adapted(adapter_dir: str | Path, *, base: LoadedModel | None = None) -> LoadedModel:
    """The base model named in the adapter's metadata with the adapter applied.

    The base model's content hash must match the one the adapter was trained on.
    """
    adapter_dir = Path(adapter_dir)
    meta = _meta(adapter_dir)
    if base is None:
        base = base_of(adapter_dir)
    if meta.get("base_model_hash") and base.content_hash != meta["base_model_hash"]:
        raise IntegrityError("the base model's weights differ from the ones the adapter was trained on",
                             where=str(adapter_dir), hint=f"expected base {meta['base_model']} with hash "
                                                          f"{meta['base_model_hash'][:12]}")
    model = load_adapter(base.model, adapter_dir)
    return replace(base, model=model)


def peft_loadable(folder: str | Path) -> bool:
    """Whether the adapter in ``folder`` is a PEFT folder loaded with the contract's default (PEFT's) loader,
    so that a model pool may attach it to a shared base as one more PEFT adapter.

    An adapter whose method gives its own ``load`` is always loaded with it, onto a base of its own.
    """
    folder = Path(folder)
    if not (folder / PEFT_CONFIG).is_file():
        return False
    if not read_meta(folder):
        return True  # a plain PEFT folder (not trained by promptyard): PEFT's loader is all there is
    try:
        method = adapter_method(folder)
    except UnknownNameError:
        return True  # its method is not installed: PEFT's loader is what loads a PEFT folder then
    own = inspect.getattr_static(method, "load", None)
    return own is None or own is TuningMethodDefaults.load
