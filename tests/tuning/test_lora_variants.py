"""LoRA's variants (DoRA, rsLoRA) and initialisations (gaussian, PiSSA, OLoRA, EVA) on the tiny models: each
trains with the loss going down, saves safetensors, and reloads on the *unchanged* base model in a fresh
process with the same logits (PiSSA and OLoRA change the base weights while training; their adapter is
saved converted to a plain LoRA update of twice the rank)."""

from __future__ import annotations

import json

import pytest

from tests.tuning.adapter_table import flat, selected, train_table

TRAIN = {"epochs": 3, "eval_every": 0, "train_sample": 16, "val_sample": 8, "batch_size": 4, "patience": 0,
         "keep": "last", "lr": 2e-2, "r": 4, "alpha": 8}
CASES = {
    "dora-causal": ("tiny-causal", {"use_dora": "true"}),
    "dora-encoder": ("tiny-encoder", {"use_dora": "true"}),
    "rslora-causal": ("tiny-causal", {"use_rslora": "true"}),
    "gaussian-causal": ("tiny-causal", {"init": "gaussian"}),
    "pissa-causal": ("tiny-causal", {"init": "pissa"}),
    "pissa-encoder": ("tiny-encoder", {"init": "pissa"}),
    "olora-causal": ("tiny-causal", {"init": "olora"}),
    "eva-causal": ("tiny-causal", {"init": "eva"}),
    "eva-encoder": ("tiny-encoder", {"init": "eva"}),
}
FAST = {"dora-causal", "pissa-causal", "eva-causal"}


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory, _shared_model_cache, child_pythonpath):
    wanted = {c for (c,) in selected(request, "test_lora_variant_trains_and_reloads_on_the_unchanged_base", "case")}
    cases = {c: {"model": model, "method": "lora", "config": {**TRAIN, **extra}}
             for c, (model, extra) in CASES.items() if c in wanted}
    return train_table(tmp_path_factory.mktemp("lora-variants"), _shared_model_cache, child_pythonpath, cases)


@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c in FAST else pytest.mark.slow) for c in CASES])
def test_lora_variant_trains_and_reloads_on_the_unchanged_base(trained, case):
    from safetensors import safe_open

    got = trained[case]
    result, extra = got["result"], CASES[case][1]
    assert result.history[-1]["train_loss"] < result.history[1]["train_loss"], result.history
    assert got["version"].lineage["method"]["config"]["init"] == extra.get("init", "default")
    config = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    with safe_open(str(result.adapter_dir / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert config["use_dora"] is (extra.get("use_dora") == "true")
    assert config["use_dora"] == any("lora_magnitude_vector" in k for k in keys)
    assert config["use_rslora"] is (extra.get("use_rslora") == "true")
    if extra.get("init") in ("pissa", "olora"):
        # converted: a plain LoRA update of the original weights, twice the rank
        assert config["init_lora_weights"] is True and config["r"] == 2 * TRAIN["r"]
    elif extra.get("init") == "eva":
        assert config["init_lora_weights"] == "eva"
    assert isinstance(got["fresh"], list), got["fresh"]
    assert flat(got["fresh"]) == pytest.approx(flat(got["here"]), abs=1e-5)



@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_dora_with_a_converted_init_is_refused_before_training(init):
    from promptyard.core.errors import TuningError
    from promptyard.plugins.tuning.lora import LoraSettings

    with pytest.raises(TuningError, match=f"init={init} cannot be combined with use_dora"):
        LoraSettings(use_dora=True, init=init)
