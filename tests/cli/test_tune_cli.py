"""``tune run`` -> ``adapter`` commands -> ``predict`` -> ``doctor``, and bad input that writes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptyard import hookimpl
from promptyard.testing import invoke, plugin_registered
from tests.cli.helpers import FAST
from tests.tuning.toydata import write_toy_sentiment


@pytest.fixture
def prompt_ref(tmp_path):
    assert invoke(["init"]).exit_code == 0
    (tmp_path / "s.txt").write_text("Review: {{ text }}\nSentiment:")
    result = invoke(["prompt", "add", "sent", str(tmp_path / "s.txt"), "--task-type", "sentiment"])
    assert result.exit_code == 0, result.stderr
    return "sent"


def tune(data: str, *extra: str) -> dict:
    result = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data,
                     "--method", "lora", "--set", "lr=2e-2", *FAST, "--json", *extra])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_tune_label_rollback_export_predict_doctor(tmp_path, prompt_ref):
    data = write_toy_sentiment(tmp_path / "toy.jsonl")
    first = tune(data, "--label", "production")
    assert first["version"] == "sent-lora@1"
    second = tune(data, "--seed", "1")
    assert second["version"] == "sent-lora@2"

    shown = json.loads(invoke(["adapter", "show", "sent-lora@1", "--json"]).stdout)
    lineage = shown["lineage"]
    assert lineage["base_model"]["ref"] == "tiny-causal" and len(lineage["base_model"]["hash"]) == 64
    assert lineage["prompt"]["resolved"] == "sent@1" and lineage["task"]["name"] == "sentiment"
    assert lineage["data"]["fingerprint"] and lineage["method"]["config"]["r"] == 8
    assert lineage["hyperparameters"]["lr"] == 2e-2 and lineage["seed"] == 0
    assert {"torch", "transformers", "peft", "promptyard"} <= set(lineage["packages"])
    assert lineage["training_time_s"] > 0 and "val_metric" in lineage["metrics"]

    assert invoke(["adapter", "label", "sent-lora@2", "production", "--force"]).exit_code == 0
    listed = json.loads(invoke(["adapter", "list", "--json"]).stdout)
    assert listed[0]["labels"] == {"production": 2}
    back = invoke(["adapter", "rollback", "sent-lora"])
    assert back.exit_code == 0 and "2 -> 1" in back.stdout
    events = json.loads(invoke(["adapter", "log", "sent-lora", "--json"]).stdout)
    assert [e["type"] for e in events].count("label") == 3
    diff = json.loads(invoke(["adapter", "diff", "sent-lora@1", "sent-lora@2", "--json"]).stdout)
    assert diff["changes"]["seed"] == {"a": 0, "b": 1} and not diff["same_weights"]

    out = tmp_path / "exported"
    assert invoke(["adapter", "export", "sent-lora@production", str(out)]).exit_code == 0
    from peft import PeftModel

    from promptyard.core.lookups import load_model

    peft_model = PeftModel.from_pretrained(load_model("tiny-causal").model, str(out))
    assert "default" in peft_model.peft_config

    predicted = invoke(["predict", "--adapter", "sent-lora@production", "--text", "the film was great", "--json"])
    assert predicted.exit_code == 0, predicted.stderr
    row = json.loads(predicted.stdout)[0]
    assert row["prediction"] in ("positive", "negative")
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)

    doctor = invoke(["doctor", "--json"])
    assert doctor.exit_code == 0 and not any(json.loads(doctor.stdout).values())

    # tamper with a stored weight file: loading refuses it, doctor reports it
    stored = Path(shown["path"]) / "adapter_model.safetensors"
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-4] + b"\0\0\0\0")
    refused = invoke(["predict", "--adapter", "sent-lora@1", "--text", "x"])
    assert refused.exit_code == 1 and "does not match" in refused.stderr and "Traceback" not in refused.stderr
    assert invoke(["doctor"]).exit_code == 1


class OnlyGeneration:
    """A test plugin: a tuning method that supports only the generation task."""

    @hookimpl
    def register_tuning_methods(self, register):
        @dataclass
        class Settings:
            pass

        class Method:
            name = "gen_only"
            description = "test method"
            config_class = Settings
            model_kinds = ("causal",)
            supported_tasks = ("generation",)

            def default_search_space(self):
                return {}

            def wrap(self, model, config, **context):
                return model

        register(Method())


BAD = [
    (["--method", "nosuch"], "unknown tuning method 'nosuch'"),
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["--data", "nowhere"], "unknown data set 'nowhere'"),
    (["--set", "r=0"], "invalid value 0 for 'r'"),
    (["--set", "r=abc"], "invalid value 'abc' for 'r'"),
    (["--set", "lr=-1"], "invalid value -1.0 for 'lr'"),
    (["--set", "dropout=1.5"], "invalid value 1.5 for 'dropout'"),
    (["--set", "colour=red"], "unknown setting 'colour'"),
    (["--set", "novalue"], "--set expects key=value"),
    (["--method", "prefix_tuning", "--model", "tiny-encoder"], "does not support encoder models"),
    (["--model", "tiny-encoder", "--task", "generation"], "can only be tuned for classification"),
    (["--method", "gen_only"], "does not support task 'sentiment'"),
    (["--prompt", "missing-prompt"], "missing-prompt"),
    (["--name", "Bad Name!"], "name"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, prompt_ref, args, message):
    data = write_toy_sentiment(tmp_path / "toy.jsonl", n=40)
    options = {"--prompt": "sent", "--model": "tiny-causal", "--data": data, "--method": "lora"}
    sets = []
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--set":
            sets += [flag, value]
        else:
            options[flag] = value
    argv = ["tune", "run", *[x for pair in options.items() for x in pair], *sets]
    db = tmp_path / ".promptyard" / "registry.db"
    before = db.read_bytes()
    with plugin_registered(OnlyGeneration(), name="only-generation"):
        result = invoke(argv)
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before
    assert not (tmp_path / ".promptyard" / "artifacts").exists() or not any(
        (tmp_path / ".promptyard" / "artifacts").rglob("*.safetensors"))
    assert not (tmp_path / "work" / "runs").exists()


def test_tune_run_resume_continues_an_interrupted_run(tmp_path, prompt_ref):
    from promptyard.tuning.loop import train
    from promptyard.tuning.spec import TrainSpec

    data = write_toy_sentiment(tmp_path / "toy.jsonl")
    missing = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data,
                      "--resume", str(tmp_path / "nothing-here")])
    assert missing.exit_code != 0 and "no resume state in" in missing.stderr and "Traceback" not in missing.output

    # the run `tune run` starts for these options, cut after its 2nd evaluation (end of epoch 1)
    spec = TrainSpec(model="tiny-causal", data=data, method="lora", prompt="sent", quiet=True,
                     config={"lr": "2e-2", "train_sample": "32", "val_sample": "16", "eval_every": "0",
                             "batch_size": "8", "epochs": 2})
    seen = []

    def crash(metrics):
        seen.append(metrics["step"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, report=crash, checkpoint_dir=tmp_path / "cut")
    result = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data, "--method", "lora",
                     "--set", "lr=2e-2", *FAST, "--json", "--no-register", "--resume", str(tmp_path / "cut")])
    assert result.exit_code == 0, result.stderr
    assert "resuming from step 4" in result.stderr
    out = json.loads(result.stdout)
    assert out["run_dir"] == str((tmp_path / "cut").resolve())
    assert out["metrics"]["steps"] == 8 and out["metrics"]["epochs_run"] == 2
    history = json.loads((tmp_path / "cut" / "resume" / "state.json").read_text())["loop"]["history"]
    assert [h["step"] for h in history] == [0, 4, 8]
