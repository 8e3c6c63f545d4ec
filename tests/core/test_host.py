"""The plugin host: contributions, duplicates, discovery through entry points, and failures."""

from __future__ import annotations

import os

import pytest

from promptyard import hookimpl
from promptyard.core.errors import PluginError, UnknownNameError
from promptyard.core.host import PluginHost, hook_names, hook_signature
from tests.core.plugin_site import install


class _Metric:
    name = "always_one"
    higher_is_better = True

    def compute(self, predictions, references, **kw):
        return {"always_one": 1.0}


class MetricPlugin:
    @hookimpl
    def register_metrics(self, register):
        register(_Metric())


class SameNamePlugin:
    @hookimpl
    def register_metrics(self, register):
        register(_Metric())


class RaisingPlugin:
    @hookimpl
    def register_metrics(self, register):
        raise RuntimeError("boom")


def test_contribution_is_attributed_and_looked_up():
    host = PluginHost(load_external=False, default_plugins=())
    host.register(MetricPlugin(), name="metric-plugin")
    assert host.table("metrics").get("always_one").compute([], []) == {"always_one": 1.0}
    entry = next(e for e in host.table("metrics").entries() if e.name == "always_one")
    assert entry.plugin == "metric-plugin"


def test_duplicate_name_names_both_plugins():
    host = PluginHost(load_external=False, default_plugins=())
    host.register(MetricPlugin(), name="first")
    with pytest.raises(PluginError, match="'first'.*'second'"):
        host.register(SameNamePlugin(), name="second")


def test_raising_plugin_is_reported_and_skipped():
    host = PluginHost(load_external=False, default_plugins=())
    host.register(RaisingPlugin(), name="broken")
    host.register(MetricPlugin(), name="good")
    assert [f.plugin for f in host.failures] == ["broken"]
    assert "boom" in host.failures[0].error
    assert "always_one" in host.table("metrics")


def test_unknown_name_lists_known():
    host = PluginHost(load_external=False, default_plugins=())
    with pytest.raises(UnknownNameError, match="unknown metric 'nope'"):
        host.table("metrics").get("nope")


# -- loading: built-ins, entry points, the allow-list, validation ------------------------------------

GOOD_MODULE = '''
from promptyard import hookimpl

class Metric:
    name = "{metric}"
    higher_is_better = True
    def compute(self, predictions, references, **kw):
        return {{"{metric}": float(sum(p == r for p, r in zip(predictions, references)))}}

@hookimpl
def register_metrics(register):
    register(Metric())
'''


def test_entry_point_plugin_is_loaded_with_its_version(site):
    install(site, "promptyard-good", "good", "pyplug_good", GOOD_MODULE.format(metric="m_good"))
    host = PluginHost(default_plugins=())
    assert host.table("metrics").get("m_good").compute([1, 2], [1, 3]) == {"m_good": 1.0}
    (row,) = [r for r in host.describe() if r["name"] == "good"]
    assert row == {"name": "good", "origin": "external", "module": "pyplug_good",
                   "distribution": "promptyard-good", "version": "1.2.3",
                   "hooks": ["register_metrics"], "registered": {"metrics": ["m_good"]}}
    assert host.failures == []


