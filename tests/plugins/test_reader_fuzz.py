"""Fuzzing the JSONL and CSV readers (issue 17): any bytes, with or without ``skip_bad_rows``, give rows or
promptyard's own DataError/UsageError, never a UnicodeDecodeError, RecursionError or ``_csv.Error``."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from promptyard.core.errors import PromptyardError
from promptyard.plugins.data_loaders import load_csv, load_jsonl

GOOD_JSONL = b'{"text": "fine", "label": "a"}\n{"text": "also", "label": "b"}\n'
GOOD_CSV = b'text,label\nfine,a\n"quoted, text",b\n'

pieces = st.sampled_from([b"\n", b"\r\n", b",", b'"', b"{", b"}", b"[", b"]", b":", b"\xff", b"\xe9", b"\x00",
                          b'"text"', b'"label"', b"null", b"1e999", b"\\u2028", "\u2028".encode(), b"[" * 300,
                          b"x" * 140_000, b"\t", b"\xef\xbb\xbf"])
damaged = st.one_of(st.binary(max_size=300), st.lists(pieces, max_size=12).map(b"".join))


def _spliced(good: bytes):
    return st.tuples(st.integers(0, len(good)), damaged).map(lambda c: good[:c[0]] + c[1] + good[c[0]:])


def _read(loader, path, skip: bool) -> None:
    try:
        data = loader(path, skip_bad_rows=skip)
    except PromptyardError:
        return
    json.dumps(data.rows, default=str)  # what it returned is plain data
    assert all(isinstance(r["text"], str) for r in data.rows)


@settings(max_examples=80, deadline=None)
@given(data=st.one_of(damaged, _spliced(GOOD_JSONL)), skip=st.booleans())
def test_jsonl_reader_raises_only_promptyard_errors(tmp_path_factory, data, skip):
    path = tmp_path_factory.mktemp("jsonl") / "d.jsonl"
    path.write_bytes(data)
    _read(load_jsonl, path, skip)


@settings(max_examples=80, deadline=None)
@given(data=st.one_of(damaged, _spliced(GOOD_CSV)), skip=st.booleans())
def test_csv_reader_raises_only_promptyard_errors(tmp_path_factory, data, skip):
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    path.write_bytes(data)
    _read(load_csv, path, skip)
