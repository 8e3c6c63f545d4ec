"""load_template_file: text and YAML/JSON files, their meta, and errors that name the file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptyard.core.errors import SandboxViolation, TemplateSyntaxError, UnknownNameError, ValidationError
from promptyard.core.render import render
from promptyard.core.structured import parse_output
from promptyard.core.template_files import load_template_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "templates"
DOC = ROOT / "docs" / "templates.md"


@pytest.mark.parametrize("suffix", [".j2", ".jinja", ".txt"])
def test_text_files_are_single_templates(tmp_path, suffix):
    path = tmp_path / f"greet{suffix}"
    path.write_text("Hello {{ name }}!\n", encoding="utf-8")
    template, meta = load_template_file(path)
    assert template.kind == "single" and meta == {}
    assert render(template, {"name": "Ada"}).text == "Hello Ada!"


KIND_FILES = [
    ("single", "kind: single\ntext: 'Hi {{ who }}'\n", {"who": "Ada"}, "Hi Ada"),
    (
        "multi",
        "kind: multi\nparts:\n  - {role: system, text: 'Be brief.'}\n  - {role: user, text: '{{ q }}'}\n",
        {"q": "why?"},
        "Be brief.\nwhy?",
    ),
    ("structured", "kind: structured\nsections:\n  task: 'Do {{ t }}'\n", {"t": "it"}, "## Task\nDo it"),
    (
        "dynamic",
        "kind: dynamic\nk: 1\nexamples: [{text: a, label: b}]\n"
        "text: '{% for e in examples %}{{ e.label }}{% endfor %} {{ text }}'\n",
        {"text": "x"},
        "b x",
    ),
]


@pytest.mark.parametrize(("kind", "yaml_text", "variables", "expected"), KIND_FILES)
@pytest.mark.parametrize("fmt", ["yaml", "yml", "json"])
def test_data_files_by_kind(tmp_path, kind, yaml_text, variables, expected, fmt):
    import yaml

    data = {
        "name": f"t/{kind}",
        "description": "d",
        "task_type": "generation",
        "tags": ["a", "b"],
        **yaml.safe_load(yaml_text),
    }
    path = tmp_path / f"t.{fmt}"
    path.write_text(json.dumps(data) if fmt == "json" else yaml.safe_dump(data), encoding="utf-8")
    template, meta = load_template_file(path)
    assert template.kind == kind
    assert meta == {"name": f"t/{kind}", "description": "d", "task_type": "generation", "tags": ["a", "b"]}
    assert render(template, variables).text == expected


BAD_FILES = [
    ("t.yaml", "kind: single\ntext: [unclosed\n", ValidationError, r"t\.yaml line 3, column 1: invalid YAML"),
    ("t.yaml", "kind: single\n  text: x\n", ValidationError, r"t\.yaml line 2, column 7: invalid YAML"),
    ("t.json", '{"kind": "single",\n "text": }', ValidationError, r"t\.json line 2, column 10: invalid JSON"),
    ("t.yaml", "kind: triple\n", ValidationError, r"t\.yaml: kind: unknown kind 'triple'"),
    ("t.yaml", "kind: single\ntxt: x\n", ValidationError, r"unknown key\(s\) txt"),
    ("t.yaml", "- a\n- b\n", ValidationError, r"expected a mapping with a 'kind' key, got list"),
    ("t.yaml", "", ValidationError, r"got an empty file"),
    (
        "t.yaml",
        "kind: single\ntext: |\n  ok\n  {{ x + }}\n",
        TemplateSyntaxError,
        r"t\.yaml line 4, column 10: text line 2, column 8: unexpected 'end of print statement'",
    ),
    (
        "t.yaml",
        "kind: multi\nparts:\n  - {role: user, text: '{{ x'}\n",
        TemplateSyntaxError,
        r"t\.yaml line 3, column 29: parts\[0\] \(user\) line 1, column 5",
    ),
    (
        "t.j2",
        "line\n{% if x %}\n",
        TemplateSyntaxError,
        r"t\.j2: line 2, column 11: Unexpected end of template",
    ),
    (
        "t.yaml",
        "kind: structured\nsections:\n  task: ok\n  input: |\n    line\n    {{ x.__class__ }}\n",
        SandboxViolation,
        r"t\.yaml line 6: sections\.input line 2: sandbox violation",
    ),
    (
        "t.yaml",
        'kind: single\ntext: "{{ x y }}"\n',
        TemplateSyntaxError,
        r"t\.yaml line 2, column 13: text line 1, column 6",
    ),
    ("t.j2", "{{ x.__class__ }}", SandboxViolation, r"t\.j2: line 1: sandbox violation"),
    (
        "t.yaml",
        "kind: dynamic\ntext: x\nselector: nope\n",
        UnknownNameError,
        r"unknown example selector 'nope'",
    ),
    ("t.yaml", "kind: dynamic\ntext: x\nk: three\n", ValidationError, r"t.yaml: k: must be a whole number, got 'thre"),
    ("t.yaml", "kind: dynamic\ntext: x\nseed: true\n", ValidationError, r"seed: must be a whole number, got True"),
    ("t.json", '{"text": "x", "raw": "false"}', ValidationError, r"raw: must be true or false, got 'false'"),
    ("t.yaml", "text: '{{ a }}'\nvariables: [{name: a, required: 'no'}]\n", ValidationError,
     r"variables\[0\]\.required: must be true or false"),
    ("t.yaml", "text: [a, b]\n", ValidationError, r"t.yaml: text: must be a string, got list"),
    (
        "t.yaml",
        "kind: single\ntext: x\ntags: [1, 2]\n",
        ValidationError,
        r"t\.yaml: tags: tags must be a list",
    ),
    (
        "t.yaml",
        "kind: single\ntext: x\nvariables: [{name: a, type: number}]\n",
        ValidationError,
        r"variables\[0\]\.type: unknown type 'number'",
    ),
    ("t.md", "x", ValidationError, r"unknown template file type '\.md'"),
]


@pytest.mark.parametrize(("name", "content", "error", "message"), BAD_FILES)
def test_bad_files_name_the_file_and_place(tmp_path, name, content, error, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error) as info:
        load_template_file(path)
    assert re.search(message, str(info.value)), str(info.value)
    assert str(path) in str(info.value) or name.endswith(".md")


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ValidationError, match="no such file"):
        load_template_file(tmp_path / "absent.yaml")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValidationError, match="not UTF-8"):
        load_template_file(tmp_path / "bin.txt")


# --------------------------------------------------------------------------------------------------
# the examples shipped with the docs are real: they load, render, and the page shows them verbatim
# --------------------------------------------------------------------------------------------------

INPUTS = json.loads((EXAMPLES / "inputs.json").read_text(encoding="utf-8"))
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.iterdir() if p.name != "inputs.json")


def test_every_example_has_inputs():
    assert EXAMPLE_FILES and sorted(INPUTS) == EXAMPLE_FILES


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_loads_and_renders(name):
    template, meta = load_template_file(EXAMPLES / name)
    out = render(template, INPUTS[name])
    assert out.text.strip()
    if name.endswith((".yaml", ".yml", ".json")):
        assert meta["name"]


def _doc_blocks(marker: str) -> dict[str, str]:
    """``<!-- marker: NAME -->`` followed by a fenced block, from docs/templates.md."""
    doc = DOC.read_text(encoding="utf-8")
    pattern = re.compile(rf"<!-- {marker}: (\S+) -->\n```[a-z]*\n(.*?)```", re.DOTALL)
    return {m.group(1): m.group(2) for m in pattern.finditer(doc)}


def test_doc_shows_every_example_file_verbatim():
    shown = _doc_blocks("file")
    assert sorted(shown) == EXAMPLE_FILES
    for name, text in shown.items():
        assert text == (EXAMPLES / name).read_text(encoding="utf-8"), name


def test_doc_shows_the_real_rendered_output():
    shown = _doc_blocks("rendered")
    assert len(shown) >= 4
    for name, text in shown.items():
        template, _ = load_template_file(EXAMPLES / name)
        out = render(template, INPUTS[name])
        expected = json.dumps(out.messages, indent=2) if out.messages else out.text
        assert text.rstrip("\n") == expected, name


def test_doc_parse_output_example():
    template, _ = load_template_file(EXAMPLES / "ticket-triage.yaml")
    assert parse_output(template, 'Here you go:\n```json\n{"urgency": "high", "reason": "outage"}\n```') == {
        "urgency": "high",
        "reason": "outage",
    }
    with pytest.raises(ValidationError, match=r"at \$.urgency: 'urgent' is not one of"):
        parse_output(template, '{"urgency": "urgent", "reason": "outage"}')
