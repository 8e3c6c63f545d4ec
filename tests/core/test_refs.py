"""Reference parsing: every form, and what is wrong with bad ones."""

from __future__ import annotations

import pytest

from promptyard.core.errors import UsageError
from promptyard.core.refs import Ref, check_label, parse_ref

GOOD = [
    ("sentiment", Ref("sentiment")),
    ("team/sentiment", Ref("team/sentiment")),
    ("team/sentiment@3", Ref("team/sentiment", number=3)),
    ("p@latest", Ref("p", latest=True)),
    ("p@production", Ref("p", label="production")),
    ("p@staging-2", Ref("p", label="staging-2")),
    ("p@sha:1a2B3c", Ref("p", hash_prefix="1a2b3c")),
    ("p@sha256:" + "a" * 64, Ref("p", hash_prefix="a" * 64)),
    ("  p@2 ", Ref("p", number=2)),
]


@pytest.mark.parametrize(("text", "ref"), GOOD)
def test_good_references_parse_and_print_back(text, ref):
    parsed = parse_ref(text)
    assert parsed == ref
    assert parse_ref(str(parsed)) == parsed


BAD = [
    ("", "empty reference"),
    ("p@", "cannot read the part after '@'"),
    ("p@0", "start at 1"),
    ("p@sha:12", "invalid hash prefix"),
    ("p@sha:xyz1", "invalid hash prefix"),
    ("p@-x", "cannot read"),
    ("bad name", "invalid reference"),
    ("/abs", "invalid reference"),
    ("a//b", "invalid reference"),
    ("p@1@2", "cannot read"),
    ("p@\u00b2", "cannot read the part after '@'"),  # str.isdigit accepts digits int() refuses
    ("p@\u0661", "cannot read the part after '@'"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_references_say_what_is_wrong(text, message):
    with pytest.raises(UsageError, match=message):
        parse_ref(text)


@pytest.mark.parametrize("label", ["latest", "1abc", "", "has space", "x" * 101])
def test_bad_labels_are_refused(label):
    with pytest.raises(UsageError, match="invalid label"):
        check_label(label)


def test_a_bare_name_is_marked_bare():
    assert parse_ref("p").is_bare and not parse_ref("p@latest").is_bare
