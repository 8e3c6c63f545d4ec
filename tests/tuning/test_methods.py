"""Every tuning method x (tiny causal, tiny encoder): trains, loss goes down, saves safetensors,
registers, and reloads in a fresh process with the same logits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from promptyard.core.errors import TuningError
from promptyard.core.host import lookup, registered
from promptyard.core.template import Template
from promptyard.runtime.adapter_loading import load_adapted, register_result
from promptyard.tuning.loop import train
from promptyard.tuning.spec import TrainSpec
from tests.tuning.reload_logits import logits_of
from tests.tuning.toydata import write_toy_sentiment

TEXTS = ["the film was great fun", "the plot was dull the cast the acting"]
# learning rates that move a tiny random model within a dozen steps
CASES = [
    ("lora", "tiny-causal", 2e-2), ("lora", "tiny-encoder", 1e-2),
    ("prompt_tuning", "tiny-causal", 0.3), ("prompt_tuning", "tiny-encoder", 3e-2),
    ("prefix_tuning", "tiny-causal", 3e-2),
    ("p_tuning", "tiny-causal", 1e-2), ("p_tuning", "tiny-encoder", 3e-3),
    ("ia3", "tiny-causal", 0.3), ("ia3", "tiny-encoder", 3e-2),
    ("full", "tiny-causal", 3e-3), ("full", "tiny-encoder", 1e-3),
]
UNSUPPORTED = [("prefix_tuning", "tiny-encoder")]
# each case trains, reloads in a fresh process and takes tens of seconds on 2 cores: `-m "not slow"` keeps the
# default method on both model kinds, the full run has every method
FAST = {("lora", "tiny-causal"), ("lora", "tiny-encoder")}
TRAIN_CASES = [pytest.param(m, k, lr, id=f"{m}-{k}", marks=() if (m, k) in FAST else pytest.mark.slow)
               for m, k, lr in CASES]


def test_every_method_is_registered_and_covered():
    methods = set(registered("tuning_methods"))
    assert {"lora", "prompt_tuning", "prefix_tuning", "p_tuning", "ia3", "full"} <= methods
    covered = {(m, k) for m, k, _ in CASES} | set(UNSUPPORTED)
    for name in methods & {m for m, _, _ in CASES}:
        for model in ("tiny-causal", "tiny-encoder"):
            assert (name, model) in covered


@pytest.mark.parametrize("method, model, lr", TRAIN_CASES)
def test_method_trains_saves_registers_and_reloads(tmp_path, child_env, method, model, lr):
    from promptyard.registry.api import Registry

    data = write_toy_sentiment(tmp_path / "toy.jsonl")
    spec = TrainSpec(model=model, data=data, method=method, task="sentiment", quiet=True,
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"),
                     config={"epochs": 3, "eval_every": 0, "lr": lr, "train_sample": 32, "val_sample": 16,
                             "batch_size": 4, "patience": 0, "keep": "last"})
    result = train(spec)
    # history: step 0, then one evaluation per epoch; train_loss is the mean over that epoch
    assert [h["step"] for h in result.history] == [0, 8, 16, 24]
    assert result.history[-1]["train_loss"] < result.history[1]["train_loss"]
    files = {p.name for p in result.adapter_dir.iterdir()}
    assert files & {"adapter_model.safetensors", "full_state.safetensors"}
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    assert result.curves_json.exists() and result.curves_png.exists()

    registry = Registry.open(create=True)
    version = register_result(registry, f"toy-{method}", result)
    assert version.lineage["method"]["name"] == method
    assert version.lineage["base_model"]["hash"] == lookup_hash(model)
    here = logits_of(load_adapted(registry.adapter_path(version.ref)), TEXTS)
    base = logits_of(base_model(model), TEXTS)
    assert here != base  # the adapter changes the model
    out = subprocess.run([sys.executable, "-m", "tests.tuning.reload_logits", str(registry.path), version.ref,
                          json.dumps(TEXTS)], capture_output=True, text=True, env=child_env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    flat = lambda rows: [x for row in rows for x in row]  # noqa: E731
    assert flat(fresh) == pytest.approx(flat(here), abs=1e-5)


def lookup_hash(model: str) -> str:
    from promptyard.core.lookups import load_model

    return load_model(model, num_labels=2).content_hash


def base_model(model: str):
    from promptyard.core.lookups import load_model

    return load_model(model, num_labels=2)


@pytest.mark.parametrize("method, model", UNSUPPORTED)
def test_unsupported_combination_is_a_clear_error(tmp_path, method, model):
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=20)
    with pytest.raises(TuningError, match="does not support encoder models.*past key values"):
        train(TrainSpec(model=model, data=data, method=method, task="sentiment", quiet=True))
    assert not (tmp_path / "work" / "runs").exists()  # nothing written


@pytest.mark.parametrize("method", ["lora", "prompt_tuning", "prefix_tuning", "p_tuning", "ia3", "full"])
def test_each_method_has_help_and_a_search_space(method):
    import dataclasses

    m = lookup("tuning_methods", method)
    assert m.description and m.model_kinds
    for f in dataclasses.fields(m.config_class):
        assert f.metadata.get("help"), f"{method}.{f.name} has no help text"
    space = m.default_search_space()
    assert "lr" in space
    for spec in space.values():
        assert len(spec) == 1 and next(iter(spec)) in ("choice", "uniform", "loguniform", "randint")
