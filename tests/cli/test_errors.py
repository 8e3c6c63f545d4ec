"""Bad input across commands: non-zero exit, one ``error:`` line naming the thing, never a traceback."""

from __future__ import annotations

import pytest

from promptyard.testing import invoke

FILES = {
    "ok.txt": "Review: {{ text }}",
    "bad.yaml": "kind: single\ntext: [unclosed\n",
    "bad.j2": "Hello {{ name ",
    "bad.jsonl": '{"text": "a", "label": "x"}\nnot json\n',
    "two.jsonl": '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n',
    "rows.jsonl": "".join('{"text": "%s", "label": "%s"}\n' % (("good", "pos") if i % 2 else ("bad", "neg"))
                          for i in range(20)),
    "space.yaml": "lr: {bogus: 1}\n",
    "suite.yaml": "name: x\ndata: [{ref: rows.jsonl, sample: 0}]\n",
}

# (args, words the one error line must contain)
CASES = [
    (["prompt", "show", "nope"], ["unknown prompt 'nope'", "prompt list"]),
    (["prompt", "show", "p@7"], ["p@7", "no version 7"]),
    (["prompt", "show", "p@sha:zz"], ["p@sha:zz", "hash prefix"]),
    (["prompt", "show", "p@staging"], ["p@staging", "no label 'staging'"]),
    (["prompt", "add", "q", "bad.yaml"], ["bad.yaml line 3", "YAML"]),
    (["prompt", "add", "q", "bad.j2"], ["bad.j2", "line 1, column"]),
    (["prompt", "add", "q", "missing.txt"], ["missing.txt", "no such file"]),
    (["prompt", "add", "p", "ok.txt"], ["'p' already exists"]),
    (["prompt", "commit", "p"], ["FILE or --text"]),
    (["prompt", "render", "p", "-v", "x=1"], ["p@1", "missing variable 'text'", "unexpected variable 'x'"]),
    (["prompt", "render", "p", "-v", "noequals"], ["key=value", "noequals"]),
    (["prompt", "rollback", "p"], ["no label 'production'"]),
    (["prompt", "import", "bad.yaml"], ["bad.yaml line 3", "invalid YAML"]),
    (["prompt", "bogus"], ["No such command 'bogus'", "promptyard prompt --help"]),
    (["data", "show", "nope"], ["unknown data set 'nope'", "rotten_tomatoes"]),
    (["data", "show", "bad.jsonl"], ["bad.jsonl", "line 2"]),
    (["data", "show", "missing.csv"], ["missing.csv"]),
    (["tune", "run", "--prompt", "p", "--model", "nope-model", "--data", "rows.jsonl"],
     ["unknown model 'nope-model'", "smollm2-135m"]),
    (["tune", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "nope"], ["unknown data set 'nope'"]),
    (["tune", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--method", "nope"],
     ["unknown tuning method 'nope'", "lora"]),
    (["tune", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--set", "lr"],
     ["--set", "key=value", "'lr'"]),
    (["tune", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--set", "bogus=1"],
     ["unknown setting 'bogus'"]),
    (["tune", "run", "--prompt", "nope", "--model", "tiny-causal", "--data", "rows.jsonl"], ["unknown prompt 'nope'"]),
    (["tune", "run", "--prompt", "wrongvar", "--model", "tiny-causal", "--data", "rows.jsonl", "--max-steps", "1"],
     ["missing variable 'review'", "the data gives: text"]),
    (["tune", "run", "--model", "tiny-causal"], ["missing option --data", "--mix"]),
    (["tune", "search", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--space", "space.yaml"],
     ["space.yaml", "'lr'", "unknown kind 'bogus'"]),
    (["tune", "search", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--method", "nope"],
     ["unknown tuning method 'nope'"]),
    (["tune", "search", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--set", "x"],
     ["--set", "key=value"]),
    (["tune", "searches", "nope"], ["no search 'nope'"]),
    (["eval", "run", "suite.yaml"], ["suite.yaml"]),
    (["eval", "run", "missing.yaml"], ["missing.yaml", "not found"]),
    (["eval", "run", "--prompt", "p"], ["missing --model, --data"]),
    (["eval", "run", "--sample", "abc"], ["'--sample'", "integer"]),
    (["eval", "run", "--prompt", "nope", "--model", "tiny-causal", "--data", "rows.jsonl"], ["unknown prompt 'nope'"]),
    (["eval", "run", "--prompt", "p", "--model", "nope-model", "--data", "rows.jsonl", "--split", "all"],
     ["unknown model 'nope-model'"]),
    (["eval", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "two.jsonl"],
     ["test split of two.jsonl is empty", "--split all"]),
    (["eval", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "nope"], ["unknown data set 'nope'"]),
    (["eval", "run", "--prompt", "wrongvar", "--model", "tiny-causal", "--data", "rows.jsonl", "--split", "all"],
     ["missing variable 'review'", "rows of rows.jsonl give: text"]),
    (["eval", "run", "--prompt", "p", "--model", "tiny-causal", "--data", "rows.jsonl", "--metric", "acuracy"],
     ["metrics[0]", "unknown metric 'acuracy'", "accuracy"]),
    (["eval", "show", "99"], ["no eval run 99"]),
    (["eval", "report", "99", "--html", "x.html"], ["no eval run 99"]),
    (["eval", "compare", "1", "2"], ["no eval run 1"]),
    (["reproduce", "99"], ["no eval run 99"]),
    (["adapter", "show", "nope"], ["unknown adapter 'nope'"]),
    (["adapter", "export", "nope", "out"], ["unknown adapter 'nope'"]),
    (["predict", "-a", "nope", "-t", "hi"], ["unknown adapter 'nope'"]),
    (["plugins", "new", "Bad Name"], ["'bad name' is not valid"]),
    (["plugins", "new", "ok", "--kind", "nope"], ["unknown kind 'nope'"]),
    (["--registry", "missing/r.db", "prompt", "list"], ["missing/r.db", "promptyard init"]),
    (["--registry"], ["'--registry' requires an argument"]),
]


@pytest.fixture
def workspace(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "wrong.txt").write_text("Review: {{ review }}")
    assert invoke(["init"]).exit_code == 0
    assert invoke(["prompt", "add", "p", "ok.txt"]).exit_code == 0
    assert invoke(["prompt", "add", "wrongvar", "wrong.txt"]).exit_code == 0
    return tmp_path


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_error_line(workspace, args, words):
    before = invoke(["prompt", "list", "--json"]).stdout
    result = invoke(args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]
    assert invoke(["prompt", "list", "--json"]).stdout == before  # bad input leaves the registry as it was


def test_no_registry_says_to_run_init(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTYARD_REGISTRY")
    for args in (["prompt", "list"], ["adapter", "list"], ["eval", "list"], ["tune", "searches"], ["doctor"]):
        result = invoke(args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ") and "run `promptyard init`" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_debug_lets_the_exception_through(workspace):
    from promptyard.core.errors import UnknownRefError

    with pytest.raises(UnknownRefError):
        invoke(["--debug", "prompt", "show", "nope"])
