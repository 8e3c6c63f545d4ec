"""Plain templates (text and ``{{ name }}`` only) render without Jinja2, exactly as the sandbox does."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jinja2.defaults
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import promptyard.core.render as render_module
from promptyard.core.errors import PromptyardError
from promptyard.core.host import PluginHost, get_host
from promptyard.core.plain import BUILTIN_GLOBALS, JINJA_GLOBALS, plain_pieces
from promptyard.core.render import check_template, prepare, render
from promptyard.core.sandbox import build_env
from promptyard.core.sandbox_limits import SandboxLimits
from promptyard.core.template import Part, Template, Variable

SRC = str(Path(render_module.__file__).resolve().parents[2])


@contextlib.contextmanager
def jinja_only() -> Iterator[None]:
    """Every template through the Jinja path (the plain path finds nothing plain)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(render_module, "plain_sources", lambda sources, reserved: None)
        mp.setattr(render_module, "_prepared", type(render_module._prepared)())
        mp.setattr(render_module, "_fallback", type(render_module._fallback)())
        yield


def outcome(fn, *args, **kwargs):
    """What a call gives: its result, or the error's type, message, place and limit."""
    try:
        return ("ok", fn(*args, **kwargs))
    except PromptyardError as exc:
        return ("error", type(exc).__name__, str(exc), exc.where, getattr(exc, "limit", None))


def both(t: Template, variables=None, limits=None):
    plain = (outcome(check_template, t), outcome(render, t, variables, limits=limits))
    with jinja_only():
        jinja = (outcome(check_template, t), outcome(render, t, variables, limits=limits))
    return plain, jinja


# -- generated templates and values ------------------------------------------------------------------

NAMES = ["x", "y", "long_name2", "B", "range", "labels_of", "true", "None", "self", "loop", "_x"]
TEXT = st.lists(st.sampled_from(list("ab é\t\n\r{}%#-+|.") + ["\r\n", "}}", "{ ", " }", "%}", "#}"]),
                max_size=8).map("".join)
PLACEHOLDER = st.builds(lambda n, a, b: "{{" + a + n + b + "}}", st.sampled_from(NAMES),
                        st.sampled_from(["", " ", "  ", "\t"]), st.sampled_from(["", " ", "\t "]))
SOURCE = st.lists(st.one_of(TEXT, PLACEHOLDER), max_size=6).map("".join)
SCALAR = st.one_of(st.text(max_size=8), st.integers(min_value=-10**30, max_value=10**30),
                   st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.text(alphabet="é€\U0001f600\n\r", max_size=4))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                     max_leaves=12)
LIMITS = st.one_of(st.none(), st.builds(lambda text, built: SandboxLimits(max_text=text, max_built=built),
                                        st.integers(1, 60), st.integers(1, 120)))


@st.composite
def values_for(draw, *sources: str) -> dict:
    """Values for the names the sources use: now and then one left out, or one too many."""
    used = [n for n in NAMES[:4] if any(re.search(rf"\b{n}\b", source) for source in sources)]
    values = {n: draw(VALUE) for n in used if draw(st.sampled_from([True] * 5 + [False]))}
    if draw(st.sampled_from([False] * 5 + [True])):
        values["extra"] = 1
    return values


class fixed:  # noqa: N801 - stands in for st.data() in the explicit examples
    def __init__(self, values: dict):
        self.values = values

    def draw(self, _strategy):
        return self.values


def _equal(a, b) -> bool:
    # nan != nan: compare what was printed, and the rest as JSON
    return json.dumps(a, default=repr) == json.dumps(b, default=repr)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=SOURCE, data=st.data(), limits=LIMITS)
@example(source="a\r\n{{ x }}\n", data=fixed({"x": 1}), limits=None)
@example(source="{{{ x }}", data=fixed({"x": 1}), limits=None)
@example(source="{ {{x}} }}}", data=fixed({"x": [1, "a"]}), limits=None)
@example(source="{{ x }}{{ y }}", data=fixed({"x": "a" * 30, "y": 1.5}), limits=SandboxLimits(max_text=20))
@example(source="ab\n{{ x }}", data=fixed({"x": list(range(40))}), limits=SandboxLimits(max_text=30))
def test_single_templates_render_the_same_through_both_paths(source, data, limits):
    variables = data.draw(values_for(source))
    t = Template(text=source)
    plain, jinja = both(t, variables, limits)
    assert _equal(plain, jinja), (plain, jinja)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=SOURCE, user=SOURCE, data=st.data(), limits=LIMITS)
def test_multi_templates_render_the_same_through_both_paths(system, user, data, limits):
    variables = data.draw(values_for(system, user))
    t = Template(kind="multi", parts=[Part("system", system), Part("user", user)])
    plain, jinja = both(t, variables, limits)
    assert _equal(plain, jinja), (plain, jinja)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=SOURCE, data=st.data(), required=st.booleans(), vtype=st.sampled_from(["str", "int", "list"]))
