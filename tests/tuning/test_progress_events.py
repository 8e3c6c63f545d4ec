"""The loop and a search report progress as core.events tasks (the CLI draws them; library code never prints)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from promptyard.core import events
from promptyard.core.template import Template
from promptyard.tuning.loop import train
from promptyard.tuning.spec import TrainSpec
from tests.tuning.toydata import write_toy_sentiment


def test_training_is_one_task_that_reaches_its_total_with_loss_and_speed(tmp_path, capfd, caplog):
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=40)
    spec = TrainSpec(model="tiny-causal", data=data, method="lora", task="sentiment", seed=1,
                     prompt=Template(kind="single", text="Review: {{ text }}\nSentiment:"),
                     config={"max_steps": 3, "eval_every": 0, "batch_size": 8, "train_sample": 24, "val_sample": 8})
    seen: list[events.ProgressEvent] = []
    with caplog.at_level(logging.INFO, logger="promptyard"), events.listening(seen.append):
        result = train(spec, checkpoint_dir=tmp_path / "run")
    training = [e for e in seen if e.description == "training"]
    assert training[0].total == 3 and training[0].completed == 0
    assert training[-1].done and training[-1].completed == result.metrics["steps"] == 3
    assert {"loss", "tok/s"} <= set(training[-1].fields) and training[-1].fields["loss"] > 0
    assert capfd.readouterr() == ("", "")  # nothing printed: only events and log records

    # a second call on the same run dir resumes: said through logging, not on stderr
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="promptyard"):
        train(spec, checkpoint_dir=tmp_path / "run")
    assert any(m.startswith("resuming from step 3") for m in caplog.messages)
    assert capfd.readouterr() == ("", "")


def test_the_search_callback_reports_counts_and_best_and_pickles_without_its_task():
    # no Ray cluster is needed: only Tune's Callback base class and the pickler Tune saves callbacks with
    from ray import cloudpickle

    from promptyard.tuning.search_results import progress_callback

    callback = progress_callback(2, "val_metric", "max")
    seen: list[events.ProgressEvent] = []
    a, b = SimpleNamespace(trial_id="a"), SimpleNamespace(trial_id="b")
    with events.listening(seen.append):
        callback.on_trial_start(0, [], a)
        callback.on_trial_start(0, [], b)
        callback.on_trial_result(0, [], a, {"val_metric": 0.5})
        callback.on_trial_result(0, [], b, {"val_metric": 0.75})
        callback.on_trial_complete(0, [], a)
        callback.on_trial_error(0, [], b)
        # Tune pickles its callbacks with the experiment state: the live task stays behind
        copy = cloudpickle.loads(cloudpickle.dumps(callback))
        callback.on_experiment_end([])
    assert copy.task is None and copy.done == {"a"} and copy.best == 0.75
    last = seen[-1]
    assert last.done and last.description == "search" and (last.completed, last.total) == (2, 2)
    assert last.fields == {"running": 0, "terminated": 1, "errored": 1, "best val_metric": "0.75"}
