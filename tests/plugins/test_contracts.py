"""Plugin contracts, proven through the real commands.

The examples of docs/writing_plugins.md are taken from the page exactly as printed, registered, and run
through ``tune run``, ``eval run`` and ``tune search`` (in-process) on the tiny models: a task type, a
tuning method, a model loader with a kind of its own and a tuning method with its own adapter format. A
plugin missing a required member is reported by name at start-up; one missing an optional member gets the
documented default. Wings, runtime and CLI ask the host, never a built-in plugin module.
"""

from __future__ import annotations

import ast
import json
import random
import re
import sys
import types
from pathlib import Path

import pytest

from promptyard.core.contributions import REQUIRED_ATTRIBUTES
from promptyard.core.dataset import Dataset
from promptyard.core.errors import UnknownNameError
from promptyard.core.host import PluginHost, get_host, lookup, reset_host
from promptyard.core.lookups import load_dataset, model_kind, read_meta, runs_as
from promptyard.core.protocols import member, optional_members
from promptyard.evals.metrics import compute_metric, metric_inputs
from promptyard.testing import invoke, plugin_registered, tiny_causal_lm
from promptyard.tuning.plan import plan_run
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_local import run_search_local
from promptyard.tuning.space import validate_space
from promptyard.tuning.spec import TrainSpec
from tests.core.plugin_site import install as install_distribution
from tests.tuning.toydata import write_toy_sentiment

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = (ROOT / "docs" / "writing_plugins.md").read_text()
HOOKS_PAGE = (ROOT / "docs" / "plugin_hooks.md").read_text()
ENCODER = ["--prompt", "sent.j2", "--model", "tiny-encoder", "--data", "toy.jsonl"]
INHOUSE = ["--prompt", "sent.j2", "--model", "inhouse:bot", "--data", "toy.jsonl"]


@pytest.fixture(autouse=True)
def _registry():
    """eval run stores its runs: every test here has a registry in its own folder."""
    from promptyard import Registry

    Registry.open(create=True).close()
    Path("sent.j2").write_text("Review: {{ text }}\nSentiment:")


def doc_example(tag: str, monkeypatch) -> types.ModuleType:
    """The ``<!-- example: TAG -->`` block of docs/writing_plugins.md as a module, exactly as printed."""
    match = re.search(rf"<!-- example: {tag} -->\n```python\n(.*?)```", TUTORIAL, flags=re.S)
    assert match, f"docs/writing_plugins.md lost its {tag!r} example"
    name = f"docs_example_{tag.replace('-', '_')}"
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    exec(compile(match.group(1), f"docs/writing_plugins.md:{tag}", "exec"), module.__dict__)
    return module


def ok(args: list[str]) -> dict:
    result = invoke([*args, "--json"])
    assert result.exit_code == 0, f"promptyard {' '.join(args)}\n{result.output}"
    return json.loads(result.stdout)


def search_in_process(tmp_path: Path, *, prompt: str, model: str, data: str, method: str) -> None:
    """``tune search`` without Ray: two trials over the method's default space, the best one registered."""
    from promptyard import Registry

    space = validate_space(lookup("tuning_methods", method).default_search_space(), source=method)
    train = TrainSpec(model=model, data=str(tmp_path / data), method=method, prompt=str(tmp_path / prompt),
                      config={"max_steps": 1}, quiet=True)
    spec = SearchSpec(train_spec=train, space=space, trials=2, scheduler="fifo", name=f"{method}-search")
    with Registry.open(create=True) as registry:
        result = run_search_local(spec, registry=registry)
        assert [t.status for t in result.trials] == ["completed", "completed"]
        lineage = registry.resolve_adapter(f"{method}-search@latest").lineage
        assert lineage["method"]["name"] == method
        assert lineage["task"]["name"] == read_meta(result.best.checkpoint)["task"]


def write_keyword_data(folder: Path) -> None:
    rng = random.Random(0)
    rows = []
    for i in range(40):
        keyword, other = rng.sample(["tea", "cake", "rain", "jazz"], 2)
        mentioned = i % 2 == 0
        rows.append({"text": f"we talked about {keyword if mentioned else other} all day", "keyword": keyword,
                     "label": "yes" if mentioned else "no"})
    (folder / "kw.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "kw.yaml").write_text("kind: single\ntask_type: keyword\n"
                                    "text: 'Does \"{{ text }}\" mention {{ keyword }}? Answer yes or no:'\n")


