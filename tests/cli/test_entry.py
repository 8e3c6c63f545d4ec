"""The script's fast path for ``prompt render`` and the typer command print the same things."""

from __future__ import annotations

import pytest

from promptyard.cli.entry import main as fast_main
from promptyard.cli.entry import parse_render_args
from promptyard.testing import invoke

FILES = {
    "typed.yaml": "kind: single\nvariables:\n  - {name: n, type: int}\ntext: 'n+1={{ n + 1 }}'\n",
    "chat.yaml": "kind: multi\nparts:\n  - {role: system, text: Be brief.}\n  - {role: user, text: '{{ x }}'}\n",
    "dyn.yaml": "kind: dynamic\nselector: random\nk: 1\nexamples: [{text: a}, {text: b}, {text: c}]\n"
                "text: '{% for e in examples %}{{ e.text }}{% endfor %}:{{ x }}'\n",
    "vars.json": '{"x": "from file"}',
    "bad.json": "{x: 1",
    "latin1.json": '{"x": "caf\xe9"}'.encode("latin-1"),
}

R = ["prompt", "render"]
# (argument list, stdin): each one the fast path handles itself
CASES = [
    (R + ["p", "-v", "x=1"], None),
    (R + ["p", "--var=x=1", "--json"], None),
    (R + ["p@1", "--var", "x=a=b"], None),
    (R + ["p", "-v", "x=1", "-v", "y=2"], None),  # extra variable
    (R + ["p"], None),  # missing variable
    (R + ["p", "-v", "x"], None),
    (R + ["p", "-v", "=1"], None),
    (R + ["p", "--vars", "vars.json"], None),
    (R + ["p", "--vars", "missing.json"], None),
    (R + ["p", "--vars", "bad.json"], None),
    (R + ["p", "--vars", "latin1.json"], None),
    (R + ["p", "--vars", "-"], '{"x": "stdin"}'),
    (R + ["p"], '{"x": 3}'),
    (R + ["p"], "[1]"),
    (R + ["typed", "-v", "n=3"], None),
    (R + ["typed", "-v", "n=three"], None),
    (R + ["chat", "-v", "x=hi"], None),
    (R + ["dyn", "-v", "x=q", "--seed", "3"], None),
    (R + ["dyn", "-v", "x=q", "--seed", "-1", "--json"], None),
    (R + ["nope"], None),
    (R + ["p@sha:zz"], None),
    (R + [""], None),
    (["--registry", "elsewhere/registry.db"] + R + ["p", "-v", "x=1"], None),
]
# what the fast path leaves to typer (which explains the mistake or shows help)
FALLBACK = [R + ["p", "--seed", "1.5"], R + ["p", "--seed", "²"], R + ["p", "--help"], R + ["p", "q"],
            R + ["p", "-v"], ["--debug"] + R + ["p"], ["--registry=x.db"] + R + ["p"], ["prompt", "show", "p"]]


@pytest.fixture
def prompts(tmp_path):
    for name, content in FILES.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    assert invoke(["init"]).exit_code == 0
    for name, source in (("p", ["--text", "say {{ x }}"]), ("typed", ["typed.yaml"]), ("chat", ["chat.yaml"]),
                         ("dyn", ["dyn.yaml"])):
        assert invoke(["prompt", "commit", name, *source]).exit_code == 0


@pytest.mark.parametrize(("args", "stdin"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_fast_path_matches_the_typer_command(prompts, args, stdin):
    assert parse_render_args(args) is not None, "the fast path no longer handles this"
    fast = invoke(args, input=stdin, entry=fast_main)
    typed = invoke(args, input=stdin)
    assert (fast.exit_code, fast.stdout, fast.stderr) == (typed.exit_code, typed.stdout, typed.stderr)
    if fast.exit_code:
        assert fast.stderr.startswith("error: ") and fast.stderr.count("\n") == 1, fast.stderr
    else:
        assert fast.stdout and not fast.stderr


def test_successes_and_failures_are_both_in_the_table(prompts):
    codes = [invoke(args, input=stdin, entry=fast_main).exit_code for args, stdin in CASES]
    assert codes.count(0) >= 8 and len(codes) - codes.count(0) >= 8


@pytest.mark.parametrize("args", FALLBACK, ids=" ".join)
def test_anything_else_goes_to_typer(args):
    assert parse_render_args(args) is None


def test_a_broken_plugin_is_reported_on_the_fast_path_too(prompts):
    from promptyard import hookimpl
    from promptyard.core.host import get_host

    class Broken:
        @hookimpl
        def register_metrics(self, register):
            raise RuntimeError("boom")

    host = get_host()
    host.register(Broken(), name="broken-example")
    try:
        fast = invoke(R + ["p", "-v", "x=1"], entry=fast_main)
        typed = invoke(R + ["p", "-v", "x=1"])
    finally:
        host.failures = [f for f in host.failures if f.plugin != "broken-example"]
    assert fast.stderr == typed.stderr
    assert "warning: plugin 'broken-example' skipped: register_metrics raised RuntimeError: boom" in fast.stderr
    assert fast.stdout == "say 1\n"


def test_a_render_error_names_the_version_and_every_problem(prompts):
    result = invoke(R + ["typed", "-v", "n=three", "-v", "extra=1"], entry=fast_main)
    assert result.exit_code == 1
    assert result.stderr == ("error: typed@1: bad variables: variable 'n' must be int, got str ('three'); "
                             "unexpected variable 'extra' (the template takes: n)\n")


# -- cold processes: the fast path builds the plugin host only when plugins may matter ----------------

COLD = ["-m", "promptyard.cli", *R, "p", "-v", "x=1"]
TYPER = ["-c", "import sys; from promptyard.cli.main import main; main(sys.argv[1:])", *R, "p", "-v", "x=1"]


def _cold(args, env):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_a_broken_installed_plugin_is_reported_by_a_cold_fast_path_as_by_typer(prompts, site, child_env):
    import os

    from tests.core.plugin_site import install

    child_env["PYTHONPATH"] = os.pathsep.join([child_env["PYTHONPATH"], str(site)])
    child_env.pop("PROMPTYARD_PLUGINS", None)
    install(site, "pyplug-broken", "broken", "pyplug_broken", "raise RuntimeError('boom at import')\n")
    fast, typed = _cold(COLD, child_env), _cold(TYPER, child_env)
    assert fast == typed
    assert fast[1] == "say 1\n" and "warning: plugin 'broken' skipped: import failed: RuntimeError: boom" in fast[2]


def test_a_plugin_allow_list_naming_no_installed_plugin_is_reported_on_the_fast_path(prompts, child_env):
    child_env["PROMPTYARD_PLUGINS"] = "no-such-plugin"
    fast, typed = _cold(COLD, child_env), _cold(TYPER, child_env)
    assert fast == typed and "PROMPTYARD_PLUGINS names it" in fast[2]
