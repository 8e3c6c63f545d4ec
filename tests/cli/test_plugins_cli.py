"""``promptyard plugins list|hooks|new``, start-up warnings, ``--no-plugins`` and ``register_commands``."""

from __future__ import annotations

import json
import sys

import pytest
import typer

from promptyard import hookimpl
from promptyard.core.host import get_host, reset_host
from promptyard.testing import invoke, plugin_registered
from tests.core.plugin_site import install as install_distribution

GOOD = '''
from promptyard import hookimpl

class Metric:
    name = "ext_metric"
    higher_is_better = True
    def compute(self, predictions, references, **kw):
        return {"ext_metric": 1.0}

@hookimpl
def register_metrics(register):
    register(Metric())
'''


@pytest.fixture
def fresh_host(site, monkeypatch):
    """Rebuild the process-wide host from what is 'installed' in this test's site folder."""
    monkeypatch.delenv("PROMPTYARD_PLUGINS", raising=False)
    reset_host()
    yield site
    reset_host()


def install(site, plugin, module, source):
    install_distribution(site, f"promptyard-{plugin}", plugin, module, source, version="2.0")


class _Echo:
    name = "echo_metric"
    higher_is_better = True

    def compute(self, predictions, references, **kw):
        return {"echo_metric": float(len(predictions))}


class EchoPlugin:
    @hookimpl
    def register_metrics(self, register):
        register(_Echo())


