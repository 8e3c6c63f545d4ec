"""promptyard.testing and its pytest fixtures (``promptyard.testing._pytest_plugin``), as a plugin author uses them.

The fixtures are imported here so this file works whether or not promptyard's ``pytest11`` entry point
is installed in the running environment; the third-party test checks the entry point itself.
"""

from __future__ import annotations

import os

import pytest

from promptyard import hookimpl
from promptyard.core.errors import PluginError
from promptyard.core.host import get_host, lookup
from promptyard.testing import _pytest_plugin as testing_fixtures
from promptyard.testing import plugin_registered

# the fixtures, made visible to this module (as the pytest11 entry point does for plugin authors)
cli, plugin, registry = testing_fixtures.cli, testing_fixtures.plugin, testing_fixtures.registry
promptyard_env, tiny_model = testing_fixtures.promptyard_env, testing_fixtures.tiny_model


class _Metric:
    name = "fixture_metric"
    higher_is_better = True

    def compute(self, predictions, references, **kwargs):
        return {"fixture_metric": 1.0}


class MetricPlugin:
    @hookimpl
    def register_metrics(self, register):
        register(_Metric())


class TestPluginFixture:
    """The second test checks the first one's plugin is gone (pytest runs a class's tests in order)."""

    def test_registers_for_the_test(self, plugin):
        name = plugin(MetricPlugin(), name="fixture-plugin")
        assert name == "fixture-plugin"
        assert lookup("metrics", "fixture_metric").compute([], []) == {"fixture_metric": 1.0}

    def test_unregistered_afterwards(self):
        assert "fixture-plugin" not in get_host().plugin_names()
        assert "fixture_metric" not in get_host().table("metrics")


def test_plugin_fixture_raises_with_the_reason_for_a_rejected_plugin(plugin):
    class Typo:
        @hookimpl
        def register_metric(self, register):
            pass

    with pytest.raises(PluginError, match="unknown hook 'register_metric'"):
        plugin(Typo(), name="typo")
    assert "typo" not in get_host().plugin_names() and not get_host().failures


def test_plugin_registered_leaves_an_already_registered_plugin_alone():
    obj = MetricPlugin()
    with plugin_registered(obj, name="outer"):
        with plugin_registered(obj) as inner:
            assert inner == "outer"
        assert "outer" in get_host().plugin_names()
    assert "outer" not in get_host().plugin_names()


def test_cli_fixture_runs_against_a_temporary_registry(cli, promptyard_env, tmp_path):
    assert os.environ["PROMPTYARD_REGISTRY"].startswith(str(tmp_path))
    result = cli(["plugins", "hooks"])
    assert result.exit_code == 0 and "on_eval_finished(run: Any) -> None" in result.stdout


def test_registry_fixture_gives_an_empty_registry(registry, promptyard_env):
    assert str(promptyard_env) in str(registry.path)
    assert list(registry.list()) == []


@pytest.mark.slow
def test_tiny_model_is_a_working_causal_lm(tiny_model):
    import torch

    assert (tiny_model.kind, tiny_model.ref, len(tiny_model.content_hash)) == ("causal", "tiny-llama", 64)
    encoded = tiny_model.tokenizer("hello", return_tensors="pt")
    assert tiny_model.tokenizer.decode(encoded["input_ids"][0]) == "hello"
    with torch.no_grad():
        logits = tiny_model.model(**encoded).logits
    assert logits.shape == (1, 5, len(tiny_model.tokenizer))


@pytest.mark.slow
def test_tiny_causal_lm_is_deterministic_and_saves(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from promptyard.testing import tiny_causal_lm

    first = tiny_causal_lm(seed=0, save_to=tmp_path / "tiny")
    assert tiny_causal_lm(seed=0).content_hash == first.content_hash != tiny_causal_lm(seed=1).content_hash
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny")
    assert AutoTokenizer.from_pretrained(tmp_path / "tiny")("héllo")["input_ids"] == first.tokenizer("héllo")[
        "input_ids"]
    assert sum(p.numel() for p in reloaded.parameters()) == sum(p.numel() for p in first.model.parameters())
