"""Meta-tests after datasette: every hook is documented with its exact signature and has a test.

The docs' worked examples are executed, so they cannot rot.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest

from promptyard.core.errors import ValidationError
from promptyard.core.host import CONTRIBUTION_HOOKS, PluginHost, hook_signature, lookup
from promptyard.core.protocols import TaskType, TuningMethod
from promptyard.testing import plugin_registered

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "plugin_hooks.md").read_text()  # the hook reference
TUTORIAL = (ROOT / "docs" / "writing_plugins.md").read_text()  # the worked examples
PLUGIN_PAGES = ["plugins.md", "writing_plugins.md", "plugin_hooks.md", "testing_plugins.md", "plugin_api.md"]
HOOK_TESTS = ROOT / "tests" / "plugins" / "test_hooks.py"
HOOKS = sorted(name for name in vars(PluginHost(load_external=False, default_plugins=()).pm.hook)
               if not name.startswith("_"))


def test_there_are_hooks():
    assert len(HOOKS) >= 13 and "register_task_types" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_exact_signature(hook):
    signature = hook_signature(hook)  # from inspect.signature of the hookspec
    assert f"#### {hook}\n\n```python\n{signature}\n```" in DOCS, (
        f"docs/plugin_hooks.md must have a '#### {hook}' section starting with {signature!r}")


def test_docs_document_no_hook_that_does_not_exist():
    documented = set(re.findall(r"^#### (\w+)$", DOCS, flags=re.M))
    assert documented == set(HOOKS)


def test_every_hook_has_a_test_that_uses_it():
    source = HOOK_TESTS.read_text()
    tests = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    missing = [hook for hook in HOOKS if f"test_hook_{hook}" not in tests]
    assert not missing, f"add test_hook_<name> to {HOOK_TESTS.name} for: {missing}"
    # the body must implement or call the hook, not merely be named after it
    def body(hook: str) -> str:
        return "\n".join(ast.get_source_segment(source, stmt) or "" for stmt in tests[f"test_hook_{hook}"].body)

    unused = [hook for hook in HOOKS if hook not in body(hook)]
    assert not unused, f"these tests never implement or call their hook: {unused}"


def test_every_contribution_hook_fills_a_table():
    register_hooks = {h for h in HOOKS if h.startswith("register_")} - {"register_commands"}
    assert register_hooks == set(CONTRIBUTION_HOOKS)


def _example(tag: str) -> str:
    match = re.search(rf"<!-- example: {tag} -->\n```python\n(.*?)```", TUTORIAL, flags=re.S)
    assert match, f"docs/writing_plugins.md lost its '{tag}' example"
    return match.group(1)


def _load(source: str, name: str, monkeypatch):
    """The example as a module (in sys.modules for the test: dataclasses look their module up)."""
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, f"docs/writing_plugins.md:{name}", "exec"), module.__dict__)
    return module


def test_docs_task_example_works(monkeypatch):
    with plugin_registered(_load(_example("task"), "docs_task_example", monkeypatch)):
        task = lookup("task_types", "keyword")
        assert isinstance(task, TaskType)
        example = task.row_to_example({"text": "green tea", "keyword": "tea", "label": "yes"})
        assert (example.variables, example.choices) == ({"text": "green tea", "keyword": "tea"}, ["no", "yes"])
        assert task.predict([-4.0, -0.2]) == "yes" and task.predict("no, it does not") == "no,"


def test_docs_tuning_example_works(monkeypatch):
    import torch

    with plugin_registered(_load(_example("tuning"), "docs_tuning_example", monkeypatch)):
        method = lookup("tuning_methods", "bias_only")
        assert isinstance(method, TuningMethod)
        with pytest.raises(ValidationError, match="lr must be between 0 and 1"):
            method.config_class(lr=5)
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
        method.wrap(model, method.config_class(train_head=False))
        assert [n for n, p in model.named_parameters() if p.requires_grad] == ["0.bias", "1.bias"]
        assert set(method.default_search_space()) <= set(method.config_class.__dataclass_fields__)


@pytest.mark.parametrize("page", PLUGIN_PAGES)
def test_every_python_block_in_the_docs_parses(page):
    text = (ROOT / "docs" / page).read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        if not re.match(r"^\w+\(.*\) -> ", block):  # hook signatures are not statements
            ast.parse(block)
