"""Task mixes: one adapter tuned on several (prompt, data, task) triples with weights, on the tiny models.

The mix file's errors name file, line and key and write nothing; the metric is reported per task and as the
weighted mean (which picks the best step); lineage lists every prompt version and data fingerprint; the
adapter evaluates on each task like any other; a search takes the same mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptyard.testing import invoke
from promptyard.tuning.batching import mixed_batches, share_by_weight
from tests.tuning.toydata import write_toy_sentiment, write_toy_topic

FAST = ["--set", "train_sample=32", "--set", "val_sample=16", "--set", "eval_every=0", "--set", "batch_size=8",
        "--set", "lr=2e-2", "--epochs", "2"]
MIX = """\
model: tiny-causal
tasks:
  - name: sent
    prompt: sent@1
    data: sent.jsonl
    weight: 2
  - name: topic
    prompt: prompts/topic.txt
    data: topic.jsonl
    task: classification
"""


@pytest.fixture
def mix_file(tmp_path):
    """Two toy tasks: sentiment through a registry prompt, topic through a template file next to the mix."""
    assert invoke(["init"]).exit_code == 0
    (tmp_path / "s.txt").write_text("Review: {{ text }}\nSentiment:")
    added = invoke(["prompt", "add", "sent", str(tmp_path / "s.txt"), "--task-type", "sentiment"])
    assert added.exit_code == 0, added.stderr
    folder = tmp_path / "mixes"
    (folder / "prompts").mkdir(parents=True)
    (folder / "prompts" / "topic.txt").write_text("News: {{ text }}\nTopic:")
    write_toy_sentiment(folder / "sent.jsonl", n=120)
    write_toy_topic(folder / "topic.jsonl", n=120)
    path = folder / "mix.yaml"
    path.write_text(MIX)
    return path


# (what to write in place of the mix, the expected place, the expected message)
BAD_MIXES = [
    (MIX + "epochs: 3\n", "mix.yaml line 11, key 'epochs'", "unknown key 'epochs'"),
    (MIX.replace("    data: topic.jsonl\n", ""), "mix.yaml line 7, key 'tasks[1]'", "missing key 'data'"),
    (MIX.replace("weight: 2", "weight: -1"), "mix.yaml line 6, key 'tasks[0].weight'", "expected a number > 0"),
    (MIX.replace("weight: 2", "wieght: 2"), "mix.yaml line 6, key 'tasks[0].wieght'", "unknown key 'wieght'"),
    (MIX.replace("name: topic", "name: sent"), "mix.yaml line 7, key 'tasks[1].name'", "two tasks are named"),
    (MIX.replace("task: classification", "task: sentimint"), "mix.yaml line 10, key 'tasks[1].task'",
     "sentimint"),
    (MIX.replace("prompt: sent@1", "prompt: nosuch@1"), "mix.yaml line 4, key 'tasks[0].prompt'", "nosuch"),
    (MIX.replace("data: sent.jsonl", "data: nosuch_set"), "mix.yaml line 5, key 'tasks[0].data'",
     "unknown data set 'nosuch_set'"),
    ("model: tiny-causal\ntasks: []\n", "mix.yaml line 2, key 'tasks'", "expected a non-empty list"),
    ("model: tiny-causal\n", "mix.yaml", "missing key 'tasks'"),
    ("a: &x 1\nb: *x\n", "mix.yaml line 2", "YAML aliases"),
    (MIX.replace("task: classification", "task: generation"), "mix.yaml line 2, key 'tasks'",
     "cannot be averaged"),
    (MIX.replace("model: tiny-causal", "model: tiny-encoder").replace("task: classification", "task: generation"),
     "mix.yaml line 10, key 'tasks[1].task'", "need different model kinds"),
    # an encoder has one head: two label sets cannot share it (found from the data, before the model loads)
    (MIX.replace("model: tiny-causal", "model: tiny-encoder"), "tiny-encoder", "need different model kinds"),
]


@pytest.mark.parametrize("text, where, message", BAD_MIXES, ids=[m for _, _, m in BAD_MIXES])
def test_bad_mix_is_one_line_naming_file_line_and_key_and_writes_nothing(tmp_path, mix_file, text, where,
                                                                         message):
    mix_file.write_text(text)
    db = tmp_path / ".promptyard" / "registry.db"
    before = db.read_bytes()
    result = invoke(["tune", "run", "--mix", str(mix_file)])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert where in lines[0] and message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert db.read_bytes() == before
    assert not (tmp_path / "work" / "runs").exists()


@pytest.mark.parametrize("extra, message", [
    (["--data", "x.jsonl"], "--data cannot be combined with --mix"),
    (["--text-column", "body"], "--text-column cannot be combined with --mix"),
])
def test_single_task_options_are_refused_with_a_mix(tmp_path, mix_file, extra, message):
    result = invoke(["tune", "run", "--mix", str(mix_file), *extra])
    assert result.exit_code != 0 and message in result.stderr and "Traceback" not in result.output


def test_a_mix_without_a_model_names_the_file(tmp_path, mix_file):
    mix_file.write_text(MIX.replace("model: tiny-causal\n", ""))
    result = invoke(["tune", "run", "--mix", str(mix_file)])
    assert result.exit_code != 0 and "no model to tune" in result.stderr and "mix.yaml" in result.stderr


def test_batches_are_mixed_by_weight_one_task_per_batch():
    lengths = [5] * 40 + [9] * 20  # task 0: rows 0-39, task 1: rows 40-59
    spans = [range(0, 40), range(40, 60)]
    batches = mixed_batches(lengths, spans, [1.0, 3.0], 4, seed=7)
    assert len(batches) == 15  # as many batches as the tasks' rows make (10 + 5), shared 1:3
    owners = [0 if all(i < 40 for i in b) else 1 if all(i >= 40 for i in b) else None for b in batches]
    assert None not in owners  # a batch never mixes tasks
    assert owners.count(0) == 4 and owners.count(1) == 11
    assert len({i for b, o in zip(batches, owners, strict=True) if o == 1 for i in b}) == 20  # goes round again
    assert mixed_batches(lengths, spans, [1.0, 3.0], 4, seed=7) == batches
    other = mixed_batches(lengths, spans, [1.0, 3.0], 4, seed=8)
    assert len(other) == len(batches) and other != batches
    assert share_by_weight(10, [1, 1, 1]) == [4, 3, 3] and share_by_weight(3, [100, 1]) == [3, 1]


def test_mix_trains_one_adapter_with_per_task_metrics_lineage_and_evals(tmp_path, mix_file):
    result = invoke(["tune", "run", "--mix", str(mix_file), "--method", "lora", *FAST, "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["version"] == "mix-lora@1"  # named after the mix file
    metrics = out["metrics"]
    tasks = metrics["tasks"]
    assert set(tasks) == {"sent", "topic"} and tasks["sent"]["weight"] == 2.0
    # the headline metric is the weighted mean of the tasks' at the best step
    assert metrics["val_metric"] == pytest.approx((2 * tasks["sent"]["val_metric"] + tasks["topic"]["val_metric"]) / 3)

    shown = json.loads(invoke(["adapter", "show", "mix-lora@1", "--json"]).stdout)
    lineage = shown["lineage"]
    assert lineage["metrics"]["tasks"] == tasks  # per-task metrics are stored with the version
    listed = {t["name"]: t for t in lineage["mix"]["tasks"]}
    assert listed["sent"]["prompt"]["resolved"] == "sent@1" and len(listed["sent"]["prompt"]["hash"]) == 64
    assert listed["topic"]["prompt"]["resolved"] == str((mix_file.parent / "prompts" / "topic.txt").resolve())
    assert listed["sent"]["data"]["ref"] == str(mix_file.parent / "sent.jsonl")
    for entry in listed.values():
        assert len(entry["data"]["fingerprint"]) == 64 and entry["data"]["train_fingerprint"]
    assert listed["topic"]["labels"] == ["money", "music", "sport"] and listed["sent"]["task"] == "sentiment"
    assert lineage["mix"]["source"] == str(mix_file) and "prompt" not in lineage

    text = invoke(["adapter", "show", "mix-lora@1"]).stdout
    assert "task sent (sentiment, weight 2.0): prompt sent@1" in text and "task topic (classification" in text

    # the run's history: every evaluation has both tasks and their weighted mean, which picks the best step
    run_dir = Path(out["run_dir"])
    history = json.loads((run_dir / "resume" / "state.json").read_text())["loop"]["history"]
    for h in history:
        assert h["val_metric"] == pytest.approx((2 * h["val_metric/sent"] + h["val_metric/topic"]) / 3)
    best = max(history, key=lambda h: h["val_metric"])
    assert metrics["best_step"] == best["step"]

    # `eval run` of the adapter on each task, as usual
    for prompt, data in (("sent@1", "sent.jsonl"), (str(mix_file.parent / "prompts" / "topic.txt"), "topic.jsonl")):
        ran = invoke(["eval", "run", "--prompt", prompt, "--model", "tiny-causal", "--adapter", "mix-lora@1",
                      "--data", str(mix_file.parent / data), "--sample", "8", "--json"]
                     + (["--task", "classification"] if data == "topic.jsonl" else []))
        assert ran.exit_code == 0, ran.stderr
        cell = json.loads(ran.stdout)["cells"][0]
        accuracy = next(m for m in cell["metrics"] if m["name"] == "accuracy")
        assert 0 <= accuracy["value"] <= 1 and cell["n_examples"] == 8
        assert cell["lineage"]["adapter"]["ref"] == "mix-lora@1"
        # each task's own prompt is a text the adapter was trained on: no template warning
        assert cell["lineage"]["template_check"]["status"] == "match"


def test_mix_in_the_python_api_trains_and_resumes_like_one_run(tmp_path, mix_file):
    from promptyard.tuning.loop import train
    from promptyard.tuning.spec import TrainSpec
    from promptyard.tuning.task_mix import load_task_mix

    config = {"train_sample": 24, "val_sample": 8, "eval_every": 0, "batch_size": 8, "lr": 2e-2, "epochs": 2,
              "patience": 0}
    spec = TrainSpec(model="tiny-causal", mix=load_task_mix(mix_file), config=config, registry=str(
        tmp_path / ".promptyard" / "registry.db"))
    whole = train(spec, checkpoint_dir=tmp_path / "whole")
    seen = []

    def crash(metrics):
        seen.append(metrics["step"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, report=crash, checkpoint_dir=tmp_path / "cut")
    resumed = train(spec, checkpoint_dir=tmp_path / "cut")
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]
    for key in ("val_metric", "val_metric/sent", "val_metric/topic", "val_loss/topic"):
        assert [h[key] for h in resumed.history] == pytest.approx([h[key] for h in whole.history], abs=1e-6)


def test_search_with_a_mix_searches_the_weighted_mean_and_records_every_task(tmp_path, mix_file):
    from promptyard.registry.api import Registry
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.search_local import run_search_local
    from promptyard.tuning.space import validate_space
    from promptyard.tuning.spec import TrainSpec
    from promptyard.tuning.task_mix import load_task_mix

    reg = Registry.open(tmp_path / ".promptyard" / "registry.db")
    config = {"train_sample": 24, "val_sample": 8, "eval_every": 3, "max_steps": 6, "epochs": 5, "batch_size": 4,
              "patience": 0}
    train_spec = TrainSpec(model="tiny-causal", mix=load_task_mix(mix_file), config=config, registry=str(reg.path))
    spec = SearchSpec(train_spec=train_spec, space=validate_space({"lr": {"loguniform": [1e-3, 5e-2]}}),
                      trials=2, scheduler="fifo", seed=1)
    assert spec.mode == "max"  # classification tasks: the weighted mean accuracy is maximised
    result = run_search_local(spec, registry=reg)
    assert all(t.status == "completed" for t in result.trials)
    for trial in result.trials:
        for h in trial.history:
            assert h["val_metric"] == pytest.approx((2 * h["val_metric/sent"] + h["val_metric/topic"]) / 3)
    version = reg.resolve_adapter("mix-lora-search@1")
    lineage = version.lineage
    assert lineage["search"]["id"] == spec.search_id
    assert {t["name"] for t in lineage["mix"]["tasks"]} == {"sent", "topic"}
    assert lineage["mix"]["source"] == str(mix_file)
    assert set(lineage["metrics"]["tasks"]) == {"sent", "topic"}
    assert lineage["metrics"]["val_metric"] == result.best.best_metric
    reg.close()


@pytest.mark.ray
@pytest.mark.slow
def test_tune_search_on_ray_takes_the_same_mix(tmp_path, mix_file, local_ray):
    (tmp_path / "space.yaml").write_text("lr: {loguniform: [1.0e-3, 5.0e-2]}\n")
    result = invoke(["tune", "search", "--mix", str(mix_file), "--space", str(tmp_path / "space.yaml"),
                     "--trials", "2", "--scheduler", "fifo", "--set", "train_sample=24", "--set", "val_sample=8",
                     "--set", "eval_every=3", "--set", "max_steps=6", "--set", "batch_size=4", "--set",
                     "patience=0", "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["adapter"] == "mix-lora-search@1"
    assert all(t["status"] == "completed" for t in out["trials"])
    assert all("val_metric/sent" in h and "val_metric/topic" in h for t in out["trials"] for h in t["history"])
    shown = json.loads(invoke(["adapter", "show", out["adapter"], "--json"]).stdout)
    assert set(shown["lineage"]["metrics"]["tasks"]) == {"sent", "topic"}


def test_the_documented_mix_file_is_a_valid_mix(tmp_path):
    from promptyard.tuning.task_mix import check_task_mix, load_task_mix

    page = (Path(__file__).resolve().parents[2] / "docs" / "tuning.md").read_text()
    section = page[page.index("## Task mixes"):]
    text = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml\n") + 8)]
    (tmp_path / "mix.yaml").write_text(text)
    tasks = check_task_mix(load_task_mix(tmp_path / "mix.yaml"))
    assert [(t.name, t.data, t.weight) for t in tasks] == [("sentiment", "rotten_tomatoes", 2.0),
                                                          ("topic", "bbc_news", 1.0)]
    assert tasks[1].train_sample == 200
