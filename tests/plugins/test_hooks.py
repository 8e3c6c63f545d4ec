"""One test per hook: a test plugin implements it and the effect is checked.

``test_hook_docs.py`` fails when a hook has no ``test_hook_<name>`` here. The observer hooks are
called through ``host.call_observers`` here; the registry, tuning and evals areas test that their
writes call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from promptyard import hookimpl
from promptyard.core.errors import PluginError
from promptyard.core.host import get_host, lookup
from promptyard.core.protocols import Example, LoadedModel, Metric, ModelLoader, TaskType, TuningMethod
from promptyard.testing import invoke, plugin_registered


def contributes(hook_name: str, *args, **options):
    """A plugin whose ``hook_name`` implementation calls ``register(*args, **options)``."""

    def implementation(self, register):
        register(*args, **options)

    return type(f"Plugin_{hook_name}", (), {hook_name: hookimpl(implementation)})()


class Sentiment:
    name = "test_sentiment"
    description = "positive or negative"
    required_variables = ("text",)
    default_metrics = ("test_accuracy",)
    kind = "classification"
    version = "1"
    labels = ("negative", "positive")

    def row_to_example(self, row, *, options=None):
        return Example({"text": row["text"]}, row["label"], choices=list(self.labels))

    def predict(self, output, options=None):
        return self.labels[max(range(len(output)), key=output.__getitem__)]


def test_hook_register_task_types():
    with plugin_registered(contributes("register_task_types", Sentiment())):
        task = lookup("task_types", "test_sentiment")
        assert isinstance(task, TaskType)
        example = task.row_to_example({"text": "great", "label": "positive"})
        assert task.predict([-3.0, -1.0]) == example.target
    assert "test_sentiment" not in get_host().table("task_types")


@dataclass
class ScaleConfig:
    factor: float = field(default=2.0, metadata={"help": "multiply every weight by this"})

    def __post_init__(self):
        if self.factor <= 0:
            raise ValueError("factor must be > 0")


class Scale:
    name = "test_scale"
    description = "a toy method"
    config_class = ScaleConfig
    model_kinds = ("causal",)
    supported_tasks = None

    def default_search_space(self):
        return {"factor": {"uniform": [1.0, 3.0]}}

    def wrap(self, model, config, **context):
        return [w * config.factor for w in model]


def test_hook_register_tuning_methods():
    with plugin_registered(contributes("register_tuning_methods", Scale())):
        method = lookup("tuning_methods", "test_scale")
        assert isinstance(method, TuningMethod)
        assert method.wrap([1.0, 2.0], method.config_class(factor=3.0), kind="causal") == [3.0, 6.0]
        assert set(method.default_search_space()) <= set(ScaleConfig.__dataclass_fields__)


class Accuracy:
    name = "test_accuracy"
    higher_is_better = True

    def compute(self, predictions, references, **kwargs):
        hits = sum(p == r for p, r in zip(predictions, references, strict=True))
        return {"test_accuracy": hits / len(references)}


def test_hook_register_metrics():
    with plugin_registered(contributes("register_metrics", Accuracy())):
        metric = lookup("metrics", "test_accuracy")
        assert isinstance(metric, Metric)
        assert metric.compute(["a", "b", "a", "a"], ["a", "b", "b", "b"]) == {"test_accuracy": 0.5}


def test_hook_register_example_selectors():
    def last_k(pool, variables, k, seed):
        return list(range(len(pool) - k, len(pool)))

    with plugin_registered(contributes("register_example_selectors", "test_last_k", last_k)):
        assert lookup("example_selectors", "test_last_k")([{"x": 1}, {"x": 2}, {"x": 3}], {}, 2, 0) == [1, 2]


def test_hook_register_template_filters():
    class Filters:
        @hookimpl
        def register_template_filters(self, register):
            register("test_shout", str.upper)
            register("test_year", 2026, kind="global")

    with plugin_registered(Filters()):
        table = get_host().table("template_filters")
        assert table.get("test_shout")("hi") == "HI"
        assert table.get("global:test_year") == 2026
        entry = next(e for e in table.entries() if e.name == "test_year")
        assert entry.options == {"kind": "global"}


def test_hook_register_value_providers():
    with plugin_registered(contributes("register_value_providers", "test_length", lambda v: len(v["text"]))):
        assert lookup("value_providers", "test_length")({"text": "four"}) == 4


class ListLoader:
    name = "test_list_loader"

    def can_load(self, ref):
        return ref.startswith("list:")

    def load(self, ref, *, kind="causal", num_labels=None):
        return LoadedModel(model=ref[5:].split(","), tokenizer=None, ref=ref, kind=kind,
                           content_hash="0" * 64)


def test_hook_register_model_loaders():
    with plugin_registered(contributes("register_model_loaders", ListLoader())):
        loader = lookup("model_loaders", "test_list_loader")
        assert isinstance(loader, ModelLoader)
        assert loader.can_load("list:a,b") and not loader.can_load("smollm2-135m")
        assert loader.load("list:a,b").model == ["a", "b"]


class InlineRows:
    name = "test_inline"

    def can_load(self, ref):
        return ref.startswith("inline:")

    def load(self, ref, **options):
        return [{"text": t} for t in ref[7:].split("|")]


def test_hook_register_dataset_loaders():
    with plugin_registered(contributes("register_dataset_loaders", InlineRows())):
        assert lookup("dataset_loaders", "test_inline").load("inline:a|b") == [{"text": "a"}, {"text": "b"}]


class FirstVariant:
    """A third-party optimiser: each pool variant on 8 validation examples, the best kept."""

    name = "test_first_variant"
    description = "score every pool variant on 8 examples"
    config_class = None

    def project(self, problem, calls):
        need = 8 * (len(problem.pool) + 1)
        return {"calls": need, "min_calls": need, "min_validation": 8}

    def optimize(self, context):
        start = context.candidates[0]
        context.score(start, 8)
        broken = context.add({"kind": "single", "text": "{{ text }} {{ extra }}"}, name="broken", origin="test",
                             parent=start)
        assert broken.status == "rejected"
        for name, template in context.problem.pool:
            context.score(context.add(template, name=name, origin="test", parent=start), 8)
        context.log(kind="done")
        return max((c for c in context.candidates if c.n), key=lambda c: c.mean())


def test_hook_register_prompt_optimizers(tmp_path):
    import json

    from promptyard.registry.api import Registry

    rows = [{"text": f"a {w} film", "label": y} for y, words in
            (("positive", ("good", "great", "fine", "nice", "warm")),
             ("negative", ("bad", "dull", "poor", "ugly", "weak")))
            for w in words for _ in range(10)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    registry = Registry.open(create=True)
    registry.commit("sent", {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}, task_type="sentiment")
    with plugin_registered(contributes("register_prompt_optimizers", FirstVariant())):
        assert lookup("prompt_optimizers", "test_first_variant").name == "test_first_variant"
        result = invoke(["optimize", "--prompt", "sent@1", "--model", "tiny-causal", "--data", str(data),
                         "--optimizer", "test_first_variant", "--generate", "--json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["optimizer"] == "test_first_variant" and record["history"][-1]["kind"] == "done"
    assert [c["status"] for c in record["candidates"]][:2] == ["candidate", "rejected"]
    assert all(len(c["rewards"]) == 8 for c in record["candidates"] if c["status"] == "candidate")
    registry.close()


def test_an_optimizer_without_its_contract_is_reported_by_name():
    class NoOptimize:
        name = "test_half_optimizer"

        def project(self, problem, calls):
            return {}

    with pytest.raises(PluginError, match="test_half_optimizer.*lacks optimize"):
        with plugin_registered(contributes("register_prompt_optimizers", NoOptimize())):
            pass


def test_hook_register_commands():
    class Greeter:
        @hookimpl
        def register_commands(self, app):
            @app.command(name="test-greet")
            def greet(name: str) -> None:
                """Say hello."""
                print(f"hello {name}")

    with plugin_registered(Greeter()):
        result = invoke(["test-greet", "world"])
    assert (result.exit_code, result.stdout) == (0, "hello world\n")


class Recorder:
    """Implements every observer and records what it was called with."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def on_version_committed(self, registry, version):
        self.calls.append(("on_version_committed", registry, version))

    @hookimpl
    def on_label_moved(self, registry, move):
        self.calls.append(("on_label_moved", registry, move))

    @hookimpl
    def on_adapter_registered(self, registry, version):
        self.calls.append(("on_adapter_registered", registry, version))

    @hookimpl
    def on_eval_finished(self, run):
        self.calls.append(("on_eval_finished", run))