@pytest.mark.parametrize(
    ("allow", "loaded"),
    [
        (None, {"one", "two"}),
        ("one", {"one"}),
        ("promptyard-two", {"two"}),  # the distribution name works too
        (" one , two ", {"one", "two"}),
        ("none", set()),
        ("", set()),
        ("nothing-installed", set()),
    ],
)
def test_allow_list(site, monkeypatch, allow, loaded):
    install(site, "promptyard-one", "one", "pyplug_one", GOOD_MODULE.format(metric="m_one"))
    install(site, "promptyard-two", "two", "pyplug_two", GOOD_MODULE.format(metric="m_two"))
    if allow is None:
        monkeypatch.delenv("PROMPTYARD_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("PROMPTYARD_PLUGINS", allow)
    host = PluginHost(default_plugins=())
    assert {n for n in host.plugin_names() if n in ("one", "two")} == loaded
    assert {m[2:] for m in host.table("metrics").names()} == loaded


def test_load_external_false_ignores_entry_points(site):
    install(site, "promptyard-one", "one", "pyplug_one", GOOD_MODULE.format(metric="m_one"))
    assert "one" not in PluginHost(load_external=False, default_plugins=()).plugin_names()


IMPL = "from promptyard import hookimpl\n@hookimpl\n"

BROKEN = [
    # (what is wrong, module source, stage, message fragment)
    ("raises at import", "raise ImportError('needs libfoo')\n", "import",
     "import failed: ImportError: needs libfoo"),
    ("misspelt hook", IMPL + "def register_metric(register):\n    pass\n",
     "check", "unknown hook 'register_metric' (did you mean 'register_metrics'?)"),
    ("hook without @hookimpl", "def register_metrics(register):\n    raise AssertionError('never called')\n",
     "check", "'register_metrics' is not marked with @hookimpl (from promptyard import hookimpl)"),
    ("wrong argument name", IMPL + "def register_metrics(registr):\n    pass\n",
     "register", "registration failed: PluginValidationError"),
    ("raises in a register hook",
     IMPL + "def register_metrics(register):\n    raise KeyError('x')\n",
     "register_metrics", "register_metrics raised KeyError: 'x'"),
    ("registers an object that is not a metric",
     "from promptyard import hookimpl\nclass M:\n    name = 'half'\n@hookimpl\n"
     "def register_metrics(register):\n    register(M())\n",
     "register_metrics", "metric 'half' lacks higher_is_better, compute"),
    ("registers a nameless object",
     IMPL + "def register_task_types(register):\n    register(object())\n",
     "register_task_types", "has no 'name' attribute"),
]


@pytest.mark.parametrize(("what", "source", "stage", "fragment"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_external_plugin_is_reported_and_skipped(site, what, source, stage, fragment):
    install(site, "promptyard-good", "good", "pyplug_good", GOOD_MODULE.format(metric="m_good"))
    install(site, "promptyard-broken", "broken", "pyplug_broken", source, version="0.0.1")
    host = PluginHost(default_plugins=())
    (failure,) = host.failures
    assert (failure.plugin, failure.stage, failure.distribution, failure.version) == (
        "broken", stage, "promptyard-broken", "0.0.1")
    assert fragment in failure.error
    assert "\n" not in failure.error and "Traceback" not in failure.error
    assert failure.message().startswith("warning: plugin 'broken' skipped: ")
    assert "broken" not in host.plugin_names()  # skipped entirely, not half-registered
    assert "m_good" in host.table("metrics")  # and the rest keeps working


def test_raising_builtin_is_reported_and_the_rest_loads(site):
    (site / "pyplug_bad_builtin.py").write_text("raise RuntimeError('bug in a built-in')\n")
    (site / "pyplug_ok_builtin.py").write_text(GOOD_MODULE.format(metric="m_builtin"))
    host = PluginHost(load_external=False, default_plugins=("pyplug_bad_builtin", "pyplug_ok_builtin"))
    assert [(f.plugin, f.distribution) for f in host.failures] == [("pyplug_bad_builtin", "promptyard")]
    assert "bug in a built-in" in host.failures[0].error
    assert host.table("metrics").names() == ["m_builtin"]
    (row,) = host.describe()
    assert (row["origin"], row["distribution"]) == ("builtin", "promptyard")


def test_duplicate_between_builtin_and_external_is_a_startup_error(site):
    (site / "pyplug_builtin.py").write_text(GOOD_MODULE.format(metric="shared"))
    install(site, "promptyard-copycat", "copycat", "pyplug_copycat", GOOD_MODULE.format(metric="shared"))
    with pytest.raises(PluginError, match="metric 'shared' is registered by both plugin 'pyplug_builtin' "
                                          "and plugin 'copycat'"):
        PluginHost(default_plugins=("pyplug_builtin",))


def test_entry_point_name_taken_twice_is_reported(site):
    install(site, "promptyard-a", "same", "pyplug_a", GOOD_MODULE.format(metric="m_a"))
    install(site, "promptyard-b", "same", "pyplug_b", GOOD_MODULE.format(metric="m_b"))
    host = PluginHost(default_plugins=())
    (failure,) = host.failures
    assert "plugin name 'same' is already taken by promptyard-a" in failure.error
    assert host.table("metrics").names() == ["m_a"]


def test_runtime_duplicate_leaves_the_host_as_it_was():
    host = PluginHost(load_external=False, default_plugins=())
    host.register(MetricPlugin(), name="first")
    with pytest.raises(PluginError):
        host.register(SameNamePlugin(), name="second")
    assert host.plugin_names() == ["first"]
    assert [e.plugin for e in host.table("metrics").entries()] == ["first"]


def test_runtime_register_twice_is_a_plugin_error():
    host = PluginHost(load_external=False, default_plugins=())
    plugin = MetricPlugin()
    host.register(plugin, name="once")
    with pytest.raises(PluginError, match="cannot register plugin"):
        host.register(plugin, name="twice")


def test_observer_failure_is_reported_not_raised(caplog):
    seen = []

    class Good:
        @hookimpl
        def on_eval_finished(self, run):
            seen.append(run)

    class Bad:
        @hookimpl
        def on_eval_finished(self, run):
            raise ValueError("observer broke")

    host = PluginHost(load_external=False, default_plugins=())
    host.register(Bad(), name="bad")
    host.register(Good(), name="good")
    failures = host.call_observers("on_eval_finished", run="run-1")
    assert seen == ["run-1"]
    assert [(f.plugin, f.stage) for f in failures] == [("bad", "on_eval_finished")]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "warning: plugin 'bad' failed in on_eval_finished: ValueError: observer broke")]


def test_hook_signature_is_the_source_text():
    assert hook_signature("register_task_types") == "register_task_types(register: Register) -> None"
    assert hook_signature("on_label_moved") == "on_label_moved(registry: Any, move: Any) -> None"
    assert hook_names()[0] == "register_task_types" and "on_eval_finished" in hook_names()


def _write_dist(site, name):
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[promptyard]\n{name} = {name}_mod\n")


def _ours(rows):
    return [row[:2] for row in rows if row[0].startswith("py")]


def test_entry_point_discovery_is_cached_and_sees_installs_upgrades_and_removals(tmp_path, monkeypatch):
    import importlib.metadata
    import shutil

    from promptyard.core.host import discover_entry_points

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    _write_dist(site, "pyfirst")
    assert _ours(discover_entry_points()) == [("pyfirst", "pyfirst_mod")]
    assert len(list((tmp_path / "cache" / "plugins").glob("entry-points-*.json"))) == 1

    scans = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: scans.append(kw) or real(**kw))
    # unrelated files on the path (a registry written in the current folder) keep the cache
    (site / "notes.txt").write_text("x")
    (site / "pkg").mkdir()
    assert _ours(discover_entry_points()) == [("pyfirst", "pyfirst_mod")]
    assert scans == []
    # an install adds a dist-info folder: seen on the next call
    _write_dist(site, "pysecond")
    assert _ours(discover_entry_points()) == [("pyfirst", "pyfirst_mod"), ("pysecond", "pysecond_mod")]
    assert ("pysecond", "pysecond_mod", "pysecond", "1.0") in discover_entry_points()
    assert len(scans) == 1  # the second call was a cache hit again
    # an upgrade in place rewrites entry_points.txt
    eps = site / "pysecond-1.0.dist-info" / "entry_points.txt"
    eps.write_text("[promptyard]\npysecond = pysecond_new\n")
    stat = eps.stat()
    os.utime(eps, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # coarse file-system clocks
    assert ("pysecond", "pysecond_new") in _ours(discover_entry_points())
    # a removal takes its dist-info folder away
    shutil.rmtree(site / "pyfirst-1.0.dist-info")
    assert _ours(discover_entry_points()) == [("pysecond", "pysecond_new")]


def test_each_sys_path_keeps_its_own_entry_point_cache(tmp_path, monkeypatch):
    from promptyard.core.host import discover_entry_points

    site = tmp_path / "site"
    site.mkdir()
    _write_dist(site, "pyfirst")
    monkeypatch.syspath_prepend(str(site))
    discover_entry_points()
    monkeypatch.syspath_prepend(str(tmp_path))  # `python -m` and a console script start with different entries
    discover_entry_points()
    assert len(list((tmp_path / "cache" / "plugins").glob("entry-points-*.json"))) == 2
