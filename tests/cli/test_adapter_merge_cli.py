"""``adapter export --merged`` and ``adapter merge`` through the real CLI, on tiny adapters trained for the module.

The merged export is loaded by plain transformers in a fresh process where peft cannot be imported, and gives
adapter-on-base's logits. A weighted merge is registered with both parents, and its weight update is the
weighted sum of theirs (checked tensor by tensor through the merged exports). Refusals: one error line,
nothing written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from promptyard.testing import invoke
from tests.cli.adapter_fixtures import TEXTS, build, snapshot
from tests.tuning.reload_logits import logits_of

ADAPTERS = {
    "a-lora": {"prompt": "sent@1", "r": 8},
    "b-lora": {"prompt": "sent@2", "r": 4, "seed": 1},
    "c-lora": {"prompt": "sent@1", "r": 4, "seed": 2},
    "soft": {"prompt": "sent@1", "method": "prompt_tuning", "lr": 0.3, "epochs": 1},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _shared_model_cache):
    return build(tmp_path_factory.mktemp("merge"), _shared_model_cache, ADAPTERS)


def cli(trained, *args):
    return invoke(["--registry", str(trained.registry), *args])


def flat(rows):
    return [x for row in rows for x in row]


def adapter_logits(trained, ref):
    from promptyard.registry.api import Registry
    from promptyard.runtime.adapter_loading import load_adapted

    with Registry.open(trained.registry) as reg:
        return logits_of(load_adapted(reg.adapter_path(ref)), TEXTS)


def test_merged_export_loads_without_peft_and_gives_adapter_on_base_logits(trained, tmp_path, child_env):
    from promptyard.core.lookups import load_model

    out = tmp_path / "merged"
    result = cli(trained, "adapter", "export", "a-lora@1", str(out), "--merged", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["ref"] == "a-lora@1" and info["base_model"] == "tiny-causal" and info["weights"]
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not names & {"adapter_config.json", "adapter_model.safetensors", "promptyard_adapter.json"}
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl"))]

    child = subprocess.run([sys.executable, "-m", "tests.cli.plain_transformers_logits", str(out), json.dumps(TEXTS)],
                           capture_output=True, text=True, env=child_env, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    loaded = json.loads(child.stdout.strip().splitlines()[-1])
    assert loaded["peft_modules"] == [] and loaded["class"] == "LlamaForCausalLM"
    on_base = adapter_logits(trained, "a-lora@1")
    assert flat(loaded["logits"]) == pytest.approx(flat(on_base), abs=1e-5)
    plain = logits_of(load_model("tiny-causal"), TEXTS)
    assert flat(plain) != pytest.approx(flat(on_base), abs=1e-3)  # the merge really carries the adapter


def test_weighted_merge_is_registered_with_both_parents_and_sums_their_updates(trained, tmp_path):
    from safetensors.torch import load_file

    from promptyard.core.lookups import load_model
    from promptyard.registry.api import Registry

    result = cli(trained, "adapter", "merge", "a-lora@1", "b-lora@1", "--weights", "0.7,0.3", "--name", "ab",
                 "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["version"] == "ab@1" and out["combination"] == "cat" and out["rank"] == 12  # ranks 8 + 4
    assert [(p["ref"], p["weight"]) for p in out["parents"]] == [("a-lora@1", 0.7), ("b-lora@1", 0.3)]
    with Registry.open(trained.registry) as reg:
        lineage = reg.resolve_adapter("ab@1").lineage
        parents = {p["ref"]: p["artifact_hash"] for p in lineage["merge"]["parents"]}
        assert parents == {r: reg.resolve_adapter(r).artifact_hash for r in ("a-lora@1", "b-lora@1")}
    assert lineage["source"] == "merge" and lineage["base_model"]["ref"] == "tiny-causal"
    # trained on two prompt versions: both are its own text formats
    assert {f["prompt_hash"] for f in lineage["text_format"]} == {
        p["prompt"]["hash"] for p in lineage["merge"]["parents"]}

    shown = cli(trained, "adapter", "show", "ab@1")
    assert shown.exit_code == 0 and "merge: cat of a-lora@1 x 0.7, b-lora@1 x 0.3" in shown.stdout, shown.stderr
    for args in (["adapter", "list", "--json"], ["adapter", "diff", "ab@1", "a-lora@1", "--json"]):
        assert cli(trained, *args).exit_code == 0

    # W_merged - W_base == 0.7 (W_a - W_base) + 0.3 (W_b - W_base), tensor by tensor
    weights = {}
    for ref in ("ab@1", "a-lora@1", "b-lora@1"):
        folder = tmp_path / ref.replace("@", "-")
        done = cli(trained, "adapter", "export", ref, str(folder), "--merged")
        assert done.exit_code == 0, done.stderr
        weights[ref] = load_file(str(folder / "model.safetensors"))
    base = load_model("tiny-causal").model.state_dict()
    changed = 0
    for key, merged in weights["ab@1"].items():
        expected = base[key] + 0.7 * (weights["a-lora@1"][key] - base[key]) + 0.3 * (
            weights["b-lora@1"][key] - base[key])
        assert merged.allclose(expected, atol=1e-5), key
        changed += int(not merged.allclose(base[key], atol=1e-6))
    assert changed >= 4  # q and v projections of both layers

    evaluated = cli(trained, "eval", "run", "--prompt", "sent@2", "--model", "tiny-causal", "--adapter", "ab@1",
                    "--data", trained.data, "--sample", "4", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["cells"][0]["lineage"]["template_check"]["status"] == "match"


def test_linear_merge_of_equal_ranks_and_its_default_name(trained):
    result = cli(trained, "adapter", "merge", "b-lora@1", "c-lora@1", "--combination", "linear", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["version"] == "b-lora-merged@1" and out["rank"] == 4
    assert [p["weight"] for p in out["parents"]] == [0.5, 0.5]


def _other_base(trained, tmp_path):
    """A copy of a-lora whose metadata names another base model's weights (as if trained on another base)."""
    from promptyard.registry.api import Registry

    folder = tmp_path / "other"
    with Registry.open(trained.registry) as reg:
        shutil.copytree(reg.adapter_path("a-lora@1"), folder)
        meta_file = folder / "promptyard_adapter.json"
        meta_file.chmod(0o644)
        meta = json.loads(meta_file.read_text())
        meta["base_model_hash"] = "0" * 64
        meta_file.write_text(json.dumps(meta))
        lineage = reg.resolve_adapter("a-lora@1").lineage
        reg.register_adapter("other-base", folder, lineage)
    return "other-base@1"


