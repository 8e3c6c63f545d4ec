"""``tune run --method peft:<type>`` through the real CLI: settings checked against peft's config types before
anything is written, `tune methods` listing every type with its settings, and `eval run` of such an adapter."""

from __future__ import annotations

import json

import pytest

from promptyard.testing import invoke
from tests.cli.helpers import FAST
from tests.tuning.toydata import write_toy_sentiment


@pytest.fixture
def prompt_ref(tmp_path):
    assert invoke(["init"]).exit_code == 0
    (tmp_path / "s.txt").write_text("Review: {{ text }}\nSentiment:")
    result = invoke(["prompt", "add", "sent", str(tmp_path / "s.txt"), "--task-type", "sentiment"])
    assert result.exit_code == 0, result.stderr
    return "sent"


def test_tune_run_peft_loha_registers_and_eval_run_uses_it(tmp_path, prompt_ref):
    data = write_toy_sentiment(tmp_path / "toy.jsonl")
    result = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data,
                     "--method", "peft:loha", "--set", "r=8", "--set", "alpha=16", "--set", "lr=2e-2",
                     "--set", "target_modules=q_proj,v_proj", *FAST, "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["version"] == "sent-peft-loha@1"
    shown = json.loads(invoke(["adapter", "show", out["version"], "--json"]).stdout)
    config = shown["lineage"]["method"]["config"]
    assert shown["lineage"]["method"]["name"] == "peft:loha"
    assert config["r"] == 8 and config["alpha"] == 16 and config["target_modules"] == ["q_proj", "v_proj"]
    evaluated = invoke(["eval", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data,
                        "--adapter", out["version"], "--split", "validation", "--sample", "8", "--json"])
    assert evaluated.exit_code == 0, evaluated.stderr
    cells = json.loads(evaluated.stdout)
    assert "accuracy" in json.dumps(cells) and out["version"] in json.dumps(cells)


BAD = [
    (["--method", "peft:nosuch"], "has no tuning type 'nosuch'"),
    (["--method", "peft"], "names a family of tuning methods"),
    (["--method", "peft:loha", "--set", "rank=4"], "unknown setting 'rank'"),
    (["--method", "peft:loha", "--set", "r=four"], "invalid value 'four' for 'r' (allowed: int)"),
    (["--method", "peft:loha", "--set", "use_effective_conv2d=maybe"], "invalid value 'maybe'"),
    (["--method", "peft:lora", "--set", "bias=some"], "one of 'none', 'all', 'lora_only'"),
    (["--method", "peft:adalora"], "peft's AdaLoraConfig refuses"),
    (["--method", "peft:poly"], "does not support causal models"),
    (["--method", "lora", "--set", "init=loftq"], "invalid value 'loftq' for 'init'"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_peft_input_is_one_clear_line_and_writes_nothing(tmp_path, prompt_ref, args, message):
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=40)
    db = tmp_path / ".promptyard" / "registry.db"
    before = db.read_bytes()
    result = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data, *args])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before
    assert not (tmp_path / "work" / "runs").exists()


def test_unknown_setting_names_the_valid_fields_of_the_peft_config(tmp_path, prompt_ref):
    import dataclasses

    from peft import LoHaConfig

    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=40)
    result = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data,
                     "--method", "peft:loha", "--set", "rank=4"])
    for f in dataclasses.fields(LoHaConfig):
        if f.name not in ("peft_type", "task_type", "inference_mode", "revision", "base_model_name_or_path",
                          "auto_mapping", "peft_version"):
            assert f.name in result.stderr


def test_tune_methods_lists_builtins_and_every_peft_type_with_fields_defaults_help_and_reasons():
    from peft import LoHaConfig
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    result = invoke(["tune", "methods", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"lora", "prompt_tuning", "prefix_tuning", "p_tuning", "ia3", "full"} <= set(rows)
    assert len([n for n in rows if n.startswith("peft:")]) == len(PEFT_TYPE_TO_CONFIG_MAPPING)
    loha = {f["name"]: f for f in rows["peft:loha"]["settings"]}
    peft_help = {f.name: f.metadata["help"] for f in LoHaConfig.__dataclass_fields__.values() if "help" in f.metadata}
    assert loha["r"]["default"] == 8 and loha["r"]["type"] == "int"
    assert loha["alpha"]["help"] == " ".join(peft_help["alpha"].split())
    assert rows["peft:loha"]["model_kinds"] == ["causal", "encoder"] and rows["peft:loha"]["cannot_work"] == {}
    poly = rows["peft:poly"]
    assert poly["model_kinds"] == [] and "task_ids" in poly["cannot_work"]["causal"]
    assert rows["peft:cpt"]["model_kinds"] == ["causal"] and "CAUSAL_LM" in rows["peft:cpt"]["cannot_work"]["encoder"]
    assert rows["peft:prompt_tuning"]["tried_with"] == {"num_virtual_tokens": "8"}
    lora = {f["name"] for f in rows["lora"]["settings"]}
    assert {"use_dora", "use_rslora", "init"} <= lora
    shown = invoke(["tune", "methods", "--settings"])
    assert shown.exit_code == 0 and "peft:loha" in shown.stdout and "task_ids" in shown.stdout
