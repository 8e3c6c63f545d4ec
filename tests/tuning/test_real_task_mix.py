"""The embedded SmolLM2 tuned on a task mix (sentiment on rotten_tomatoes, topic on bbc_news): the one adapter
beats each zero-shot prompt on its own task, and the per-task metrics are stored with the adapter version.
Kept short: a few dozen rows per task, one epoch."""

from __future__ import annotations

import pytest

from promptyard.core.template import Template

SENTIMENT = Template(kind="single", text="Review: {{ text }}\nSentiment:")
# the first characters of an article: its title and first sentence say the topic
TOPIC = Template(kind="single", text="Article: {{ text[:120] }}\nTopic:")
MIX = {"tasks": [
    {"name": "sentiment", "prompt": "sentiment@1", "data": "rotten_tomatoes", "task": "sentiment"},
    {"name": "topic", "prompt": "topic@1", "data": "bbc_news", "task": "topic"},
]}
CONFIG = {"train_sample": 64, "val_sample": 32, "batch_size": 8, "epochs": 1, "eval_every": 8, "patience": 0,
          "max_length": 64, "lr": 1e-3, "r": 8}


def zero_shot(part) -> float:
    """The task's registered prompt alone, on the untouched base model, over the task's validation rows."""
    from promptyard.core.lookups import load_model
    from promptyard.runtime.inference import score_choices

    scores = score_choices(load_model("smollm2-135m"), part.val_prompts, part.choices)
    predicted = [part.labels[max(range(len(row)), key=row.__getitem__)] for row in scores]
    return sum(p == t for p, t in zip(predicted, part.val_labels, strict=True)) / len(predicted)


@pytest.mark.real_model
@pytest.mark.slow
def test_one_adapter_beats_the_zero_shot_prompt_on_both_tasks():
    from promptyard.registry.api import Registry
    from promptyard.runtime.adapter_loading import register_result
    from promptyard.tuning.loop import train
    from promptyard.tuning.plan import plan_run, prepare
    from promptyard.tuning.spec import TrainSpec

    with Registry.open(create=True) as registry:
        registry.commit("sentiment", SENTIMENT, message="zero-shot sentiment", task_type="sentiment")
        registry.commit("topic", TOPIC, message="zero-shot topic", task_type="topic")
    spec = TrainSpec(model="smollm2-135m", mix=MIX, method="lora", config=CONFIG, seed=0)
    baseline = {part.plan.name: zero_shot(part) for part in prepare(plan_run(spec)).tasks}
    result = train(spec)
    tasks = result.metrics["tasks"]
    for name in ("sentiment", "topic"):
        assert tasks[name]["val_metric"] > baseline[name], (name, tasks, baseline)
    assert result.metrics["best_step"] > 0, result.history  # training, not the initialisation, did it

    with Registry.open() as registry:
        version = register_result(registry, "news-and-reviews", result)
        stored = registry.resolve_adapter(version.ref).lineage
    assert stored["metrics"]["tasks"] == tasks
    assert [t["prompt"]["resolved"] for t in stored["mix"]["tasks"]] == ["sentiment@1", "topic@1"]
    assert [t["data"]["ref"] for t in stored["mix"]["tasks"]] == ["rotten_tomatoes", "bbc_news"]