def test_the_task_type_example_runs_through_tune_eval_and_search(tmp_path, monkeypatch):
    write_keyword_data(tmp_path)
    with plugin_registered(doc_example("task", monkeypatch)):
        trained = ok(["tune", "run", "--prompt", "kw.yaml", "--model", "tiny-causal", "--data", "kw.jsonl",
                      "--max-steps", "2", "--no-register"])
        meta = read_meta(trained["adapter_dir"])
        assert (meta["task"], meta["labels"], meta["choices"]) == ("keyword", ["no", "yes"], ["no", "yes"])
        evaluated = ok(["eval", "run", "--prompt", "kw.yaml", "--model", "tiny-causal", "--data", "kw.jsonl",
                        "--split", "all", "--no-cache"])
        (cell,) = evaluated["cells"]
        assert cell["lineage"]["task"]["name"] == "keyword" and cell["n_examples"] == 40
        assert [m["name"] for m in cell["metrics"]] == ["accuracy"]  # the task's default_metrics
        search_in_process(tmp_path, prompt="kw.yaml", model="tiny-causal", data="kw.jsonl", method="lora")


def test_the_tuning_method_example_runs_through_tune_eval_and_search(tmp_path, monkeypatch):
    write_toy_sentiment(tmp_path / "toy.jsonl", n=60)
    with plugin_registered(doc_example("tuning", monkeypatch)):
        trained = ok(["tune", "run", *ENCODER, "--method", "bias_only",
                      "--max-steps", "2", "--name", "bitfit"])
        adapter = Path(trained["adapter_dir"])
        assert (adapter / "trained_parameters.safetensors").is_file()  # the default save, for a plain model
        assert read_meta(adapter)["method"] == "bias_only"
        ok(["eval", "run", *ENCODER, "--adapter", "bitfit@1", "--no-cache"])
        search_in_process(tmp_path, prompt="sent.j2", model="tiny-encoder", data="toy.jsonl", method="bias_only")


def test_the_method_config_lr_is_the_learning_rate_and_default_lr_the_fallback(tmp_path, monkeypatch):
    write_toy_sentiment(tmp_path / "toy.jsonl", n=20)
    with plugin_registered(doc_example("tuning", monkeypatch)), \
            plugin_registered(doc_example("own-format", monkeypatch)):
        spec = TrainSpec(model="tiny-encoder", data="toy.jsonl", method="bias_only", config={"lr": "0.02"})
        assert plan_run(spec).lr == 0.02  # bias_only's config has an lr field
        assert plan_run(TrainSpec(model="tiny-encoder", data="toy.jsonl", method="head_only")).lr == 5e-2


def test_a_model_loader_with_its_own_kind_works_in_tune_run_and_eval_run(tmp_path, monkeypatch):
    tiny_causal_lm(save_to=tmp_path / "models" / "bot")
    monkeypatch.setenv("INHOUSE_MODELS", str(tmp_path / "models"))
    write_toy_sentiment(tmp_path / "toy.jsonl", n=60)
    with plugin_registered(doc_example("model-loader", monkeypatch)):
        assert model_kind("inhouse:bot") == "inhouse-lm" and runs_as("inhouse-lm") == "causal"
        trained = ok(["tune", "run", *INHOUSE, "--method", "lora",
                      "--max-steps", "2", "--name", "bot-lora"])
        assert read_meta(trained["adapter_dir"])["model_kind"] == "inhouse-lm"
        base = ok(["eval", "run", *INHOUSE, "--no-cache"])
        tuned = ok(["eval", "run", *INHOUSE, "--adapter", "bot-lora@1",
                    "--no-cache"])
        assert base["cells"][0]["lineage"]["model"]["hash"] == tuned["cells"][0]["lineage"]["model"]["hash"]
        assert tuned["cells"][0]["lineage"]["adapter"]["ref"] == "bot-lora@1"
        generated = ok(["eval", "run", *INHOUSE, "--scoring", "generate",
                        "--max-new-tokens", "2", "--sample", "4", "--no-cache"])
        assert generated["cells"][0]["n_examples"] == 4  # generation runs it as a causal LM