class Exploding:
    @hookimpl
    def on_version_committed(self, version):  # takes only what it needs: pluggy passes by name
        raise RuntimeError(f"cannot handle {version}")


def _observe(hook_name, **kwargs):
    recorder = Recorder()
    with plugin_registered(Exploding(), name="exploding"), plugin_registered(recorder):
        failures = get_host().call_observers(hook_name, **kwargs)
    assert not get_host().failures  # an observer's failure is reported, not kept as a start-up failure
    return recorder.calls, failures


def test_hook_on_version_committed(caplog):
    calls, failures = _observe("on_version_committed", registry="reg", version="greet@2")
    assert calls == [("on_version_committed", "reg", "greet@2")]
    assert [(f.plugin, f.error) for f in failures] == [("exploding", "RuntimeError: cannot handle greet@2")]
    assert any(r.levelname == "WARNING" and "warning: plugin 'exploding' failed in on_version_committed"
               in r.getMessage() for r in caplog.records)


def test_hook_on_label_moved():
    assert _observe("on_label_moved", registry="reg", move="production: 1 -> 2") == (
        [("on_label_moved", "reg", "production: 1 -> 2")], [])


def test_hook_on_adapter_registered():
    assert _observe("on_adapter_registered", registry="reg", version="lora@1") == (
        [("on_adapter_registered", "reg", "lora@1")], [])


def test_hook_on_eval_finished():
    assert _observe("on_eval_finished", run="run-7") == ([("on_eval_finished", "run-7")], [])


def test_plugin_registered_rejects_a_misspelt_hook_loudly():
    class Typo:
        @hookimpl
        def on_eval_finish(self, run):
            pass

    with pytest.raises(PluginError, match="unknown hook 'on_eval_finish' \\(did you mean 'on_eval_finished'"):
        with plugin_registered(Typo()):
            pass
    assert not get_host().failures


def test_plugin_registered_rejects_a_hook_without_hookimpl():
    class Forgot:
        def register_metrics(self, register):  # no @hookimpl: pluggy alone would ignore it silently
            raise AssertionError("never called")

    with pytest.raises(PluginError, match="'register_metrics' is not marked with @hookimpl"):
        with plugin_registered(Forgot()):
            pass
    assert not get_host().failures