def test_list_json_shows_plugin_contributions_and_failures(fresh_host):
    install(fresh_host, "ext", "pyplug_ext", GOOD)
    install(fresh_host, "broken", "pyplug_broken", "raise RuntimeError('cannot start')\n")
    with plugin_registered(EchoPlugin(), name="echo"):
        result = invoke(["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {p["name"]: p for p in data["plugins"]}
    assert rows["ext"]["version"] == "2.0" and rows["ext"]["distribution"] == "promptyard-ext"
    assert rows["ext"]["registered"] == {"metrics": ["ext_metric"]}
    assert rows["ext"]["hooks"] == ["register_metrics"]
    assert rows["echo"]["origin"] == "runtime"
    assert data["failures"] == [{"plugin": "broken", "stage": "import",
                                 "error": "import failed: RuntimeError: cannot start",
                                 "distribution": "promptyard-broken", "version": "2.0"}]
    # the start-up warning: one line per failed plugin on stderr, no traceback
    assert result.stderr == "warning: plugin 'broken' skipped: import failed: RuntimeError: cannot start\n"


def test_list_table_names_every_plugin_and_failure(fresh_host):
    install(fresh_host, "ext", "pyplug_ext", GOOD)
    install(fresh_host, "broken", "pyplug_broken", "raise RuntimeError('cannot start')\n")
    result = invoke(["plugins", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    start = lines.index("ext 2.0 (promptyard-ext)")  # after the built-ins
    assert lines[start:] == [
        "ext 2.0 (promptyard-ext)",
        "  hooks: register_metrics",
        "  metrics: ext_metric",
        "failed broken (promptyard-broken 2.0) at import: import failed: RuntimeError: cannot start",
    ]


def test_debug_shows_the_traceback_of_a_failed_plugin(fresh_host):
    install(fresh_host, "broken", "pyplug_broken", "raise RuntimeError('cannot start')\n")
    result = invoke(["--debug", "plugins", "list", "--json"])
    assert "Traceback" in result.stderr and "pyplug_broken.py" in result.stderr


@pytest.mark.parametrize("how", ["--no-plugins", "PROMPTYARD_PLUGINS=none", "PROMPTYARD_PLUGINS=other"])
def test_external_plugins_can_be_turned_off(fresh_host, monkeypatch, how):
    install(fresh_host, "ext", "pyplug_ext", GOOD)
    assert "ext" in [p["name"] for p in json.loads(invoke(["plugins", "list", "--json"]).stdout)["plugins"]]
    args = ["plugins", "list", "--json"]
    if how.startswith("--"):
        args.insert(0, how)
    else:
        monkeypatch.setenv(*how.split("="))
        reset_host()
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "ext" not in [p["name"] for p in json.loads(result.stdout)["plugins"]]


def test_duplicate_contribution_is_a_one_line_startup_error(fresh_host):
    install(fresh_host, "first", "pyplug_first", GOOD)
    install(fresh_host, "second", "pyplug_second", GOOD)
    result = invoke(["plugins", "list"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "error: metric 'ext_metric' is registered by both plugin 'first' and plugin 'second'")


def test_hooks_lists_every_signature():
    result = invoke(["plugins", "hooks", "--json"])
    assert "register_commands(app: Any) -> None" in json.loads(result.stdout)


# -- register_commands ----------------------------------------------------------------------------


class CommandPlugin:
    @hookimpl
    def register_commands(self, app):
        @app.command(name="shout")
        def shout(word: str) -> None:
            """Print WORD in capitals."""
            print(word.upper())


class RaisingCommandPlugin:
    @hookimpl
    def register_commands(self, app):
        raise RuntimeError("no commands today")


class ClashingCommandPlugin:
    @hookimpl
    def register_commands(self, app):
        app.add_typer(typer.Typer(), name="plugins")


def test_plugin_command_exists_only_while_registered():
    with plugin_registered(CommandPlugin(), name="loud"):
        result = invoke(["shout", "hello"])
        assert (result.exit_code, result.stdout) == (0, "HELLO\n")
        assert "shout" in invoke(["--help"]).stdout
    assert invoke(["shout", "hello"]).exit_code != 0


def test_raising_register_commands_is_reported_and_the_cli_works():
    with plugin_registered(RaisingCommandPlugin(), name="mute"):
        result = invoke(["plugins", "hooks"])
    assert result.exit_code == 0
    assert ("warning: plugin 'mute' failed in register_commands: RuntimeError: no commands today"
            in result.stderr.splitlines())
    assert not [f for f in get_host().failures if f.plugin == "mute"]  # gone with the plugin


def test_command_name_clash_names_both():
    with plugin_registered(ClashingCommandPlugin(), name="clash"):
        result = invoke(["plugins", "hooks"])
    assert result.exit_code == 1
    assert "command 'plugins' is added by both promptyard and plugin 'clash'" in result.stderr


# -- plugins new ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "has_metric", "has_task"),
    [("both", True, True), ("metric", True, False), ("task", False, True)],
)
def test_new_writes_a_package(tmp_path, kind, has_metric, has_task):
    result = invoke(["plugins", "new", "acme-tools", "--dir", str(tmp_path / "out"), "--kind", kind])
    assert result.exit_code == 0, result.output
    root = tmp_path / "out" / "promptyard-acme-tools"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/promptyard_acme_tools/__init__.py",
                     "tests/test_promptyard_acme_tools.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.promptyard]\nacme-tools = "promptyard_acme_tools"' in pyproject
    module = (root / "src/promptyard_acme_tools/__init__.py").read_text()
    compile(module, "module", "exec")
    compile((root / "tests/test_promptyard_acme_tools.py").read_text(), "test", "exec")
    assert ("def register_metrics" in module, "def register_task_types" in module) == (has_metric, has_task)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plugins", "new", "Bad Name"], "plugin name 'bad name' is not valid"),
        (["plugins", "new", "ok", "--kind", "model"], "unknown kind 'model'"),
    ],
)
def test_new_rejects_bad_input(tmp_path, args, message):
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(args + ["--dir", str(out)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(out.iterdir()) == []


def test_new_refuses_to_overwrite(tmp_path):
    assert invoke(["plugins", "new", "acme", "--dir", str(tmp_path)]).exit_code == 0
    result = invoke(["plugins", "new", "acme", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.stderr


@pytest.mark.slow
def test_new_packages_pass_their_own_tests_for_every_kind(tmp_path):
    """The generated tests pass for each --kind (before install: the `plugin` fixture registers the module).

    The installed case, through the entry points, is in tests/plugins/test_third_party.py.
    """
    import os
    import subprocess
    from pathlib import Path

    roots = []
    for kind in ("both", "metric", "task"):
        assert invoke(["plugins", "new", f"kind-{kind}", "--dir", str(tmp_path / "out"), "--kind", kind]).exit_code == 0
        roots.append(tmp_path / "out" / f"promptyard-kind-{kind}")
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(r / "src") for r in roots] + [str(src)]),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # load the fixtures the same way with or without the entry point
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "promptyard.testing._pytest_plugin", "-p", "no:cacheprovider",
         *[str(r / "tests") for r in roots]],
        cwd=tmp_path / "out", env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 passed" in result.stdout and "skipped" not in result.stdout  # 5 + 4 + 2 tests
