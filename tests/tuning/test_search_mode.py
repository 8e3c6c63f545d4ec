"""A search's mode follows what is optimised: accuracy up, a loss (generation's val_metric) down."""

from __future__ import annotations

import pytest

from promptyard.core.template import Template
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.spec import TrainSpec

PROMPT = Template(kind="single", text="Q: {{ text }}\nA:")


@pytest.mark.parametrize("task, metric, mode, expected", [
    ("sentiment", "val_metric", "auto", "max"),  # classification: val_metric is accuracy
    ("generation", "val_metric", "auto", "min"),  # generation: val_metric is the validation loss
    ("summarization", "val_metric", "auto", "min"),
    ("sentiment", "val_loss", "auto", "min"),
    ("generation", "tokens_per_s", "auto", "max"),
    ("generation", "val_metric", "max", "max"),  # an explicit mode is kept
])
def test_auto_mode_follows_the_task_and_metric(tmp_path, task, metric, mode, expected):
    train = TrainSpec(model="tiny-causal", data=str(tmp_path / "unused.jsonl"), task=task, prompt=PROMPT)
    spec = SearchSpec(train_spec=train, space={"lr": {"uniform": [0.01, 0.02]}}, metric=metric, mode=mode)
    assert spec.mode == expected


def test_cli_default_mode_is_auto():
    import inspect

    from promptyard.cli.tune_search import search

    assert inspect.signature(search).parameters["mode"].default.default == "auto"


@pytest.mark.parametrize("space, expected", [
    ({"lr": {"loguniform": [1e-4, 1e-2]}, "r": {"choice": [4, 8]}, "dropout": {"uniform": [0.0, 0.2]}}, ["lr"]),
    ({"lr": {"loguniform": [1e-4, 1e-2]}, "weight_decay": {"uniform": [0.0, 0.1]}, "alpha": 16},
     ["lr", "weight_decay"]),
])
def test_pbt_perturbs_only_what_a_resumed_run_can_take(tmp_path, space, expected):
    from promptyard.tuning.search import pbt_mutations

    train = TrainSpec(model="tiny-causal", data=str(tmp_path / "unused.jsonl"), task="sentiment", prompt=PROMPT)
    spec = SearchSpec(train_spec=train, space=space, scheduler="pbt")
    assert sorted(pbt_mutations(spec, dict(space))) == expected