def test_declared_contracts_render_the_same_through_both_paths(source, data, required, vtype):
    variables = data.draw(values_for(source))
    t = Template(text=source, variables=[Variable(name="x", type=vtype, required=required),
                                         Variable(name="y", required=False)])
    plain, jinja = both(t, variables)
    assert _equal(plain, jinja), (plain, jinja)


def test_the_generated_templates_do_reach_the_plain_path():
    # without this the equivalence above could hold because everything went to Jinja2
    for source in ["say {{ x }}", "a\r\n{{ long_name2 }}\r\n\n", "{ x } }} %} #}", "{{x}}{{\ty }}", ""]:
        t = Template(text=source)
        assert prepare(t).printed is not None, source
    for source in ["{{ x|upper }}", "{{ x.y }}", "{% if x %}{% endif %}", "{# c #}", "{{- x }}", "{{ true }}",
                   "{{ range }}", "{{ labels_of }}", "{{{ x }}", "{{ x\n}}", "{{ _x }}"]:
        assert plain_pieces(source) is None or prepare(Template(text=source)).printed is None, source


def test_an_optional_variable_left_out_goes_to_jinja_and_reads_the_same():
    t = Template(text="a {{ x }}", variables=[Variable(name="x", required=False)])
    plain, jinja = both(t, {})
    assert plain == jinja and plain[1][0] == "error" and "'x' is undefined" in plain[1][2]


def test_limit_errors_name_the_same_limit_and_place():
    t = Template(text="line one\n{{ x }}")
    plain, jinja = both(t, {"x": list(range(100))}, SandboxLimits(max_text=50))
    assert plain == jinja
    assert plain[1][1:] == ("LimitExceeded", plain[1][2], "text line 2", "max_text")


def test_nan_prints_as_the_sandbox_prints_it():
    assert render(Template(text="{{ x }}"), {"x": math.nan}).text == "nan"


# -- the reserved names ----------------------------------------------------------------------------

def test_the_global_name_constants_match_a_real_sandbox():
    assert JINJA_GLOBALS == frozenset(jinja2.defaults.DEFAULT_NAMESPACE) == build_env().builtin_names
    builtins_only = PluginHost(load_external=False)
    assert build_env(builtins_only.table("template_filters").entries()).builtin_names == BUILTIN_GLOBALS


def test_a_global_registered_at_run_time_is_no_variable_on_the_plain_path():
    from promptyard import hookimpl

    class Shout:
        @hookimpl
        def register_template_filters(self, register):
            register("greeting", "hello from a plugin", kind="global")

    t = Template(text="{{ greeting }}, {{ x }}")
    before = [v.name for v in check_template(t)]
    host = get_host()
    host.register(Shout(), name="shout-example")
    try:
        assert [v.name for v in check_template(t)] == ["x"]
        assert render(t, {"x": "you"}).text == "hello from a plugin, you"
    finally:
        host.unregister(name="shout-example")
    assert before == ["greeting", "x"] and [v.name for v in check_template(t)] == before


# -- what a cold process imports -------------------------------------------------------------------

PROBE = """
import json, sys
from promptyard.core.template import Template, Part
from promptyard.core.render import render, check_template
t = Template(text=sys.argv[1])
print(render(t, {v.name: 1 for v in check_template(t)}).text)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _cold(source: str, env: dict[str, str]) -> tuple[str, set[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, source], capture_output=True, text=True, env=env, check=True)
    text, modules = out.stdout.rsplit("\n", 2)[:2]
    return text, set(json.loads(modules))


@pytest.fixture
def cold_env(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC, "PROMPTYARD_HOME": str(tmp_path / "home")}
    env.pop("PROMPTYARD_PLUGINS", None)
    env.pop("PROMPTYARD_CACHE", None)
    return env


def test_a_plain_render_imports_neither_jinja_nor_the_plugin_host(cold_env):
    text, loaded = _cold("say {{ x }}\n", cold_env)
    assert text == "say 1"
    assert not loaded & {"jinja2", "pluggy", "markupsafe", "logging"}, loaded & {"jinja2", "pluggy", "logging"}


def test_a_filter_loads_jinja_and_the_plugin_host(cold_env):
    text, loaded = _cold("{{ x|string|upper }}", cold_env)
    assert text == "1"
    assert {"jinja2", "pluggy"} <= loaded


def test_an_installed_plugin_makes_a_plain_render_consult_the_host(cold_env, site):
    from tests.core.plugin_site import install

    install(site, "pyplug-greet", "greet", "pyplug_greet",
            "from promptyard import hookimpl\n\n"
            "@hookimpl\n"
            "def register_template_filters(register):\n"
            "    register('x', 'the global', kind='global')\n")
    cold_env["PYTHONPATH"] = os.pathsep.join([SRC, str(site)])
    text, loaded = _cold("say {{ x }}", cold_env)
    assert text == "say the global" and "pluggy" in loaded
    cold_env["PROMPTYARD_PLUGINS"] = "none"
    text, loaded = _cold("say {{ x }}", cold_env)
    assert text == "say 1" and "pluggy" not in loaded
