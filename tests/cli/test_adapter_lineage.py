"""``adapter list/show/log/diff/export`` on the registry the quickstart writes (issue 17, defect 12).

The quickstart registers adapters from searches; a ``tune run`` adds one to the same registry, and one
adapter carries the lineage an older promptyard's search wrote (``method`` a bare string, which crashed
``adapter list``). Every reader must handle all three. The quickstart runs once for the module (~1 min).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promptyard.testing import invoke, isolated_environment
from tests.cli.helpers import FAST
from tests.tuning.toydata import write_toy_sentiment

pytestmark = pytest.mark.slow

ADAPTER_COMMANDS = [
    ["adapter", "list"],
    ["adapter", "list", "--json"],
    ["adapter", "show", "sentiment-adapter"],
    ["adapter", "show", "sentiment-adapter", "--json"],
    ["adapter", "log", "sentiment-adapter"],
    ["adapter", "log", "sentiment-adapter", "--json"],
    ["adapter", "diff", "sentiment-adapter@1", "sentiment-adapter@2"],
    ["adapter", "diff", "sentiment-adapter@1", "sent-lora@1", "--json"],
    ["adapter", "diff", "old-search@1", "sent-lora@1", "--json"],
    ["adapter", "show", "sent-lora@1"],
    ["adapter", "show", "old-search@1"],
]


@pytest.fixture(scope="module")
def quickstart_registry(tmp_path_factory, _shared_model_cache):
    """A registry written by ``quickstart --fast --no-ray``, plus a ``tune run`` adapter and an old-style one."""
    from promptyard import Registry

    root = tmp_path_factory.mktemp("qs-adapters")
    with isolated_environment(root):
        cache = root / "cache"
        cache.mkdir()
        for kind in ("models", "hashes"):
            (cache / kind).symlink_to(_shared_model_cache / kind, target_is_directory=True)
        result = invoke(["quickstart", "--fast", "--no-ray", "--dir", str(root / "qs"), "--json"])
        assert result.exit_code == 0, result.stderr[-3000:]
        registry = json.loads(result.stdout)["registry"]
        os.environ["PROMPTYARD_REGISTRY"] = registry
        (root / "s.txt").write_text("Review: {{ text }}\nSentiment:")
        assert invoke(["prompt", "add", "sent", str(root / "s.txt"), "--task-type", "sentiment"]).exit_code == 0
        data = write_toy_sentiment(root / "toy.jsonl")
        run = invoke(["tune", "run", "--prompt", "sent", "--model", "tiny-causal", "--data", data, "--method",
                      "lora", *FAST, "--json"])
        assert run.exit_code == 0, run.stderr[-3000:]
        with Registry.open(registry) as reg:
            folder = reg.adapter_path("sentiment-adapter@1")
            search = reg.resolve_adapter("sentiment-adapter@1").lineage["search"]
            # the lineage an older promptyard's search registered: method as a string, no source
            old = {"method": "lora", "base_model": {"ref": "tiny-causal"}, "search": search,
                   "metrics": {"val_metric": 0.5}, "hyperparameters": {"lr": 0.01}}
            reg.register_adapter("old-search", folder, old, message="old style")
        yield Path(registry), root


def test_adapters_from_both_writers_have_one_lineage_schema(quickstart_registry):
    from promptyard import Registry
    from promptyard.runtime.lineage import validate_lineage

    registry, _ = quickstart_registry
    with Registry.open(registry) as reg:
        searched = reg.resolve_adapter("sentiment-adapter@1").lineage
        trained = reg.resolve_adapter("sent-lora@1").lineage
    for lineage, source in ((searched, "search"), (trained, "run")):
        validate_lineage(lineage)
        assert lineage["source"] == source
        assert isinstance(lineage["method"], dict) and lineage["method"]["name"] in ("lora", "prompt_tuning")
        assert lineage["base_model"]["ref"] == "tiny-causal"
    assert searched["method"]["config"]  # the search's best trial keeps its method settings too
    for lineage in (searched, trained):  # both record the text they were trained on, for the template check
        assert lineage["text_format"]["prompt_hash"] == lineage["prompt"]["hash"]


@pytest.mark.parametrize("args", ADAPTER_COMMANDS, ids=" ".join)
def test_adapter_commands_read_every_adapter_of_the_quickstart_registry(quickstart_registry, args):
    registry, _ = quickstart_registry
    result = invoke(["--registry", str(registry), *args])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    if args[:2] == ["adapter", "list"] and "--json" in args:
        rows = {r["name"]: r for r in json.loads(result.stdout)}
        assert {"sentiment-adapter", "sent-lora", "old-search"} <= set(rows)
        assert all(r["method"] in ("lora", "prompt_tuning") for r in rows.values())
        assert all(r["base_model"] == "tiny-causal" for r in rows.values())
        assert rows["old-search"]["metric"] == 0.5
    if args[:2] == ["adapter", "diff"] and "--json" in args:
        changes = json.loads(result.stdout)["changes"]
        assert "method" not in changes or set(changes["method"]) <= {"name", "config"}


@pytest.mark.parametrize("ref", ["sentiment-adapter@2", "sent-lora@1", "old-search@1"])
def test_adapter_export_writes_the_stored_files(quickstart_registry, tmp_path, ref):
    registry, _ = quickstart_registry
    result = invoke(["--registry", str(registry), "adapter", "export", ref, str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
    assert not list((tmp_path / "out").rglob("*.bin"))


def test_writers_refuse_a_lineage_off_the_schema():
    from promptyard.core.errors import TuningError
    from promptyard.runtime.lineage import read_lineage, validate_lineage

    good = {"source": "run", "base_model": {"ref": "m"}, "method": {"name": "lora", "config": {}}}
    assert validate_lineage(good) == good
    for bad, key in (({**good, "method": "lora"}, "method"), ({**good, "source": "x"}, "source"),
                     ({k: v for k, v in good.items() if k != "base_model"}, "base_model"),
                     ({**good, "metrics": {"val_metric": "high"}}, "metrics.val_metric"),
                     ({**good, "source": "search"}, "search")):
        with pytest.raises(TuningError, match=f"lineage {key}"):
            validate_lineage(bad)
    assert read_lineage({"method": "lora"})["method"] == {"name": "lora", "config": {}}
    assert read_lineage("not a mapping")["method"] == {}
