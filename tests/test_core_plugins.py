from __future__ import annotations

import pytest

from promptyard import hookimpl
from promptyard.core.errors import PluginError, UnknownNameError
from promptyard.core.plugins import PluginHost


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
    host = PluginHost(load_external=False)
    host.register(MetricPlugin(), name="metric-plugin")
    assert host.table("metrics").get("always_one").compute([], []) == {"always_one": 1.0}
    entry = next(e for e in host.table("metrics").entries() if e.name == "always_one")
    assert entry.plugin == "metric-plugin"


def test_duplicate_name_names_both_plugins():
    host = PluginHost(load_external=False)
    host.register(MetricPlugin(), name="first")
    with pytest.raises(PluginError, match="'first'.*'second'"):
        host.register(SameNamePlugin(), name="second")


def test_raising_plugin_is_reported_and_skipped():
    host = PluginHost(load_external=False)
    host.register(RaisingPlugin(), name="broken")
    host.register(MetricPlugin(), name="good")
    assert [f.plugin for f in host.failures] == ["broken"]
    assert "boom" in host.failures[0].error
    assert "always_one" in host.table("metrics")


def test_unknown_name_lists_known():
    host = PluginHost(load_external=False)
    with pytest.raises(UnknownNameError, match="unknown metric 'nope'"):
        host.table("metrics").get("nope")
