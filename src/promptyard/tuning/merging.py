"""Merging adapters: into their base model (``adapter export --merged``) and into each other (``adapter merge``).

:func:`export_merged` writes a plain transformers model folder (config, tokenizer, safetensors weights) with
the adapter's weights folded into the base by peft's ``merge_and_unload``: ``from_pretrained`` loads it
without peft and computes what adapter-on-base computes. Methods that add something other than weight
updates (prompt tuning, prefix tuning, p-tuning: learned virtual tokens) have nothing to merge and are
refused, with the reason.

:func:`merge_adapters` makes one new LoRA adapter version from several with peft's ``add_weighted_adapter``
and registers it with every parent in its lineage. The default combination, ``cat``, is exact for any ranks:
its update is the weighted sum of the parents' updates (rank = the sum of theirs). ``linear`` needs equal
ranks and positive weights and mixes the low-rank factors (an approximation); ``svd`` is the weighted sum
truncated to the largest parent rank. Everything is checked before a model is loaded, and a failure
registers nothing and leaves no folder behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import PEFT_CONFIG, PEFT_WEIGHTS, check_safetensors_only
from promptyard.core.errors import IntegrityError, UsageError
from promptyard.core.lookups import ADAPTER_META, read_meta
from promptyard.core.paths import work_dir
from promptyard.core.refs import check_name
from promptyard.runtime.adapter_loading import base_of, load_adapted
from promptyard.runtime.lineage import package_versions, read_lineage, validate_lineage
from promptyard.runtime.text_format import trained_formats

log = logging.getLogger(__name__)

#: written next to a merged model's files: where it came from (not an adapter: no ADAPTER_META)
MERGED_META = "promptyard_merged.json"
COMBINATIONS = ("cat", "linear", "svd")
#: peft types whose adapter adds learned tokens, not weight updates: nothing to merge into the base
_VIRTUAL_TOKENS = "it adds learned virtual tokens in front of the input, not changes to the base model's weights"


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers draws a bar while writing weights; only the CLI draws (through events)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _peft_config(folder: Path) -> dict[str, Any] | None:
    path = folder / PEFT_CONFIG
    return json.loads(path.read_text()) if path.is_file() else None


def _fresh_folder(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} exists and is not an empty folder", where=str(folder),
                         hint="choose a new folder")


def _move_into(tmp: Path, folder: Path) -> Path:
    """Put the finished ``tmp`` folder at ``folder`` (an empty folder there is replaced)."""
    if folder.is_dir():
        folder.rmdir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(folder)
    return folder


# -- adapter export --merged -------------------------------------------------------------------------------


def check_mergeable(adapter_dir: str | Path, *, where: str) -> None:
    """UsageError naming why the adapter cannot be folded into its base's weights (before loading anything)."""
    folder = Path(adapter_dir)
    meta = read_meta(folder)
    if not meta:
        raise IntegrityError(f"no {ADAPTER_META} in the adapter folder: its base model is unknown", where=where,
                             hint="only adapters trained by promptyard name the base model to merge into")
    config = _peft_config(folder)
    if config is None:
        return  # a method of its own format (full, last layers): its load changes the base's own weights
    from peft import PeftConfig

    peft_type = str(config.get("peft_type", "?"))
    loaded = PeftConfig.from_pretrained(str(folder))
    if loaded.is_prompt_learning or loaded.is_adaption_prompt:
        raise UsageError(f"cannot merge a {meta.get('method') or peft_type.lower()} adapter into its base: "
                         f"{_VIRTUAL_TOKENS}", where=where,
                         hint="export it as an adapter (`promptyard adapter export REF FOLDER`, without --merged)")


