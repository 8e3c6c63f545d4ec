"""The host's lookups: which loader loads a model or a data set, what kind a model is, which tuning method
saves and loads an adapter.

They belong to the host, not to the built-in plugins that fill the tables (as simonw/llm keeps
``get_model`` host-side): a third-party loader or method is asked exactly like a built-in one, and
what a plugin leaves out of its contract is filled in from the documented defaults
(:func:`promptyard.core.protocols.member`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from promptyard.core import adapter_format
from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.dataset import Dataset
from promptyard.core.errors import IntegrityError, PluginError, UnknownNameError, UsageError
from promptyard.core.host import get_host
from promptyard.core.protocols import MODEL_FAMILIES, LoadedModel, member

__all__ = [
    "ADAPTER_META", "adapter_method", "find_dataset_loader", "find_loader", "load_adapter", "load_dataset",
    "load_model", "loader_kinds", "locate_model", "model_kind", "read_meta", "runs_as", "save_adapter",
]

#: written next to an adapter's own files: base model, method, task, prompt (what loading it back needs)
ADAPTER_META = "promptyard_adapter.json"


# -- models ------------------------------------------------------------------------------------------


def _plugin_of(table: str, value: Any) -> str:
    for entry in get_host().table(table).entries():
        if entry.value is value:
            return entry.plugin
    return "?"


def find_loader(ref: str) -> Any:
    """The first registered model loader (built-ins first) whose ``can_load(ref)`` is true."""
    for loader in get_host().table("model_loaders").values():
        if loader.can_load(ref):
            return loader
    loaders = ", ".join(get_host().table("model_loaders").names())
    raise UnknownNameError(f"unknown model {ref!r}",
                           hint="use smollm2-135m, minilm-l6, tiny-causal, tiny-encoder, a local model folder, "
                                f"a hub id (owner/name), or a reference one of the loaders takes ({loaders})")


def loader_kinds(loader: Any) -> dict[str, str]:
    """A loader's kinds as ``{kind: how it runs}`` (``{"causal": "causal"}`` for the plain ones)."""
    kinds = member("model_loaders", loader, "kinds")
    if isinstance(kinds, Mapping):
        return {str(k): str(v) for k, v in kinds.items()}
    return {str(k): str(k) for k in kinds}


def runs_as(kind: str) -> str:
    """How promptyard runs a model kind: ``"causal"`` or ``"encoder"`` (a loader's own kind maps to one)."""
    if kind in MODEL_FAMILIES:
        return kind
    for loader in get_host().table("model_loaders").values():
        family = loader_kinds(loader).get(kind)
        if family is not None:
            return family
    raise UsageError(f"unknown model kind {kind!r}", hint=f"known: {', '.join(known_kinds())}")


def known_kinds() -> list[str]:
    """Every model kind: the two promptyard runs, then those model loaders declare of their own."""
    out = list(MODEL_FAMILIES)
    for loader in get_host().table("model_loaders").values():
        out += [k for k in loader_kinds(loader) if k not in out]
    return out


def model_kind(ref: str) -> str:
    """The natural kind of a model reference, without loading it: its loader's ``kind_of(ref)``."""
    loader = find_loader(ref)
    kind = member("model_loaders", loader, "kind_of")(ref)
    if kind not in loader_kinds(loader):
        raise PluginError(f"model loader {loader.name!r} says {ref!r} is a {kind!r} model, which is not one "
                          f"of its kinds ({', '.join(loader_kinds(loader))})",
                          where=f"plugin {_plugin_of('model_loaders', loader)}",
                          hint="list every kind it loads in the loader's `kinds`")
    return kind


def locate_model(ref: str) -> str | None:
    """The local folder ``load_model(ref)`` would read, when its loader can tell without loading (its
    ``locate``); None when it cannot (not built, converted or downloaded yet, or a loader without one)."""
    folder = member("model_loaders", find_loader(ref), "locate")(ref)
    return str(folder) if folder else None


