"""`tune search|resume|searches` at the CLI edge: bad input is one clear line, and nothing is written."""

from __future__ import annotations

import pytest

from promptyard.testing import invoke

BASE = ["tune", "search", "--prompt", "sent@1", "--model", "tiny-causal", "--data", "toy.jsonl"]


@pytest.mark.parametrize(("space", "extra", "needle"), [
    ("lr: {loguniform: [0, 1]}\n", [], "space.yaml line 1, key 'lr'"),
    ("r: {choice: [4]}\nlr: {normal: [0, 1]}\n", [], "space.yaml line 2, key 'lr'"),
    ("lr: {uniform: [0.1, 0.2]}\n", ["--scheduler", "hyperband"], "unknown scheduler 'hyperband'"),
    ("lr: {uniform: [0.1, 0.2]}\n", ["--scheduler", "pbt", "--search-alg", "optuna"], "PBT mutates"),
    ("lr: {uniform: [0.1, 0.2]}\n", ["--trials", "0"], "--trials"),
    ("lr: {uniform: [0.1, 0.2]}\n", ["--set", "novalue"], "--set expects key=value"),
    ("lr: {uniform: [0.1, 0.2]}\n", ["--mode", "up"], "mode must be max, min or auto"),
    ("r: {choice: [4, 8]}\n", ["--scheduler", "pbt"], "PBT needs a searched key it can change"),
])
def test_bad_search_input_is_one_line_and_writes_nothing(tmp_path, space, extra, needle):
    from promptyard.registry.api import Registry

    Registry.open(create=True).close()
    (tmp_path / "space.yaml").write_text(space)
    result = invoke([*BASE, "--space", "space.yaml", *extra])
    assert result.exit_code != 0
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "work" / "tune").exists()  # no Tune experiment was started
    listing = invoke(["tune", "searches", "--json"])
    assert listing.exit_code == 0 and listing.stdout.strip() == "[]"


def test_default_space_comes_from_the_method(tmp_path):
    from promptyard.cli.tune_search import resolve_space

    assert set(resolve_space("lora", None)) == {"lr", "r", "alpha", "dropout"}
    result = invoke([*BASE[:-2], "--data", "toy.jsonl", "--method", "nosuchmethod", "--trials", "2"])
    assert result.exit_code != 0 and "nosuchmethod" in result.stderr


def test_resume_and_show_unknown_search():
    from promptyard.registry.api import Registry

    Registry.open(create=True).close()
    for args in (["tune", "resume", "s-nope"], ["tune", "searches", "s-nope"]):
        result = invoke(args)
        assert result.exit_code != 0
        assert "s-nope" in result.stderr and "Traceback" not in result.output
