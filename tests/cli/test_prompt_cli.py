"""``promptyard prompt …`` and ``promptyard init`` through the real CLI, in-process and cold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from promptyard.testing import invoke
from tests.registry.helpers import KINDS, TEMPLATES, dump

ROOT = Path(__file__).resolve().parents[2]


def ok(*args: str, input: str | None = None) -> str:
    result = invoke(list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(*args: str, code: int = 1, input: str | None = None) -> str:
    result = invoke(list(args), input=input)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.fixture
def repo(tmp_path):
    ok("init")
    return tmp_path / ".promptyard" / "registry.db"


def write_template(folder: Path, kind: str, word: str) -> Path:
    path = folder / f"{kind}-{word}.yaml"
    path.write_text(yaml.safe_dump({**TEMPLATES[kind](word).to_dict(), "description": f"{kind} demo",
                                    "tags": ["demo", kind]}))
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_add_commit_show_render_for_every_kind(repo, tmp_path, kind):
    assert "added p@1" in ok("prompt", "add", "p", str(write_template(tmp_path, kind, "Sort")), "--task-type", "cls")
    assert "committed p@2" in ok("prompt", "commit", "p", str(write_template(tmp_path, kind, "Rank")), "-m", "two")
    assert "nothing to commit: identical to p@2" in ok("prompt", "commit", "p", str(write_template(tmp_path, kind,
                                                                                                     "Rank")))
    shown = json.loads(ok("prompt", "show", "p@2", "--json"))
    assert (shown["number"], shown["message"], shown["content"]["kind"], shown["tags"]) == (2, "two", kind,
                                                                                          ["demo", kind])
    out = ok("prompt", "render", "p@1", "-v", "x=hello")
    if kind == "multi":
        assert json.loads(out) == [{"role": "system", "content": "You are Sort."}, {"role": "user", "content": "hello"}]
    else:
        assert "hello" in out and "Sort" in out
    listed = json.loads(ok("prompt", "list", "--kind", kind, "--json"))
    assert [(i["name"], i["latest"], i["task_type"]) for i in listed] == [("p", 2, "cls")]


def test_render_takes_variables_from_flags_file_and_stdin(repo, tmp_path):
    ok("prompt", "commit", "p", "--text", "{{ a }}-{{ b }}")
    assert ok("prompt", "render", "p", "-v", "a=1", "-v", "b=2") == "1-2\n"
    (tmp_path / "vars.json").write_text('{"a": "x", "b": "y"}')
    assert ok("prompt", "render", "p", "--vars", str(tmp_path / "vars.json")) == "x-y\n"
    assert ok("prompt", "render", "p", input='{"a": "s", "b": "t"}') == "s-t\n"
    rendered = json.loads(ok("prompt", "render", "p", "-v", "a=1", "-v", "b=2", "--json"))
    assert rendered["text"] == "1-2"


def test_label_rollback_log_diff_archive(repo):
    ok("prompt", "commit", "p", "--text", "one {{ x }}", "-m", "first")
    ok("prompt", "commit", "p", "--text", "two {{ x }} {{ y }}", "-m", "second")
    assert "staging: - -> 2" in ok("prompt", "label", "p@2", "staging")
    fails("prompt", "label", "p@1", "production")  # protected, and stdin is not a terminal
    ok("prompt", "label", "p@1", "production", "--force", "--reason", "launch")
    ok("prompt", "label", "p@2", "production", "--force")
    assert "rolled back p@production: 2 -> 1" in ok("prompt", "rollback", "p")
    assert ok("prompt", "render", "p", "-v", "x=!") == "one !\n"
    events = json.loads(ok("prompt", "log", "p", "--json"))
    assert [e["type"] for e in events] == ["version", "version", "label", "label", "label", "label"]
    assert events[-1]["action"] == "rollback"
    diff = ok("prompt", "diff", "p@1", "p@2")
    assert "-one {{ x }}" in diff and "+y: str, required" in diff
    assert json.loads(ok("prompt", "diff", "p@1", "p@2", "--json"))["same"] is False
    assert "p is now archived" in ok("prompt", "archive", "p")
    assert json.loads(ok("prompt", "list", "--json")) == []
    assert "p is now active" in ok("prompt", "archive", "p", "--undo")


@pytest.mark.parametrize(("answer", "moved"), [("y\n", True), ("n\n", False)])
def test_protected_label_asks_when_a_person_is_there(repo, monkeypatch, answer, moved):
    import promptyard.cli.prompt as prompt_cli

    ok("prompt", "commit", "p", "--text", "one {{ x }}")
    before = dump(repo)
    monkeypatch.setattr(prompt_cli, "_interactive", lambda: True)
    result = invoke(["prompt", "label", "p@1", "production"], input=answer)
    assert "'production' is protected; move it to p@1?" in result.stdout
    assert (result.exit_code == 0) is moved
    assert (dump(repo) != before) is moved


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_export_import_through_the_cli(repo, tmp_path, suffix):
    ok("prompt", "commit", "p", "--text", "one {{ x }}")
    ok("prompt", "label", "p@1", "production", "--force")
    bundle = tmp_path / f"b.{suffix}"
    ok("prompt", "export", "-o", str(bundle))
    other = tmp_path / "other" / "registry.db"
    ok("--registry", str(other), "init")
    assert "added versions 1" in ok("--registry", str(other), "prompt", "import", str(bundle))
    assert ok("--registry", str(other), "prompt", "render", "p", "-v", "x=y") == "one y\n"
    stdout = ok("prompt", "export", "--format", suffix)
    assert (json.loads(stdout) if suffix == "json" else yaml.safe_load(stdout))["items"][0]["name"] == "p"


BAD = [
    (["prompt", "render", "nope"], "unknown prompt 'nope'"),
    (["prompt", "render", "p@7"], "has no version 7"),
    (["prompt", "render", "p@sha:zzzz"], "invalid hash prefix"),
    (["prompt", "show", "p@canary"], "has no label 'canary'"),
    (["prompt", "commit", "p", "--text", "{{ x "], "line 1"),
    (["prompt", "commit", "p"], "give either FILE or --text"),
    (["prompt", "render", "p", "-v", "novalue"], "expected key=value"),
    (["prompt", "label", "p@1", "production"], "protected"),
    (["prompt", "rollback", "p"], "no label 'production'"),
    (["prompt", "import", "missing.json"], "cannot read bundle"),
    (["prompt", "add", "p", "t.txt"], "already exists"),
    (["prompt", "diff", "p@1", "q@1"], "unknown prompt 'q'"),
    (["prompt", "export", "-o", "no/such/dir/b.json"], "cannot write bundle"),
    (["prompt", "render", "p", "--vars", "missing.json"], "cannot read variables"),
    (["prompt", "add", "q", "missing.yaml"], "no such file"),
    (["prompt", "export", "--format", "xml"], "unknown format"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(b[0][:3]) for b in BAD])
def test_user_errors_are_one_line_and_change_nothing(repo, tmp_path, args, message):
    ok("prompt", "commit", "p", "--text", "one {{ x }}")
    (tmp_path / "t.txt").write_text("{{ x }}")
    before = dump(repo)
    result = invoke(args)
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.output
    assert dump(repo) == before


def test_no_registry_is_a_clear_error(tmp_path):
    assert "promptyard init" in fails("prompt", "list")


def _cold(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real entry point in a fresh interpreter and report the modules it imported."""
    script = (
        "import sys\n"
        "from promptyard.cli.entry import main\n"
        "try:\n    main(sys.argv[1:])\nfinally:\n"
        "    sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL)


HEAVY = ("torch", "transformers", "peft", "ray", "evaluate")


def test_cold_render_imports_nothing_heavy_and_matches_the_typer_command(repo):
    ok("prompt", "commit", "p", "--text", "say {{ x }}")
    cold = _cold(["--registry", str(repo), "prompt", "render", "p", "-v", "x=1"])
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout == ok("prompt", "render", "p", "-v", "x=1") == "say 1\n"
    modules = cold.stderr.split("MODULES ")[1].split()
    assert not [m for m in modules if m.split(".")[0] in (*HEAVY, "sqlalchemy", "sqlmodel", "typer", "alembic")]


def test_cold_errors_and_help_go_the_usual_way(repo):
    cold = _cold(["--registry", str(repo), "prompt", "render", "nope"])
    assert cold.returncode == 1 and cold.stderr.startswith("error: unknown prompt 'nope'")
    helped = _cold(["prompt", "render", "--help"])
    assert helped.returncode == 0 and "--vars" in helped.stdout
    modules = helped.stderr.split("MODULES ")[1].split()
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
