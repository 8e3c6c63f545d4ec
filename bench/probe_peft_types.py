"""Try every tuning type the installed peft registers on the tiny models; write what fails and why.

For each type and each model kind (tiny-causal, tiny-encoder) it does what ``tune run --method peft:<type>``
does with the type's default settings (plus :data:`PROBE_SETTINGS` for the types that have no usable
defaults): build the settings, wrap the model, one forward/backward/optimizer step, save the adapter, load
it on a fresh base model and compare logits. The first exception is the reason, stored as data in
``src/promptyard/plugins/tuning/peft_types/support.json``; ``tune methods`` shows it and
``tests/plugins/test_peft_types.py`` re-checks every stated reason. A type that fails on both kinds with
a CUDA-only error (a kernel, bitsandbytes) is marked as not working on CPU.

Run: ``python bench/probe_peft_types.py [--types loha,vera] [--check]`` (``--check``: compare with the
stored file and exit 1 on a difference, writing nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from promptyard.core.configs import build_config  # noqa: E402
from promptyard.core.host import get_host, lookup  # noqa: E402
from promptyard.core.lookups import load_adapter, load_model, save_adapter  # noqa: E402
from promptyard.plugins.tuning import peft_types  # noqa: E402

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
    "trainable_tokens": {"token_indices": "0,1,2"},
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


def probe(types: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for type_name in types:
        found = {kind: try_type(type_name, kind) for kind in MODELS}
        cuda = all(found.values()) and all(any(w in found[k].lower() for w in CUDA_WORDS) for k in MODELS)
        found["cpu"] = found["causal"] if cuda else ""
        if type_name in PROBE_SETTINGS:
            found["settings"] = PROBE_SETTINGS[type_name]
        out[type_name] = found
        print(f"{type_name:24} causal: {found['causal'] or 'ok'} | encoder: {found['encoder'] or 'ok'}",
              file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", default="", help="comma-separated types (default: every type)")
    parser.add_argument("--check", action="store_true", help="compare with the stored file; write nothing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    family = next(e.value for e in get_host().table("tuning_methods").families() if e.name == peft_types.PREFIX)
    types = [t for t in args.types.split(",") if t] or family.variant_names()
    found = probe(types)
    stored = peft_types.support()
    if args.check:
        diff = {t: (stored["types"].get(t), v) for t, v in found.items() if stored["types"].get(t) != v}
        print(json.dumps(diff, indent=1))
        sys.exit(1 if diff or stored.get("peft") != peft_types.peft_version() else 0)
    merged = dict(stored["types"]) if args.types and stored.get("peft") == peft_types.peft_version() else {}
    merged.update(found)
    data = {"peft": peft_types.peft_version(), "models": MODELS, "device": "cpu",
            "types": dict(sorted(merged.items()))}
    peft_types.SUPPORT_FILE.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {peft_types.SUPPORT_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
