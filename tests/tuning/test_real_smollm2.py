"""The embedded SmolLM2 on a rotten_tomatoes subset: LoRA and prompt tuning initialised from a registry
prompt each beat the zero-shot prompt's validation accuracy (kept short: a few dozen steps)."""

from __future__ import annotations

import pytest

from promptyard.core.template import Template

PROMPT = Template(kind="single", text="Review: {{ text }}\nSentiment:")
COMMON = {"train_sample": 128, "val_sample": 48, "batch_size": 8, "epochs": 1, "eval_every": 8, "patience": 0}
CASES = [
    ("lora", {"lr": 1e-3, "r": 8}),
    ("prompt_tuning", {"lr": 3e-2, "init_from_prompt": "sentiment@1", "num_virtual_tokens": 0}),
]


def zero_shot_accuracy(prep) -> float:
    """The registered prompt alone, on the untouched base model, over the same validation rows."""
    from promptyard.core.lookups import load_model
    from promptyard.runtime.inference import score_choices

    base = load_model("smollm2-135m")
    scores = score_choices(base, prep.val_prompts, prep.choices)
    predicted = [prep.labels[max(range(len(row)), key=row.__getitem__)] for row in scores]
    return sum(p == t for p, t in zip(predicted, prep.val_labels, strict=True)) / len(predicted)


@pytest.mark.real_model
@pytest.mark.slow
@pytest.mark.parametrize("method, config", CASES, ids=[m for m, _ in CASES])
def test_tuning_beats_the_zero_shot_prompt(method, config):
    from promptyard.registry.api import Registry
    from promptyard.tuning.loop import train
    from promptyard.tuning.plan import plan_run, prepare
    from promptyard.tuning.spec import TrainSpec

    with Registry.open(create=True) as registry:
        registry.commit("sentiment", PROMPT, message="zero-shot sentiment", task_type="sentiment")
    spec = TrainSpec(model="smollm2-135m", data="rotten_tomatoes", method=method, prompt="sentiment@1",
                     config={**COMMON, **config}, seed=0, quiet=True)
    baseline = zero_shot_accuracy(prepare(plan_run(spec)))
    result = train(spec)
    assert result.lineage["prompt"]["resolved"] == "sentiment@1"
    assert result.metrics["val_metric"] > baseline, (result.metrics, baseline)
    assert result.metrics["best_step"] > 0, result.history  # training, not the initialisation, did it
