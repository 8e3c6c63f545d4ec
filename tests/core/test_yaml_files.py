"""The one YAML loader and the text/JSON reader: aliases refused, timestamps as text, lines of keys, depth."""

from __future__ import annotations

import pytest

from promptyard.core.errors import BundleError, ValidationError
from promptyard.core.text_files import MAX_DEPTH, check_depth, decode, parse_json, read_text
from promptyard.core.yaml_files import format_key, load_data_file, load_yaml


@pytest.mark.parametrize(("text", "words"), [
    ('a: &a ["x", "x"]\nb: [*a, *a]\n', ["line 2, column 5", "aliases"]),
    ("base: &b {k: 1}\nother:\n  <<: *b\n", ["line 3", "aliases"]),
    ("a: 1\n---\nb: 2\n", ["line 2", "invalid YAML"]),
    ("a: [1\n", ["invalid YAML"]),
    ("[" * 3000, ["nested too deeply"]),
    ("x:\n" + "".join("  " * i + "- \n" for i in range(1, MAX_DEPTH + 3)), [f"deeper than {MAX_DEPTH}"]),
])
def test_bad_yaml_is_one_error_naming_the_place(text, words):
    with pytest.raises(ValidationError) as info:
        load_yaml(text, source="f.yaml")
    assert all(w in str(info.value) for w in words), str(info.value)
    assert "\n" not in info.value.message


def test_the_error_class_is_the_callers():
    with pytest.raises(BundleError):
        load_yaml("a: *x\n", source="b.yaml", error=BundleError)


def test_timestamps_stay_text_and_keys_keep_their_lines():
    doc = load_yaml("when: 2026-01-01 10:00:00\nitems:\n  - name: a\n    tags: [x]\n", source="f.yaml")
    assert doc.data == {"when": "2026-01-01 10:00:00", "items": [{"name": "a", "tags": ["x"]}]}
    assert doc.where("items", 0, "tags") == "f.yaml line 4, key 'items[0].tags'"
    assert doc.where("items", 0, "missing") == "f.yaml line 3, key 'items[0].missing'"
    assert format_key(("a", 0, "b", 2)) == "a[0].b[2]"


def test_text_files_name_file_line_and_column(tmp_path):
    assert decode("\ufeffok".encode(), where="f") == "ok"  # a BOM is dropped
    with pytest.raises(ValidationError, match=r"f line 2, column 3: file is not UTF-8 text \(byte 0xe9\)"):
        decode(b"ok\nab\xe9", where="f")
    with pytest.raises(ValidationError, match="empty file"):
        decode(b"  \n", where="f")
    with pytest.raises(ValidationError, match="no such file"):
        read_text(tmp_path / "nope")
    with pytest.raises(ValidationError, match="is a directory"):
        read_text(tmp_path)
    with pytest.raises(ValidationError, match="f line 1, column 2: invalid JSON"):
        parse_json("{x", where="f")
    with pytest.raises(ValidationError, match="nested deeper"):
        parse_json("[" * 100_000 + "]" * 100_000, where="f")
    assert check_depth([[1]], where="f") == [[1]]
    (tmp_path / "s.json").write_text('{"a": 1}')
    assert load_data_file(tmp_path / "s.json").data == {"a": 1}
