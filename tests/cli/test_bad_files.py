"""Issue 17: bad files and bad names are one ``error:`` line, the right exit code, no traceback, no hang, and
the registry unchanged (defects 4 YAML aliases, 6 bad files, 7 unvalidated bundles, 8 names, 10 pickled
adapters, 11 edited content, 13 small ones). Every case runs the real entry point in a subprocess; on the
code before the fix each one ended in a traceback, hung, or was accepted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from promptyard.core.template import Template
from tests.registry.helpers import dump
from tests.tuning.toydata import write_toy_sentiment

TEXT = "hello {{ x }}"

# a "billion laughs" document: 9 levels of 9 aliases, 9**9 strings once expanded (707 bytes)
BOMB = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))


def bundle(**version_fields) -> dict:
    """A valid one-prompt bundle; ``version_fields`` replace fields of its one version (or, prefixed
    ``item_``, of the item)."""
    template = Template(kind="single", text="hi {{ x }}")
    version = {"number": 1, "content_hash": template.content_hash(), "content": template.to_dict(),
               "message": "", "author": "a", "created_at": "2026-01-01T00:00:00+00:00", "lineage": {}}
    item = {"kind": "prompt", "name": "imported", "versions": [version], "labels": {"production": 1},
            "tags": []}
    for key, value in version_fields.items():
        if key.startswith("item_"):
            item[key[5:]] = value
        else:
            version[key] = value
    return {"format": "promptyard-bundle", "format_version": 1, "items": [item]}


def _bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return json.dumps(value).encode()
    return value.encode()


FILES = {
    "bomb.yaml": BOMB,
    "latin1.json": b'{"format": "promptyard-bundle", "caf\xe9": 1}',
    "latin1.yaml": b"name: caf\xe9\n",
    "latin1.jsonl": b'{"text": "ok", "label": "a"}\n{"text": "caf\xe9", "label": "b"}\n',
    "latin1.csv": b"text,label\ncaf\xe9,a\n",
    "deep.json": '{"x": ' + "[" * 5000 + "]" * 5000 + "}",
    "deep.jsonl": '{"text": "a", "x": ' + "[" * 200 + "]" * 200 + "}\n",
    "big.csv": "text,label\nfine,a\n" + "b" * 200_000 + ",a\n",
    "bigonly.csv": "text,label\n" + "b" * 200_000 + ",a\n",
    "labels-list.json": bundle(item_labels=["production"]),
    "created-int.json": bundle(created_at=1767225600),
    "contract.json": bundle(contract="garbage"),
    "contract-wrong.json": bundle(contract=[{"name": "y", "type": "str"}]),
    "tags-int.yaml": "format: promptyard-bundle\nformat_version: 1\nitems: [{kind: prompt, name: t, tags: 5, "
                     "versions: [{number: 1, content_hash: x, content: {kind: single}}]}]\n",
    "empty.json": "",
    "empty.yaml": "",
    "empty.jsonl": "\n\n",
    "empty-space.yaml": "   \n",
    "list-space.yaml": "- 1\n- 2\n",
    "list-vars.json": "[1, 2]",
}
SEARCH = ["tune", "search", "--prompt", "p", "--model", "tiny-causal", "--data", "toy.jsonl"]

CASES = [
    # (id, args, exit code, words the error line must hold)
    ("4 bundle alias bomb", ["prompt", "import", "bomb.yaml"], 1, ["bomb.yaml line 2", "aliases"]),
    ("4 suite alias bomb", ["eval", "run", "bomb.yaml"], 1, ["aliases"]),
    ("4 space alias bomb", [*SEARCH, "--space", "bomb.yaml"], 1, ["aliases"]),
    # --set values are text converted by the setting's type (never YAML), so an alias is just a bad float
    ("4 --set alias", [*SEARCH, "--set", "lr=*a"], 1, ["'*a'", "'lr'", "float"]),
    ("6 bundle not UTF-8", ["prompt", "import", "latin1.json"], 1, ["latin1.json line 1", "not UTF-8"]),
    ("6 suite not UTF-8", ["eval", "run", "latin1.yaml"], 1, ["latin1.yaml line 1", "not UTF-8"]),
    ("6 jsonl not UTF-8", ["data", "show", "latin1.jsonl"], 1, ["latin1.jsonl line 2", "not UTF-8"]),
    ("6 csv not UTF-8", ["data", "show", "latin1.csv"], 1, ["latin1.csv line 2", "not UTF-8"]),
    ("6 --vars nested deeply", ["prompt", "render", "p", "--vars", "deep.json"], 2, ["deep.json", "nested deeper"]),
    ("6 jsonl row nested deeply", ["data", "show", "deep.jsonl"], 1, ["deep.jsonl: line 1", "nested deeper"]),
    ("6 csv field over 128 KiB", ["data", "show", "big.csv"], 1, ["big.csv: line 3", "longer than 131072"]),
    ("6 csv field over 128 KiB skipped", ["data", "show", "bigonly.csv", "--skip-bad-rows"], 1,
     ["no data rows", "1 malformed row(s) skipped"]),
    ("6 bundle labels a list", ["prompt", "import", "labels-list.json"], 1, ["items[0].labels", "a mapping"]),
    ("6 bundle created_at an int", ["prompt", "import", "created-int.json"], 1,
     ["versions[0].created_at", "ISO time string"]),
    ("6 bundle tags an int", ["prompt", "import", "tags-int.yaml"], 1, ["items[0].tags", "list of strings"]),
    ("6 empty bundle", ["prompt", "import", "empty.json"], 1, ["empty.json", "empty bundle"]),
    ("6 empty suite", ["eval", "run", "empty.yaml"], 1, ["empty.yaml", "empty suite file"]),
    ("6 empty data file", ["data", "show", "empty.jsonl"], 1, ["empty.jsonl", "no data rows"]),
    ("6 empty space file", [*SEARCH, "--space", "empty-space.yaml"], 1, ["empty search space file"]),
    ("6 space a list", [*SEARCH, "--space", "list-space.yaml"], 1, ["list-space.yaml", "mapping"]),
    ("6 variables a list", ["prompt", "render", "p", "--vars", "list-vars.json"], 2, ["JSON object"]),
    ("7 bundle contract garbage", ["prompt", "import", "contract.json"], 1,
     ["versions[0].contract", "list of variables"]),
    ("7 bundle contract not the template's", ["prompt", "import", "contract-wrong.json"], 1,
     ["versions[0].contract", "does not match"]),
    ("8 name with a trailing newline", ["prompt", "commit", "trail\n", "--text", "hi"], 2, ["invalid name"]),
    ("8 name with a control character", ["prompt", "commit", "a\x01b", "--text", "hi"], 2, ["invalid name"]),
    ("8 label with a trailing newline", ["prompt", "label", "p@1", "canary\n"], 2, ["invalid label"]),
    ("10 eval a pickled adapter folder", ["eval", "run", "--prompt", "p", "--model", "tiny-causal", "--data",
                                          "toy.jsonl", "--adapter", "binfolder"], 1, ["pickled weights"]),
    ("13 data show --rows -1", ["data", "show", "toy.jsonl", "--rows", "-1"], 2, ["--rows"]),
]


@pytest.fixture
def repo(tmp_path):
    """A registry with prompt ``p`` and the case files, next to it in the working folder."""
    from promptyard import Registry

    with Registry.open(create=True) as reg:
        reg.commit("p", Template(kind="single", text=TEXT))
        path = reg.path
    for name, content in FILES.items():
        (tmp_path / name).write_bytes(_bytes(content))
    write_toy_sentiment(tmp_path / "toy.jsonl", n=20)
    folder = tmp_path / "binfolder"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (folder / "adapter_model.bin").write_bytes(b"\x80\x04not really a pickle")
    return path


@pytest.mark.parametrize(("args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(repo, cli, args, code, words):
    before = dump(repo)
    result = cli(*args)
    line = result.error_line()
    assert result.code == code, line
    for word in words:
        assert word in line, line
    assert dump(repo) == before


def test_a_bare_yaml_timestamp_is_read_as_its_text(repo, cli, tmp_path):
    """A YAML bundle's ``created_at: 2026-01-01 10:00:00`` (a timestamp to PyYAML) imports like the ISO text."""
    data = bundle()
    text = json.dumps(data).replace('"2026-01-01T00:00:00+00:00"', "2026-01-01 10:00:00")
    (tmp_path / "stamp.yaml").write_text(text)
    result = cli("prompt", "import", "stamp.yaml")
    assert result.code == 0, result.stderr
    shown = json.loads(cli("prompt", "show", "imported@1", "--json").stdout)
    assert shown["created_at"].startswith("2026-01-01T10:00:00")