def test_a_method_with_its_own_format_saves_and_reloads_through_its_own_code(tmp_path, monkeypatch):
    write_toy_sentiment(tmp_path / "toy.jsonl", n=60)
    example = doc_example("own-format", monkeypatch)
    loads = []
    real_load = example.HeadOnly.load

    def spy(self, model, folder):  # the real load, counted
        loads.append(Path(folder))
        return real_load(self, model, folder)

    monkeypatch.setattr(example.HeadOnly, "load", spy)
    with plugin_registered(example):
        trained = ok(["tune", "run", *ENCODER, "--method", "head_only",
                      "--max-steps", "4", "--name", "head"])
        files = sorted(p.name for p in Path(trained["adapter_dir"]).iterdir())
        assert files == ["head.json", "head.safetensors", "promptyard_adapter.json"]
        base = ok(["eval", "run", *ENCODER, "--no-cache"])
        assert not loads
        run = invoke(["eval", "run", *ENCODER, "--adapter", "head@1",
                      "--no-cache", "--json"])
        assert run.exit_code == 0, run.output
        assert len(loads) == 1 and (loads[0] / "head.safetensors").is_file()
        stored = invoke(["eval", "show", str(json.loads(run.stdout)["run_id"]), "--examples", "--json"])
        base_stored = invoke(["eval", "show", str(base["run_id"]), "--examples", "--json"])
        scores = [e["scores"] for e in json.loads(stored.stdout)["cells"][0]["examples"]]
        base_scores = [e["scores"] for e in json.loads(base_stored.stdout)["cells"][0]["examples"]]
        assert scores != base_scores  # the trained head, put back by the method's own load, decides


def test_the_host_has_no_special_case_for_a_builtin_method():
    for module in ("core/lookups.py", "runtime/adapter_loading.py", "evals/modelpool.py"):
        source = (ROOT / "src" / "promptyard" / module).read_text()
        assert '"full"' not in source and "load_full" not in source, module


def test_no_wing_runtime_or_cli_module_imports_a_builtin_plugin():
    offenders = []
    for layer in ("tuning", "evals", "runtime", "cli", "quickstart", "registry", "core"):
        for path in (ROOT / "src" / "promptyard" / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("promptyard.plugins")]
    assert not offenders


# -- registration: required members reported by name, optional ones defaulted --------------------------

MISSING = {
    "task_types": ("register_task_types", '''
class Task:
    name = "half_task"
    required_variables = ("text",)
    default_metrics = ("accuracy",)
    kind = "classification"
    version = "1"
    def row_to_example(self, row, *, options=None):
        raise NotImplementedError
''', "Task()", "task type 'half_task' lacks predict"),
    "tuning_methods": ("register_tuning_methods", '''
class Method:
    name = "half_method"
    config_class = object
    def default_search_space(self):
        return {}
''', "Method()", "tuning method 'half_method' lacks wrap"),
    "metrics": ("register_metrics", '''
class Metric:
    name = "half_metric"
    def compute(self, predictions, references, **kwargs):
        return {"half_metric": 0.0}
''', "Metric()", "metric 'half_metric' lacks higher_is_better"),
    "model_loaders": ("register_model_loaders", '''
class Loader:
    name = "half_loader"
    def load(self, ref, *, kind=None, num_labels=None):
        raise NotImplementedError
''', "Loader()", "model loader 'half_loader' lacks can_load"),
    "dataset_loaders": ("register_dataset_loaders", '''
class Loader:
    name = "half_data"
    def can_load(self, ref):
        return False
''', "Loader()", "dataset loader 'half_data' lacks load"),
    "example_selectors": ("register_example_selectors", '''
def pick(pool, k):
    return list(range(k))
''', '"pick", pick', "example selector 'pick' cannot be called as pick(pool, variables, k, seed)"),
}


@pytest.mark.parametrize("table", sorted(MISSING))
def test_a_missing_required_member_is_reported_by_name_at_startup(table, site, monkeypatch):
    hook, body, registered, message = MISSING[table]
    source = f"from promptyard import hookimpl\n{body}\n@hookimpl\ndef {hook}(register):\n    register({registered})\n"
    install_distribution(site, "promptyard-half", "half", f"pyplug_half_{table}", source)
    monkeypatch.delenv("PROMPTYARD_PLUGINS", raising=False)
    reset_host()
    try:
        result = invoke(["plugins", "list"])
        assert result.exit_code == 0
        (line,) = [x for x in result.stderr.splitlines() if "plugin 'half'" in x]
        assert line.startswith("warning: plugin 'half' skipped:") and message in line
        assert "half" not in get_host().plugin_names()  # skipped whole, the rest of promptyard works
        assert "accuracy" in get_host().table("metrics")
    finally:
        reset_host()