def merge_into_base(adapter_dir: str | Path, folder: str | Path, *, where: str | None = None,
                    provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the base model with the adapter in ``adapter_dir`` merged into it, as a transformers folder.

    Returns what was written: folder, base model, method, number of weight tensors. ``folder`` must be new
    or empty; nothing is left there when merging fails.
    """
    import torch

    adapter_dir, folder = Path(adapter_dir), Path(folder)
    where = where or str(adapter_dir)
    _fresh_folder(folder)
    check_mergeable(adapter_dir, where=where)
    meta = read_meta(adapter_dir)
    base = base_of(adapter_dir)
    expected = set(base.model.state_dict())  # before the adapter changes the modules
    adapted = load_adapted(adapter_dir, base=base)
    model = adapted.model
    from peft import PeftModel

    if isinstance(model, PeftModel):
        peft_type = str(model.peft_config[model.active_adapter].peft_type.value)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                model = model.merge_and_unload()
        except (AttributeError, NotImplementedError, ValueError, TypeError, RuntimeError) as exc:
            raise UsageError(f"peft cannot merge {peft_type} adapters into the base model: {exc}",
                             where=where, hint="export it as an adapter (without --merged)") from None
    names = set(model.state_dict())
    if names != expected:
        odd = sorted(names ^ expected)
        raise UsageError(f"the merged model's parameters differ from the base model's ({', '.join(odd[:3])}): "
                         "it would not load as a plain transformers model", where=where,
                         hint="its tuning method changes the model's structure; export it as an adapter")
    labels = meta.get("labels") or []
    if adapted.kind == "encoder" and labels:  # the classification head's labels, by name
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {label: i for i, label in enumerate(labels)}
    tmp = folder.parent / f".{folder.name}.merging-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        model.eval()
        with torch.no_grad(), _no_progress_bars():
            model.save_pretrained(tmp)
        if base.tokenizer is not None:
            base.tokenizer.save_pretrained(tmp)
        check_safetensors_only(tmp, where=where)
        info = {"merged_from": where, "base_model": meta.get("base_model"),
                "base_model_hash": meta.get("base_model_hash"), "model_kind": adapted.kind,
                "method": meta.get("method"), "task": meta.get("task"), "labels": labels,
                "choices": meta.get("choices"), "prompt": meta.get("prompt"),
                "text_format": meta.get("text_format"), **(provenance or {})}
        (tmp / MERGED_META).write_text(json.dumps(info, indent=1, sort_keys=True, default=str))
        _move_into(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    weights = sorted(p.name for p in folder.glob("*.safetensors"))
    return {"folder": str(folder), "base_model": meta.get("base_model"), "method": meta.get("method"),
            "kind": adapted.kind, "weights": weights, "tensors": len(expected)}


def export_merged(registry: Any, ref: str, folder: str | Path) -> dict[str, Any]:
    """``adapter export --merged``: the registered adapter ``ref`` (hash-checked) merged into its base, written
    to ``folder`` as a model ``AutoModelFor….from_pretrained`` loads without peft."""
    info = registry.resolve(ref, kind="adapter")
    _fresh_folder(Path(folder))  # before checking every file of the adapter
    source = registry.adapter_path(info.ref)
    out = merge_into_base(source, folder, where=info.ref,
                          provenance={"artifact_hash": info.artifact_hash, "ref": info.ref})
    return {"ref": info.ref, **out}


# -- adapter merge -----------------------------------------------------------------------------------------


def _weights(weights: Sequence[float] | None, n: int, combination: str) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    values = list(weights)
    if len(values) != n:
        raise UsageError(f"{len(values)} weights for {n} adapters", where="--weights",
                         hint="one weight per adapter, in the same order, e.g. --weights 0.7,0.3")
    for w in values:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise UsageError(f"weight {w!r} is not a finite number", where="--weights")
    if combination == "linear" and any(w <= 0 for w in values):
        raise UsageError("the linear combination needs positive weights (it takes their square roots)",
                         where="--weights", hint="use --combination cat, which takes any weights")
    return [float(w) for w in values]


def _parent(registry: Any, ref: str) -> dict[str, Any]:
    info = registry.resolve(ref, kind="adapter")
    path = registry.adapter_path(info.ref)
    meta, config = read_meta(path), _peft_config(path)
    method = meta.get("method") or read_lineage(info.lineage)["method"].get("name") or "?"
    if config is None or str(config.get("peft_type", "")).upper() != "LORA":
        kind = str((config or {}).get("peft_type") or "its own format")
        raise UsageError(f"adapter merge combines LoRA adapters; {info.ref} is a {method} adapter ({kind})",
                         where=info.ref, hint="merge LoRA adapters of one base model")
    if not meta:
        raise IntegrityError(f"no {ADAPTER_META} in the adapter folder: its base model is unknown",
                             where=info.ref, hint="only adapters trained by promptyard can be merged")
    return {"info": info, "path": path, "meta": meta, "config": config, "method": method}


def _check_compatible(parents: list[dict[str, Any]], combination: str) -> None:
    """UsageError naming the first thing that keeps these LoRA adapters from being combined."""
    first = parents[0]
    a = first["info"].ref
    for other in parents[1:]:
        b = other["info"].ref
        for key, what in (("base_model", "base model"), ("base_model_hash", "base model weights"),
                          ("model_kind", "model kind"), ("task", "task"), ("labels", "labels"),
                          ("choices", "choices")):
            if first["meta"].get(key) != other["meta"].get(key):
                raise UsageError(f"{a} and {b} have different {what} ({first['meta'].get(key)!r} vs "
                                 f"{other['meta'].get(key)!r})", where=b,
                                 hint="merge adapters trained on the same base model for the same task")
        if first["config"].get("task_type") != other["config"].get("task_type"):
            raise UsageError(f"{a} and {b} adapt different peft task types", where=b)
        kinds = {type(p["config"].get("target_modules")).__name__ for p in (first, other)}
        if len(kinds) > 1:
            raise UsageError(f"{a} and {b} name their target modules differently (a pattern and a list)",
                             where=b, hint="train both with a list of module names")
    for p in parents:
        if p["config"].get("use_dora"):
            raise UsageError("DoRA adapters cannot be combined: peft's weighted merge leaves out their magnitude "
                             "vectors", where=p["info"].ref)
        if p["config"].get("target_parameters"):
            raise UsageError("adapters that target parameters (not modules) cannot be combined",
                             where=p["info"].ref)
    trained_whole = [p["info"].ref for p in parents if p["config"].get("modules_to_save")]
    if len(trained_whole) > 1:
        raise UsageError(f"{', '.join(trained_whole)} each train whole modules (modules_to_save, such as an "
                         "encoder's classification head), which peft cannot combine", where=trained_whole[1])
    ranks = [int(p["config"].get("r") or 0) for p in parents]
    if combination == "linear" and len(set(ranks)) > 1:
        raise UsageError(f"the linear combination needs equal ranks, got r={', '.join(map(str, ranks))}",
                         where="--combination", hint="use --combination cat (exact) or svd")


def merge_adapters(registry: Any, refs: Sequence[str], *, weights: Sequence[float] | None = None,
                   name: str | None = None, combination: str = "cat", message: str = "") -> Any:
    """A new adapter version (``name``, default ``<first>-merged``): the weighted combination of the LoRA
    adapters ``refs`` (peft's ``add_weighted_adapter``), registered with every parent in its lineage.

    Weights default to equal shares. Incompatible adapters (another base model, method, task or labels;
    DoRA; linear with unequal ranks) are refused before any model is loaded, and nothing is registered.
    """
    if len(refs) < 2:
        raise UsageError("adapter merge needs two or more adapters", hint="adapter merge A B [--weights 0.7,0.3]")
    if combination not in COMBINATIONS:
        raise UsageError(f"unknown combination {combination!r}", where="--combination",
                         hint=f"one of {', '.join(COMBINATIONS)}")
    shares = _weights(weights, len(refs), combination)
    parents = [_parent(registry, ref) for ref in refs]
    _check_compatible(parents, combination)
    name = name or f"{parents[0]['info'].name}-merged"
    check_name(name)
    tmp = work_dir() / "merges" / uuid.uuid4().hex[:12]
    tmp.mkdir(parents=True)
    try:
        rank = _combine(parents, shares, combination, tmp)
        meta, lineage = _merged_records(parents, shares, combination, rank)
        (tmp / ADAPTER_META).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
        text = message or (f"{combination} merge of {', '.join(p['info'].ref for p in parents)} "
                           f"(weights {', '.join(f'{w:g}' for w in shares)})")
        return registry.register_adapter(name, tmp, lineage, message=text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _combine(parents: list[dict[str, Any]], shares: list[float], combination: str, out: Path) -> int:
    """Load every parent on one base, add their weighted combination, save it (PEFT's format) in ``out``."""
    from peft import PeftModel

    first = parents[0]
    base = base_of(first["path"])
    if first["meta"].get("base_model_hash") and base.content_hash != first["meta"]["base_model_hash"]:
        raise IntegrityError("the base model's weights differ from the ones the adapters were trained on",
                             where=first["info"].ref)
    names = [f"parent{i}" for i in range(len(parents))]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        model = PeftModel.from_pretrained(base.model, str(check_safetensors_only(first["path"], loading=True)),
                                          adapter_name=names[0])
        for adapter_name, parent in zip(names[1:], parents[1:], strict=True):
            model.load_adapter(str(check_safetensors_only(parent["path"], loading=True)), adapter_name=adapter_name)
        try:
            model.add_weighted_adapter(names, shares, "merged", combination_type=combination)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise UsageError(f"peft cannot combine these adapters: {exc}",
                             where=", ".join(p["info"].ref for p in parents)) from None
    config = model.peft_config["merged"]
    # the combined factors already carry each parent's scaling: the new adapter's must be 1 (alpha = r, and no
    # rsLoRA, whose alpha / sqrt(r) would scale it again)
    config.use_rslora = False
    config.lora_alpha = config.r
    config.inference_mode = True
    saved = out / ".saved"
    model.save_pretrained(str(saved), selected_adapters=["merged"])
    source = saved / "merged" if (saved / "merged" / PEFT_WEIGHTS).is_file() else saved
    for f in (PEFT_CONFIG, PEFT_WEIGHTS):
        shutil.move(str(source / f), str(out / f))
    shutil.rmtree(saved)
    return int(config.r)


def _merged_records(parents: list[dict[str, Any]], shares: list[float], combination: str,
                    rank: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The merged adapter's ``promptyard_adapter.json`` and lineage (every parent, its weight and format)."""
    first = parents[0]
    formats: list[dict[str, Any]] = []
    for p in parents:
        for f in trained_formats(p["meta"]):
            if f not in formats:
                formats.append(f)
    if len({json.dumps(p["meta"].get("prompt", {}).get("hash")) for p in parents}) > 1:
        log.info("the parents were trained on different prompts: `predict` renders through %s's",
                 first["info"].ref)
    settings = dict(first["meta"].get("method_config") or {})
    settings.update({k: v for k, v in (("r", rank), ("alpha", rank)) if k in settings})
    merge = {"combination": combination, "rank": rank,
             "parents": [{"ref": p["info"].ref, "artifact_hash": p["info"].artifact_hash, "weight": w,
                          "method": p["method"], "r": p["config"].get("r"),
                          "prompt": {k: v for k, v in (p["meta"].get("prompt") or {}).items() if k != "template"},
                          "data": p["meta"].get("data")} for p, w in zip(parents, shares, strict=True)]}
    text_format: Any = formats[0] if len(formats) == 1 else formats
    meta = {k: v for k, v in first["meta"].items() if k not in ("step", "data", "seed")}
    meta.update({"method_config": settings, "merge": merge, "packages": package_versions()})
    if formats:
        meta["text_format"] = text_format
    prompt = {k: v for k, v in (first["meta"].get("prompt") or {}).items() if k != "template"}
    lineage = {
        "source": "merge",
        "base_model": {"ref": first["meta"].get("base_model"), "hash": first["meta"].get("base_model_hash"),
                       "kind": first["meta"].get("model_kind")},
        "method": {"name": first["method"], "config": settings},
        "task": {"name": first["meta"].get("task"), "labels": first["meta"].get("labels"),
                 "choices": first["meta"].get("choices")},
        "prompt": prompt,
        "data": {"parents": [p["meta"].get("data") for p in parents]},
        "merge": merge,
        "packages": package_versions(),
    }
    if formats:
        lineage["text_format"] = text_format
    return meta, validate_lineage(json.loads(json.dumps(lineage, default=str)))


__all__ = ["COMBINATIONS", "MERGED_META", "check_mergeable", "export_merged", "merge_adapters", "merge_into_base"]