BAD = [
    (["a-lora@1", "b-lora@1", "--combination", "linear"], "linear combination needs equal ranks"),
    (["a-lora@1", "soft@1"], "combines LoRA adapters; soft@1 is a prompt_tuning adapter"),
    (["a-lora@1", "b-lora@1", "--weights", "0.7"], "1 weights for 2 adapters"),
    (["a-lora@1", "b-lora@1", "--weights", "a,b"], "not a comma-separated list of numbers"),
    (["a-lora@1", "b-lora@1", "--weights", "1,nan"], "not a finite number"),
    (["b-lora@1", "c-lora@1", "--combination", "linear", "--weights", "1,-1"], "needs positive weights"),
    (["a-lora@1", "b-lora@1", "--combination", "ties"], "unknown combination 'ties'"),
    (["a-lora@1"], "needs two or more adapters"),
    (["a-lora@1", "nope@1"], "nope"),
    (["a-lora@1", "b-lora@1", "--name", "bad name!"], "name"),
    (["a-lora@1", "OTHER"], "different base model weights"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_incompatible_or_bad_merges_are_one_error_and_write_nothing(trained, tmp_path, args, message):
    if "OTHER" in args:
        args = [_other_base(trained, tmp_path) if a == "OTHER" else a for a in args]
    before = snapshot(trained.registry)
    result = cli(trained, "adapter", "merge", *args)
    assert result.exit_code != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert snapshot(trained.registry) == before


@pytest.mark.parametrize("ref, message", [
    ("soft@1", "cannot merge a prompt_tuning adapter into its base: it adds learned virtual tokens"),
    ("nope@1", "nope"),
])
def test_merged_export_refuses_what_cannot_merge_and_writes_no_folder(trained, tmp_path, ref, message):
    out = tmp_path / "merged"
    result = cli(trained, "adapter", "export", ref, str(out), "--merged")
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".merged*"))