def test_a_model_loader_kind_of_its_own_must_say_how_it_runs():
    class Loader:
        name = "odd"
        kinds = ("odd-lm",)

        def can_load(self, ref):
            return False

        def load(self, ref, *, kind=None, num_labels=None):
            raise NotImplementedError

    class Plugin:
        from promptyard import hookimpl

        @hookimpl
        def register_model_loaders(self, register):
            register(Loader())

    host = PluginHost(load_external=False)
    host.register(Plugin(), name="odd")
    (failure,) = [f for f in host.failures if f.plugin == "odd"]
    assert "kinds names 'odd-lm'" in failure.error and "{'odd-lm': 'causal'}" in failure.error


class _Bare:
    """One object per table with only the required members (and a data loader that returns plain rows)."""

    class Task:
        name = "bare_task"
        required_variables = ("text",)
        default_metrics = ("accuracy",)
        kind = "classification"
        version = "1"
        labels = ("no", "yes")

        def row_to_example(self, row, *, options=None):
            from promptyard.core.protocols import Example

            return Example(variables={"text": row["text"]}, target=row.get("label"), choices=["no", "yes"])

        def predict(self, output, options=None):
            return self.labels[max(range(len(output)), key=output.__getitem__)]

    class Method:
        from dataclasses import dataclass as _dataclass

        @_dataclass
        class Config:
            pass

        name = "bare_method"
        config_class = Config

        def default_search_space(self):
            return {}

        def wrap(self, model, config, **context):
            return model

    class Metric:
        name = "bare_metric"
        higher_is_better = True

        def compute(self, predictions, references, **kwargs):
            return {"bare_metric": sum(p == r for p, r in zip(predictions, references, strict=True)) / len(predictions)}

    class ModelLoader:
        name = "bare_models"

        def can_load(self, ref):
            return ref == "bare:model"

        def load(self, ref, *, kind=None, num_labels=None):
            raise NotImplementedError

    class DataLoader:
        name = "bare_data"

        def can_load(self, ref):
            return ref == "bare:rows"

        def load(self, ref, **options):
            return ({"text": f"row {i}", "label": "yes" if i % 2 else "no"} for i in range(6))

    from promptyard import hookimpl

    @hookimpl
    def register_task_types(self, register):
        register(_Bare.Task())

    @hookimpl
    def register_tuning_methods(self, register):
        register(_Bare.Method())

    @hookimpl
    def register_metrics(self, register):
        register(_Bare.Metric())

    @hookimpl
    def register_model_loaders(self, register):
        register(_Bare.ModelLoader())

    @hookimpl
    def register_dataset_loaders(self, register):
        register(_Bare.DataLoader())


def test_a_plugin_without_the_optional_members_gets_the_defaults(tmp_path):
    write_toy_sentiment(tmp_path / "toy.jsonl", n=20)
    with plugin_registered(_Bare()):
        task = lookup("task_types", "bare_task")
        assert member("task_types", task, "label_names")() == ["no", "yes"]
        assert member("task_types", task, "choices")({"verbalizers": {"yes": "Yes"}}) == ["no", "Yes"]
        assert member("task_types", task, "description") == ""
        method = lookup("tuning_methods", "bare_method")
        plan = plan_run(TrainSpec(model="tiny-causal", data="toy.jsonl", method="bare_method"))
        assert plan.lr == 1e-3 and member("tuning_methods", method, "model_kinds") == ("causal", "encoder")
        assert member("tuning_methods", method, "supported_tasks") is None
        metric = lookup("metrics", "bare_metric")
        assert metric_inputs(metric) == "prediction"
        result = compute_metric("bare_metric", ["a", "b", "a", "b"], ["a", "b", "b", "b"], n_boot=50)
        assert result.value == 0.75 and result.low <= 0.75 <= result.high  # the generic bootstrap
        assert model_kind("bare:model") == "causal"  # kinds default to ("causal",)
        data = load_dataset("bare:rows")
        assert isinstance(data, Dataset) and len(data) == 6 and data.labels == ["no", "yes"]
        with pytest.raises(UnknownNameError):
            load_dataset("bare:nothing")


def test_every_contract_member_is_documented_in_the_hook_reference():
    sections = dict(re.findall(r"^### (.+?)\n(.*?)(?=^### |\Z)", HOOKS_PAGE.split("## Contracts", 1)[1],
                               flags=re.S | re.M))
    titles = {"task_types": "Task type", "tuning_methods": "Tuning method", "metrics": "Metric",
              "model_loaders": "Model loader", "dataset_loaders": "Data set loader"}
    for table, title in titles.items():
        text = sections[title]
        missing = [m for m in (*REQUIRED_ATTRIBUTES[table], *optional_members(table)) if f"| `{m}" not in text]
        assert not missing, f"docs/plugin_hooks.md, {title}: undocumented {missing}"