def load_model(ref: str, *, kind: str | None = None, num_labels: int | None = None) -> LoadedModel:
    """Load a model reference as ``kind`` (None: the model's natural kind) through its loader."""
    if kind is not None and kind not in known_kinds():
        raise UsageError(f"unknown model kind {kind!r}", hint=f"one of {', '.join(known_kinds())}")
    loader = find_loader(ref)
    loaded = loader.load(ref, num_labels=num_labels) if kind is None else loader.load(
        ref, kind=kind, num_labels=num_labels)
    if not isinstance(loaded, LoadedModel):
        raise PluginError(f"model loader {loader.name!r} returned {type(loaded).__name__}, not a LoadedModel",
                          where=f"plugin {_plugin_of('model_loaders', loader)}",
                          hint="return promptyard.core.protocols.LoadedModel(model, tokenizer, ref, kind, "
                               "content_hash, path)")
    return loaded


# -- data sets -----------------------------------------------------------------------------------------


def find_dataset_loader(ref: str) -> Any:
    """The first registered data set loader whose ``can_load(ref)`` is true."""
    for loader in get_host().table("dataset_loaders").values():
        if loader.can_load(ref):
            return loader
    named = [name for loader in get_host().table("dataset_loaders").values()
             for name in member("dataset_loaders", loader, "catalog")]
    raise UnknownNameError(f"unknown data set {ref!r}",
                           hint=f"use {', '.join(named) + ', ' if named else ''}a .jsonl file or a .csv file")


def load_dataset(ref: str, **options: Any) -> Dataset:
    """Load a data set reference (``rotten_tomatoes``, ``file.jsonl`` …) through its loader, as a Dataset.

    A loader that returns plain rows (an iterable of dicts) gets them wrapped in a Dataset named ``ref``.
    """
    loader = find_dataset_loader(ref)
    data = loader.load(ref, **options)
    if isinstance(data, Dataset):
        return data
    where = f"plugin {_plugin_of('dataset_loaders', loader)}"
    try:
        rows = list(data)
    except TypeError:
        raise PluginError(f"data set loader {loader.name!r} returned {type(data).__name__}, not a Dataset or "
                          "rows", where=where, hint="return promptyard.core.dataset.Dataset(name, rows)") from None
    bad = next((i for i, row in enumerate(rows) if not isinstance(row, Mapping)), None)
    if bad is not None:
        raise PluginError(f"data set loader {loader.name!r} returned a row that is not a dict "
                          f"({type(rows[bad]).__name__}, row {bad + 1})", where=where)
    return Dataset(Path(ref).stem or ref, [dict(row) for row in rows], ref)


# -- adapters ------------------------------------------------------------------------------------------


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The adapter's ``promptyard_adapter.json`` ({} when the folder has none)."""
    path = Path(folder) / ADAPTER_META
    return json.loads(path.read_text()) if path.exists() else {}


def adapter_method(folder: str | Path) -> Any:
    """The tuning method that saved the adapter in ``folder`` (named in its metadata)."""
    meta = read_meta(folder)
    name = meta.get("method")
    if not name:
        raise IntegrityError(f"no tuning method recorded in {ADAPTER_META}", where=str(folder),
                             hint="only adapters trained by promptyard record the method that loads them")
    try:
        return get_host().table("tuning_methods").get(name)
    except UnknownNameError as exc:
        raise UnknownNameError(f"the adapter was saved by tuning method {name!r}, which is not installed",
                               where=str(folder), hint=exc.hint) from None


def save_adapter(method: Any, model: Any, folder: str | Path, meta: Mapping[str, Any]) -> None:
    """The method's ``save`` into ``folder``, then the metadata that names the method for loading back."""
    folder = Path(folder)
    member("tuning_methods", method, "save")(model, folder)
    (folder / ADAPTER_META).write_text(json.dumps({**meta, "method": method.name}, indent=1, sort_keys=True,
                                                  default=str))


def load_adapter(model: Any, folder: str | Path) -> Any:
    """Put the adapter in ``folder`` on ``model`` with the ``load`` of the method that saved it.

    A PEFT folder whose method is no longer installed still loads with the contract's default (PEFT's)
    loader: its format is PEFT's whatever method wrote it. Weights load from safetensors only: a folder
    with a pickled ``adapter_model.bin`` is refused before any loader sees it.
    """
    folder = check_safetensors_only(folder, loading=True)
    try:
        method = adapter_method(folder)
    except UnknownNameError:
        if (folder / adapter_format.PEFT_CONFIG).is_file():
            return adapter_format.load_default(model, folder)
        raise
    return member("tuning_methods", method, "load")(model, folder)
