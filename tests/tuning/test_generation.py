"""Generation tasks train on the target's tokens only, validate by loss, and predict by generating."""

from __future__ import annotations

import json

import pytest

from promptyard.core.template import Part, Template
from promptyard.tuning.loop import train
from promptyard.tuning.spec import TrainSpec

CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "Egypt": "Cairo",
            "Peru": "Lima", "Kenya": "Nairobi", "Chile": "Santiago"}


@pytest.mark.parametrize("task, template", [
    ("generation", Template(kind="single", text="Q: capital of {{ text }}?\nA:")),
    ("summarization", Template(kind="multi", parts=[Part("system", "Answer briefly."),
                                                     Part("user", "capital of {{ text }}")])),
], ids=["generation-single", "summarization-multi"])
def test_generation_task_trains_on_targets(tmp_path, task, template):
    from promptyard.tuning.predict import predict

    rows = [{"question": country, "answer": city} for country, city in CAPITALS.items()] * 5
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = TrainSpec(model="tiny-causal", data=str(path), method="lora", task=task, prompt=template, quiet=True,
                     data_options={"text_column": "question", "target_column": "answer"},
                     config={"lr": 3e-2, "epochs": 3, "eval_every": 0, "batch_size": 4, "patience": 0})
    result = train(spec)
    assert result.metrics["metric_name"] == "val_loss"
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.metrics["val_metric"] == min(h["val_loss"] for h in result.history)
    out = predict(result.adapter_dir, ["France"], max_new_tokens=3)
    assert isinstance(out[0]["prediction"], str)
