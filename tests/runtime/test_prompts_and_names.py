"""One rule for prompt references, adapter names and package versions, in training and evals alike."""

from __future__ import annotations

import json

import pytest

from promptyard.core.template import Template
from promptyard.runtime.adapter_loading import default_adapter_name
from promptyard.runtime.lineage import package_versions
from promptyard.runtime.prompts import resolve_prompt
from promptyard.tuning.plan import plan_run
from promptyard.tuning.spec import TrainSpec, parse_sets


@pytest.mark.parametrize("name", ["p.jinja2", "p.J2", "p.TXT"])
def test_every_template_suffix_in_any_case_is_a_file_for_training_and_evals(tmp_path, name):
    from promptyard.evals.cells import prepare_cell
    from promptyard.evals.suite import CellSpec

    path = tmp_path / name
    path.write_text("Review: {{ text }}\nSentiment:")
    resolved = resolve_prompt(str(path))
    assert resolved.template.text == "Review: {{ text }}\nSentiment:" and resolved.resolved == str(path.resolve())
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"text": "fine", "label": "positive"}) + "\n")
    plan = plan_run(TrainSpec(model="tiny-causal", data=str(data), prompt=str(path), task="sentiment"))
    assert plan.prompt == resolved.identity()
    cell = prepare_cell(CellSpec(prompt=str(path), model="tiny-causal", data=str(data), split="all"))
    assert cell.texts == ["Review: fine\nSentiment:"]


def test_a_search_variant_file_and_a_registry_reference_resolve_alike_for_both_wings(tmp_path):
    from promptyard.registry.api import Registry

    variant = tmp_path / "variant.json"
    template = Template(kind="single", text="Text: {{ text }}\nLabel:")
    variant.write_text(json.dumps({"template": template.to_dict(), "task_type": "sentiment"}))
    resolved = resolve_prompt(str(variant))
    assert (resolved.content_hash, resolved.task_type) == (template.content_hash(), "sentiment")
    with Registry.open(create=True) as registry:
        registry.commit("sent", template, message="v1", task_type="sentiment")
        by_ref = resolve_prompt("sent@latest", registry)
    assert by_ref.resolved == "sent@1" and by_ref.task_type == "sentiment"
    assert resolve_prompt("sent@latest").identity() == {"ref": "sent@latest", "resolved": "sent@1",
                                                          "hash": template.content_hash()}


@pytest.mark.parametrize(("prompt", "method", "searched", "name"), [
    ("team/sentiment@3", "lora", False, "team/sentiment-lora"),
    ("team/sentiment@3", "lora", True, "team/sentiment-lora-search"),
    ("sentiment@production", "prompt_tuning", True, "sentiment-prompt-tuning-search"),
    ("prompt.yaml", "lora", False, "adapter-lora"),
    ("/abs/path/prompt.yaml", "ia3", True, "adapter-ia3-search"),
    (None, "full", False, "adapter-full"),
])
def test_tune_run_and_tune_search_name_adapters_by_one_scheme(prompt, method, searched, name):
    from promptyard.core.refs import check_name

    assert default_adapter_name(prompt, method, searched=searched) == name
    check_name(name)  # a valid registry name


def test_set_values_stay_text_and_a_pair_without_equals_is_a_usage_error():
    from promptyard.core.errors import UsageError

    assert parse_sets(["lr=3e-4", " r = 8", "target_modules=q_proj,v_proj"]) == {
        "lr": "3e-4", "r": "8", "target_modules": "q_proj,v_proj"}
    with pytest.raises(UsageError, match="--set expects key=value") as caught:
        parse_sets(["novalue"])
    assert caught.value.where == "--set"


def test_adapters_and_eval_cells_record_one_set_of_package_versions():
    versions = package_versions()
    assert {"python", "promptyard", "torch", "transformers", "peft", "accelerate", "evaluate", "numpy"} <= set(
        versions)
    versions["torch"] = "changed"  # a copy: callers cannot change what the next run records
    assert package_versions()["torch"] != "changed"
