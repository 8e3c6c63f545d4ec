"""Data set loaders: files with column mappings, malformed rows, embedded data, splits and fingerprints."""

from __future__ import annotations

import json

import pytest

from promptyard.core.dataset import Dataset
from promptyard.core.errors import DataError, UnknownNameError, UsageError
from promptyard.core.host import registered
from promptyard.core.lookups import load_dataset


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_loaders_are_registered_through_the_hook():
    assert {"embedded", "jsonl", "csv"} <= set(registered("dataset_loaders"))


def test_jsonl_with_column_mapping(tmp_path):
    content = '{"review": "good", "y": "pos", "id": 1}\n\n{"review": "bad", "y": "neg"}\n'
    ref = write(tmp_path / "d.jsonl", content)
    data = load_dataset(ref, text_column="review", label_column="y")
    assert data.rows == [{"text": "good", "label": "pos", "id": 1}, {"text": "bad", "label": "neg"}]
    assert data.labels == ["neg", "pos"]


def test_csv_with_column_mapping(tmp_path):
    ref = write(tmp_path / "d.csv", 'question,answer\n"What is 2+2?",4\nCapital of France?,Paris\n')
    data = load_dataset(ref, text_column="question", target_column="answer")
    assert data.rows[1] == {"text": "Capital of France?", "target": "Paris"}
    assert data.labels == []


@pytest.mark.parametrize("name, content, options, where", [
    ("bad.jsonl", '{"text": "a"}\n{"text": "b",\n', {}, "bad.jsonl: line 2, column"),
    ("arr.jsonl", '{"text": "a"}\n[1, 2]\n', {}, "arr.jsonl: line 2, column 1"),
    ("miss.jsonl", '{"text": "a", "y": 1}\n{"text": "b"}\n', {"label_column": "y"}, "miss.jsonl: line 2"),
    ("empty.jsonl", '{"text": ""}\n', {}, "empty.jsonl: line 1"),
    ("bad.csv", "text,label\na,pos\nb,neg,extra\n", {}, "bad.csv: line 3, column 3"),
    ("short.csv", "text,label\na\n", {}, "short.csv: line 2, column 2"),
    ("nocol.csv", "body,label\na,pos\n", {}, "nocol.csv: line 2"),
])
def test_malformed_rows_name_file_line_and_column(tmp_path, name, content, options, where):
    ref = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        load_dataset(ref, **options)
    assert where in str(info.value)


def test_skip_bad_rows_counts_them(tmp_path):
    ref = write(tmp_path / "d.jsonl", '{"text": "a"}\nnot json\n{"text": "c"}\n{"x": 1}\n')
    data = load_dataset(ref, skip_bad_rows=True)
    assert [r["text"] for r in data.rows] == ["a", "c"] and data.skipped == 2


@pytest.mark.parametrize("ref, options, error", [
    ("nowhere", {}, UnknownNameError),
    ("missing.jsonl", {}, DataError),
    ("rotten_tomatoes", {"colour": "red"}, UsageError),
])
def test_bad_data_requests(ref, options, error):
    with pytest.raises(error):
        load_dataset(ref, **options)


def test_rotten_tomatoes_is_binary_sentiment_without_plots():
    data = load_dataset("rotten_tomatoes")
    assert data.label_counts() == {"negative": 5405, "positive": 7403}
    assert all(r["text"] for r in data.rows[:100])


def test_bbc_news_has_five_topics():
    data = load_dataset("bbc_news")
    assert len(data) == 2225
    assert data.labels == ["business", "entertainment", "politics", "sports", "tech"]


def _toy(n_pos=60, n_neg=40) -> Dataset:
    rows = [{"text": f"p{i}", "label": "pos"} for i in range(n_pos)]
    rows += [{"text": f"n{i}", "label": "neg"} for i in range(n_neg)]
    return Dataset("toy", rows)


def test_splits_are_stratified_disjoint_and_deterministic():
    data = _toy()
    parts = data.split(seed=3)
    assert {k: len(v) for k, v in parts.items()} == {"train": 80, "validation": 10, "test": 10}
    assert parts["validation"].label_counts() == {"neg": 4, "pos": 6}
    texts = [r["text"] for p in parts.values() for r in p.rows]
    assert sorted(texts) == sorted(r["text"] for r in data.rows)
    again = data.split(seed=3)
    assert [r["text"] for r in again["train"].rows] == [r["text"] for r in parts["train"].rows]
    assert data.split(seed=4)["train"].rows != parts["train"].rows


def test_fingerprint_covers_rows_and_split_spec():
    data = _toy()
    parts = data.split(seed=1)
    assert parts["train"].fingerprint == data.split(seed=1)["train"].fingerprint
    assert parts["train"].fingerprint != data.split(seed=2)["train"].fingerprint
    assert parts["train"].fingerprint != parts["validation"].fingerprint
    changed = _toy()
    changed.rows[0] = {"text": "different", "label": "pos"}
    assert changed.fingerprint != data.fingerprint


def test_sample_is_stratified_and_repeatable():
    data = _toy()
    a, b = data.sample(10, seed=5), data.sample(10, seed=5)
    assert a.rows == b.rows and len(a) == 10 and a.label_counts() == {"neg": 4, "pos": 6}
    assert data.sample(10, seed=6).rows != a.rows


def test_bad_split_fractions():
    with pytest.raises(UsageError, match="fractions"):
        _toy().split(fractions=(0.5, 0.5, 0.5))


def test_fingerprint_is_stable_json(tmp_path):
    ref = write(tmp_path / "d.jsonl", json.dumps({"text": "é", "label": "x"}) + "\n")
    assert load_dataset(ref).fingerprint == load_dataset(ref).fingerprint
