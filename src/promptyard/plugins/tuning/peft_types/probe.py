"""Trying a peft tuning type on the tiny models, as ``tune run --method peft:<type>`` would: the first exception
is the reason it cannot work there. ``bench/probe_peft_types.py`` writes the findings to ``support.json``;
the tests re-check each stated reason with :func:`try_type`. torch and transformers are imported inside."""

from __future__ import annotations

import tempfile
from pathlib import Path

from promptyard.core.configs import build_config
from promptyard.core.host import lookup
from promptyard.core.lookups import load_adapter, load_model, save_adapter

MODELS = {"causal": "tiny-causal", "encoder": "tiny-encoder"}
#: settings for the types whose defaults cannot work here: peft leaves some sizes unset (a user has to give
#: them too), and others default to sizes for real models that exceed the tiny models' width of 32
VIRTUAL = {"num_virtual_tokens": "8"}
PROBE_SETTINGS: dict[str, dict[str, str]] = {
    "adalora": {"total_step": "20"},
    "adaption_prompt": {"adapter_len": "4", "adapter_layers": "1"},
    "c3a": {"block_size": "8"},
    "cartridge": VIRTUAL, "cpt": VIRTUAL, "multitask_prompt_tuning": VIRTUAL, "p_tuning": VIRTUAL,
    "prefix_tuning": VIRTUAL, "prompt_tuning": VIRTUAL,
    "fourierft": {"n_frequency": "64"},
    "miss": {"r": "8"},
    "psoft": {"r": "8"},
    "road": {"group_size": "8"},
    "shira": {"r": "4"},
    "trainable_tokens": {"token_indices": "101,102,1996"},  # [CLS], [SEP] and "the": in every toy row
    "vblora": {"vector_length": "8", "num_vectors": "16"},
    "waveft": {"n_frequency": "64"},
}
CUDA_WORDS = ("cuda", "bitsandbytes", "triton", "gpu")
TEXTS = ["the film was great fun", "the plot was dull"]


def reason_of(exc: BaseException, stage: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{stage}: {type(exc).__name__}: {text[:240]}"


def batch(loaded, kind: str):
    import torch

    tok = loaded.tokenizer
    enc = tok(TEXTS, padding=True, return_tensors="pt", add_special_tokens=kind == "encoder")
    if kind == "causal":
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
    else:
        labels = torch.tensor([1, 0])
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def logits(model, inputs):
    import torch

    model.eval()
    with torch.no_grad():
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    return out[:, -1] if out.dim() == 3 else out


def try_type(type_name: str, kind: str) -> str:
    """"" when the type trains, saves and reloads with the same logits on this kind; else the reason."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    method = lookup("tuning_methods", f"peft:{type_name}")
    stage = "settings"
    try:
        config = build_config(method, PROBE_SETTINGS.get(type_name, {}))
        stage = "load model"
        loaded = load_model(MODELS[kind], num_labels=2 if kind == "encoder" else None)
        inputs = batch(loaded, kind)
        stage = "wrap"
        torch.manual_seed(0)
        model = method.wrap(loaded.model, config, kind=kind, model_kind=kind, tokenizer=loaded.tokenizer)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return "wrap: no parameter left trainable"
        stage = "train step"
        model.train()
        loss = model(**inputs).loss
        loss.backward()
        torch.optim.AdamW(params, lr=1e-2).step()
        here = logits(model, inputs)
        stage = "save"
        with tempfile.TemporaryDirectory() as tmp:
            save_adapter(method, model, tmp, {"base_model": MODELS[kind], "model_kind": kind})
            files = {p.name for p in Path(tmp).iterdir()}
            if not any(f.endswith(".safetensors") for f in files):
                return f"save: no safetensors file written ({', '.join(sorted(files))})"
            stage = "reload"
            fresh = load_model(MODELS[kind], num_labels=2 if kind == "encoder" else None)
            again = logits(load_adapter(fresh.model, tmp), inputs)
        if not torch.allclose(here, again, atol=1e-5):
            return f"reload: logits differ after reloading (max diff {float((here - again).abs().max()):.3g})"
        return ""
    except Exception as exc:  # noqa: BLE001 - the exception is the finding
        return reason_of(exc, stage)


