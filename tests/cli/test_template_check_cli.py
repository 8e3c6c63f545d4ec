"""Template consistency through the real CLI: an adapter trained with prompt ``sent@1`` records its text format;
``eval run`` / ``predict`` with ``sent@2`` (or through the chat template it was not trained with) warn and mark the
cell, stored with the run; ``--strict-template`` refuses it, exits non-zero and writes nothing."""

from __future__ import annotations

import json

import pytest

from promptyard.testing import invoke
from tests.cli.adapter_fixtures import build, snapshot


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _shared_model_cache):
    return build(tmp_path_factory.mktemp("template"), _shared_model_cache, {"a-lora": {"prompt": "sent@1"}})


def cli(trained, *args):
    return invoke(["--registry", str(trained.registry), *args])


def eval_args(trained, prompt, *extra):
    return ["eval", "run", "--prompt", prompt, "--model", "tiny-causal", "--adapter", "a-lora@1", "--data",
            trained.data, "--sample", "4", *extra]


def test_training_records_the_prompt_version_and_chat_template_it_used(trained):
    from promptyard.registry.api import Registry

    with Registry.open(trained.registry) as reg:
        lineage = reg.resolve_adapter("a-lora@1").lineage
        v1 = reg.resolve("sent@1")
    assert lineage["text_format"] == {"prompt_hash": v1.content_hash, "prompt": "sent@1",
                                      "chat_template_hash": None}  # a single prompt: no chat template applied


@pytest.mark.parametrize("prompt, extra, status, problem", [
    ("sent@1", [], "match", None),
    ("sent@2", [], "mismatch", "trained with prompt sent@1 ("),
    ("sent@1", ["--chat"], "mismatch", "trained without a chat template, given text through chat template"),
], ids=["same prompt", "other prompt version", "chat template added"])
def test_eval_warns_and_marks_the_stored_cell(trained, prompt, extra, status, problem):
    result = cli(trained, *eval_args(trained, prompt, *extra, "--json"))
    assert result.exit_code == 0, result.stderr
    check = json.loads(result.stdout)["cells"][0]["lineage"]["template_check"]
    assert check["status"] == status
    warned = [line for line in result.stderr.splitlines() if "text format differs" in line]
    if problem is None:
        assert not warned and check["problems"] == []
    else:
        assert len(warned) == 1 and problem in warned[0] and problem in check["problems"][0]
    run_id = json.loads(result.stdout)["run_id"]
    stored = json.loads(cli(trained, "eval", "show", str(run_id), "--json").stdout)
    assert stored["cells"][0]["lineage"]["template_check"]["status"] == status
    shown = cli(trained, "eval", "show", str(run_id))
    assert ("MISMATCH" in shown.stdout) == (status == "mismatch")


def test_eval_table_marks_the_cell(trained):
    result = cli(trained, *eval_args(trained, "sent@2"))
    assert result.exit_code == 0, result.stderr
    assert "MISMATCH" in result.stdout and "template" in result.stdout


@pytest.mark.parametrize("args", [
    ["sent@2"],
    ["sent@1", "--chat"],
], ids=["other prompt version", "chat template added"])
def test_strict_template_refuses_exits_non_zero_and_writes_nothing(trained, args):
    before = snapshot(trained.registry)
    result = cli(trained, *eval_args(trained, args[0], *args[1:], "--strict-template"))
    assert result.exit_code != 0
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "text format differs from the adapter's training" in errors[0]
    assert snapshot(trained.registry) == before


def test_strict_template_passes_the_training_format(trained):
    result = cli(trained, *eval_args(trained, "sent@1", "--strict-template", "--json"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["cells"][0]["lineage"]["template_check"]["status"] == "match"


def test_predict_warns_marks_and_refuses_when_strict(trained):
    own = cli(trained, "predict", "--adapter", "a-lora@1", "--text", "the film was great", "--json")
    assert own.exit_code == 0, own.stderr
    assert "template_check" not in json.loads(own.stdout)[0] and "text format differs" not in own.stderr

    other = cli(trained, "predict", "--adapter", "a-lora@1", "--prompt", "sent@2", "--text", "the film was great",
                "--json")
    assert other.exit_code == 0, other.stderr
    row = json.loads(other.stdout)[0]
    assert row["template_check"]["status"] == "mismatch" and row["prediction"] in ("positive", "negative")
    assert "text format differs" in other.stderr

    before = snapshot(trained.registry)
    strict = cli(trained, "predict", "--adapter", "a-lora@1", "--prompt", "sent@2", "--text", "x",
                 "--strict-template")
    assert strict.exit_code != 0 and not strict.stdout.strip()
    errors = [line for line in strict.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "trained with prompt sent@1" in errors[0]
    assert snapshot(trained.registry) == before


def test_a_suite_file_can_ask_for_strict_templates(trained, tmp_path):
    suite = tmp_path / "suite.yaml"
    body = (f"data: [{{ref: {trained.data}, sample: 4}}]\nprompts: [sent@1, sent@2]\n"
            "models: [{model: tiny-causal, adapters: [a-lora@1]}]\n")
    before = snapshot(trained.registry)
    suite.write_text(body + "strict_template: true\n")
    refused = cli(trained, "eval", "run", str(suite))
    assert refused.exit_code != 0 and "given prompt sent@2" in refused.stderr
    suite.write_text(body + "strict_template: yes please\n")
    bad = cli(trained, "eval", "run", str(suite))
    assert bad.exit_code != 0 and "strict_template: expected true or false" in bad.stderr
    assert snapshot(trained.registry) == before
    suite.write_text(body)  # without it: both cells run, the second is marked
    ran = cli(trained, "eval", "run", str(suite), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert [c["lineage"]["template_check"]["status"] for c in json.loads(ran.stdout)["cells"]] == [
        "match", "mismatch"]
