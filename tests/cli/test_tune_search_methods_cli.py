"""`tune search` across methods at the CLI edge: a method choice, two objectives and `--extend`, in this
process with `--json`; bad input is one clear line and writes nothing."""

from __future__ import annotations

import json

import pytest

from promptyard.testing import invoke
from tests.tuning.toydata import write_toy_sentiment

PROMPT = {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}
LOOP = ["max_steps=4", "eval_every=2", "epochs=20", "patience=0", "batch_size=4", "train_sample=16",
        "val_sample=8"]
SPACE = """\
lr: {loguniform: [1.0e-2, 1.0e-1]}
method:
  choice:
    lora: {r: {choice: [2, 4]}}
    ia3: {}
    prompt_tuning: {num_virtual_tokens: {choice: [2, 4]}}
"""
BASE = ["tune", "search", "--prompt", "sent@1", "--model", "tiny-causal", "--data", "toy.jsonl"]


@pytest.fixture
def project(tmp_path):
    from promptyard.registry.api import Registry

    reg = Registry.open(create=True)
    reg.commit("sent", PROMPT, message="v1", task_type="sentiment")
    reg.close()
    write_toy_sentiment(tmp_path / "toy.jsonl", n=60)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def _searches():
    listing = invoke(["tune", "searches", "--json"])
    assert listing.exit_code == 0, listing.output
    return json.loads(listing.stdout)


@pytest.mark.parametrize(("space", "extra", "needle"), [
    (SPACE.replace("ia3: {}", "nosuch: {}"), [], "space.yaml line 5, key 'method.choice.nosuch'"),
    (SPACE, ["--objective", "accuracy", "--objective", "-gpu_hours"], "objective 'gpu_hours' is not reported"),
    (SPACE, ["--method", "lora"], "--method cannot also set it"),
    (SPACE, ["--objective", "accuracy", "--metric", "val_loss"], "--objective replaces --metric"),
    (SPACE, ["--scheduler", "pbt"], "cannot search a method choice"),
    (SPACE.replace("ia3: {}", "ia3: {r: 4}"), [], "method 'ia3' of the search space cannot run"),
    (SPACE, ["--no-ray", "--ray-address", "auto"], "exclude each other"),
])
def test_bad_search_across_methods_is_one_line_and_writes_nothing(project, space, extra, needle):
    (project / "space.yaml").write_text(space)
    result = invoke([*BASE, "--space", "space.yaml", "--set", LOOP[0], *extra])
    assert result.exit_code != 0
    assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    assert not (project / "work" / "tune").exists()
    assert _searches() == []


def test_bad_extend_is_one_line_and_changes_nothing(project):
    from promptyard.registry.api import Registry
    from promptyard.registry.search_records import get_search, start_search

    reg = Registry.open()
    start_search(reg, "s-running", method="lora", adapter_name="a", scheduler="asha", search_alg="random",
                 metric="val_metric", mode="max", trials=2, spec={}, storage_path="")
    before = get_search(reg, "s-running")
    for args, needle in [
        (["--extend", "s-nope", "--no-ray"], "no search 's-nope'"),
        (["--extend", "s-running", "--no-ray"], "search 's-running' is running, not finished"),
        (["--extend", "s-running", "--prompt", "sent@1"], "--prompt cannot change a search being extended"),
        (["--extend", "s-running", "--trials", "0"], "--trials"),
        (["--extend", "../up", "--no-ray"], "invalid search id"),
        ([], "missing option --prompt, --model, --data"),
    ]:
        result = invoke(["tune", "search", *args])
        assert result.exit_code != 0 and needle in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert get_search(reg, "s-running") == before
    assert not (project / "work" / "tune").exists()


@pytest.mark.slow
def test_search_across_methods_then_extend_in_process_with_json(project):
    sets = [arg for s in LOOP for arg in ("--set", s)]
    first = invoke([*BASE, "--space", "space.yaml", *sets, "--trials", "3", "--seed", "1", "--no-ray",
                    "--objective", "accuracy", "--objective", "-trainable_params", "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert len(out["trials"]) == 3 and out["adapter"].startswith("sent-methods-search@")
    assert [o["name"] for o in out["objectives"]] == ["val_metric", "trainable_params"]
    assert out["pareto"] and set(out["pareto"]) <= {t["trial_id"] for t in out["trials"]}
    assert set(out["best_per_method"]) == {t["params"]["method"] for t in out["trials"]}

    more = invoke(["tune", "search", "--extend", out["search_id"], "--trials", "1", "--no-ray"])
    assert more.exit_code == 0, more.output
    assert "Pareto front (accuracy, -trainable_params)" in more.stdout and "front" in more.stdout
    assert "best per method" in more.stdout or len(out["best_per_method"]) == 1
    shown = invoke(["tune", "searches", out["search_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["status"] == "finished" and record["trials_requested"] == 4 and len(record["trials"]) == 4
    before = {t["trial_id"]: t["params"] for t in out["trials"]}
    assert {t["trial_id"]: t["params"] for t in record["trials"] if t["trial_id"] in before} == before
    (ext,) = record["summary"]["extensions"]
    assert len(ext["trial_ids"]) == 1 and ext["trial_ids"][0] not in before
    assert set(record["summary"]["pareto"]) <= {t["trial_id"] for t in record["trials"]}
    text = invoke(["tune", "searches", out["search_id"]])
    assert text.exit_code == 0 and "front" in text.stdout