def test_merged_export_refuses_a_folder_that_is_not_empty(trained, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli(trained, "adapter", "export", "a-lora@1", str(out), "--merged")
    assert result.exit_code != 0 and "not an empty folder" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_python_api_merges_and_exports(trained, tmp_path):
    from promptyard.registry.api import Registry
    from promptyard.tuning.merging import export_merged, merge_adapters

    with Registry.open(trained.registry) as reg:
        version = merge_adapters(reg, ["a-lora@1", "c-lora@1"], weights=[1.0, 0.0], name="a-only")
        out = export_merged(reg, version.ref, tmp_path / "a-only")
    assert out["ref"] == "a-only@1" and (tmp_path / "a-only" / "model.safetensors").is_file()
    # weight 0 for c: the merge computes exactly what a alone computes
    assert flat(adapter_logits(trained, "a-only@1")) == pytest.approx(flat(adapter_logits(trained, "a-lora@1")),
                                                                     abs=1e-5)


# every built-in method on the tiny causal model: the ones that change weights merge, the others say why.
# Each trains its own adapter (seconds); lora is covered above, so these run with the slow tests.
METHODS = [
    pytest.param("ia3", {"lr": 0.3}, None, marks=pytest.mark.slow),
    pytest.param("full", {"lr": 3e-3}, None, marks=pytest.mark.slow),
    pytest.param("prefix_tuning", {"lr": 3e-2}, "learned virtual tokens", marks=pytest.mark.slow),
    pytest.param("p_tuning", {"lr": 1e-2}, "learned virtual tokens", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("method, settings, refusal", METHODS)
def test_merged_export_of_each_method(trained, tmp_path, method, settings, refusal):
    from transformers import AutoModelForCausalLM

    from promptyard.core.lookups import load_model
    from promptyard.core.protocols import LoadedModel
    from promptyard.registry.api import Registry
    from tests.cli.adapter_fixtures import train_and_register

    with Registry.open(trained.registry) as reg:
        ref = train_and_register(reg, f"m-{method.replace('_', '-')}", prompt="sent@1", data=trained.data,
                                 method=method, epochs=1, **settings)
    out = tmp_path / "merged"
    result = cli(trained, "adapter", "export", ref, str(out), "--merged")
    if refusal is not None:
        assert result.exit_code != 0 and refusal in result.stderr and not out.exists()
        return
    assert result.exit_code == 0, result.stderr
    base = load_model("tiny-causal")
    merged = LoadedModel(AutoModelForCausalLM.from_pretrained(out), base.tokenizer, "merged", "causal", "", str(out))
    assert flat(logits_of(merged, TEXTS)) == pytest.approx(flat(adapter_logits(trained, ref)), abs=1e-5)
    assert flat(logits_of(base, TEXTS)) != pytest.approx(flat(adapter_logits(trained, ref)), abs=1e-4)


@pytest.mark.slow
def test_merged_export_of_an_encoder_adapter_is_a_sequence_classifier_with_named_labels(trained, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from promptyard.registry.api import Registry
    from promptyard.runtime.adapter_loading import register_result
    from promptyard.tuning.loop import train
    from promptyard.tuning.spec import TrainSpec
    from tests.cli.adapter_fixtures import FAST

    with Registry.open(trained.registry) as reg:
        spec = TrainSpec(model="tiny-encoder", data=trained.data, method="lora", prompt="sent@1", task="sentiment",
                         quiet=True, registry=str(trained.registry), config={**FAST, "lr": 1e-2, "epochs": 1})
        ref = register_result(reg, "enc-lora", train(spec)).ref
        adapted = load_adapted_of(reg, ref)
    out = tmp_path / "merged"
    result = cli(trained, "adapter", "export", ref, str(out), "--merged", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "encoder"
    model = AutoModelForSequenceClassification.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    for text in TEXTS:
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            assert model(input_ids=ids).logits.allclose(adapted.model(input_ids=ids).logits, atol=1e-5)


def load_adapted_of(reg, ref):
    from promptyard.runtime.adapter_loading import load_adapted

    return load_adapted(reg.adapter_path(ref))