def test_skip_bad_rows_leaves_out_an_oversized_csv_field(repo, cli):
    result = cli("data", "show", "big.csv", "--skip-bad-rows", "--json")
    assert result.code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["size"] == 1 and shown["skipped"] == 1


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("sql", "words"), [
    # 11: content edited in the database no longer matches its hash
    ("""UPDATE versions SET content = '{"kind":"single","raw":false,"text":"evil {{ x }}","variables":[]}'""",
     ["p@1", "does not match its hash"]),
    # 7: a stored contract that is not a list of variables
    ("""UPDATE versions SET contract = '"garbage"'""", ["p@1", "contract is damaged"]),
])
def test_a_damaged_stored_version_is_refused_on_read_and_found_by_check(repo, cli, sql, words):
    _tamper(repo, sql)
    before = dump(repo)
    for args in (["prompt", "render", "p", "-v", "x=1"], ["prompt", "show", "p"]):
        result = cli(*args)
        line = result.error_line()
        assert result.code == 1 and all(w in line for w in words), line
    check = cli("registry", "check", "--json")
    assert check.code == 1, check.stdout
    problems = json.loads(check.stdout)["versions"]
    assert [p["ref"] for p in problems] == ["p@1"]
    assert dump(repo) == before


def test_a_stored_contract_that_differs_from_the_template_is_found_by_check(repo, cli):
    _tamper(repo, """UPDATE versions SET contract = '[{"name": "y", "type": "str"}]'""")
    check = cli("registry", "check")
    assert check.code == 1 and "stored contract does not match" in check.stdout, check.stdout


def test_an_unknown_plugin_name_is_reported_not_ignored(repo, cli):
    result = cli("prompt", "list", env={"PROMPTYARD_PLUGINS": "no-such-plugin"})
    assert result.code == 0
    assert "warning: plugin 'no-such-plugin' skipped" in result.stderr
    assert "PROMPTYARD_PLUGINS names it" in result.stderr
