"""Every tuning type the installed peft registers x (tiny causal, tiny encoder), through ``peft:<type>``.

Where ``tune methods`` says a type works on a kind, it trains a few steps with the training loss going down,
saves safetensors, registers, and reloads in a fresh process (one process for the whole table) with the same
logits. Where it states a reason the type cannot work, trying it again raises exactly that reason, and
``tune run`` refuses it with that reason before anything is written.
"""

from __future__ import annotations

import pytest

from promptyard.core.errors import TuningError
from promptyard.core.host import get_host, lookup
from promptyard.plugins.tuning import peft_types
from promptyard.plugins.tuning.peft_types.probe import try_type
from promptyard.tuning.loop import train
from promptyard.tuning.spec import TrainSpec
from tests.tuning.adapter_table import flat, selected, train_table
from tests.tuning.toydata import write_toy_sentiment

KINDS = {"causal": "tiny-causal", "encoder": "tiny-encoder"}
TYPES = peft_types.FAMILY.variant_names()
REASONS = {t: peft_types.support()["types"].get(t, {}) for t in TYPES}
WORKS = [(t, k) for t in TYPES for k in KINDS if not REASONS[t].get(k)]
FAILS = [(t, k) for t in TYPES for k in KINDS if REASONS[t].get(k)]
#: learning rates that move the tiny random models within a few steps (soft prompts need larger ones)
LR = {"prompt_learning": 0.1, "other": 2e-2, "ln_tuning": 5e-2, "boft": 5e-2, "oft": 5e-2, "hra": 5e-2}
#: each case takes seconds on 2 cores: `-m "not slow"` keeps one adapter type on both kinds and one soft prompt
FAST = {("loha", "causal"), ("loha", "encoder"), ("prompt_tuning", "causal")}
TRAIN = {"epochs": 3, "eval_every": 0, "train_sample": 16, "val_sample": 8, "batch_size": 4, "patience": 0,
         "keep": "last"}


def lr_of(type_name: str) -> float:
    method = lookup("tuning_methods", f"peft:{type_name}")
    return LR.get(type_name, LR["prompt_learning"] if method.prompt_learning else LR["other"])


def test_every_type_of_the_installed_peft_is_a_method_and_was_probed():
    import peft
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    assert len(TYPES) == len(PEFT_TYPE_TO_CONFIG_MAPPING) >= 45
    assert peft_types.support()["peft"] == peft.__version__, "rerun bench/probe_peft_types.py for this peft"
    assert set(peft_types.support()["types"]) == set(TYPES)
    names = get_host().table("tuning_methods").names(expand=True)
    assert {"lora", "full"} <= set(names) and {f"peft:{t}" for t in TYPES} <= set(names)
    for t in TYPES:  # each reason is the first exception of a named stage, or none
        for kind in (*KINDS, "cpu"):
            why = REASONS[t].get(kind, "")
            assert why == "" or why.split(":", 1)[0] in ("settings", "load model", "wrap", "train step", "save",
                                                         "reload")


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory, _shared_model_cache, child_pythonpath):
    """Train the selected cases once, in one isolated registry, and reload them all in one fresh process."""
    wanted = selected(request, "test_type_trains_saves_registers_and_reloads", "type_name", "kind")
    cases = {(t, k): {"model": KINDS[k], "method": f"peft:{t}",
                      "config": {**TRAIN, **REASONS[t].get("settings", {}), "lr": lr_of(t)}}
             for t, k in WORKS if (t, k) in wanted}
    return train_table(tmp_path_factory.mktemp("peft-types"), _shared_model_cache, child_pythonpath, cases)


@pytest.mark.parametrize("type_name, kind", [
    pytest.param(t, k, id=f"{t}-{k}", marks=() if (t, k) in FAST else pytest.mark.slow) for t, k in WORKS])
def test_type_trains_saves_registers_and_reloads(trained, type_name, kind):
    case = trained[(type_name, kind)]
    result, version = case["result"], case["version"]
    assert [h["step"] for h in result.history] == [0, 4, 8, 12]
    assert result.history[-1]["train_loss"] < result.history[1]["train_loss"], result.history
    files = {p.name for p in result.adapter_dir.iterdir()}
    assert "adapter_model.safetensors" in files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    assert version.lineage["method"]["name"] == f"peft:{type_name}"
    assert isinstance(case["fresh"], list), case["fresh"]  # a string is the fresh process's error
    assert flat(case["fresh"]) == pytest.approx(flat(case["here"]), abs=1e-5)


@pytest.mark.parametrize("type_name, kind", FAILS, ids=[f"{t}-{k}" for t, k in FAILS])
def test_stated_reason_is_what_trying_it_raises(type_name, kind):
    assert try_type(type_name, kind) == REASONS[type_name][kind]


@pytest.mark.parametrize("type_name, kind", FAILS[:1] + [c for c in FAILS if c[0] == "cpt"][:1])
def test_tune_run_refuses_a_stated_combination_with_its_reason_and_writes_nothing(tmp_path, type_name, kind):
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=20)
    with pytest.raises(TuningError) as caught:
        train(TrainSpec(model=KINDS[kind], data=data, method=f"peft:{type_name}", task="sentiment", quiet=True,
                        config=dict(REASONS[type_name].get("settings", {}))))
    assert f"does not support {kind} models" in str(caught.value)
    assert REASONS[type_name][kind] in str(caught.value)
    assert not (tmp_path / "work" / "runs").exists()
