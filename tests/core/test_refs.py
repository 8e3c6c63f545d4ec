"""Parsing references: every accepted form, and a UsageError saying what is wrong for the rest."""

from __future__ import annotations

import pytest

from promptyard.core.errors import UsageError
from promptyard.core.refs import Ref, parse_ref

GOOD = [
    ("p", Ref("p")),
    ("team/sentiment@3", Ref("team/sentiment", number=3)),
    ("p@latest", Ref("p", latest=True)),
    ("p@production", Ref("p", label="production")),
    ("p@sha:1A2b3C", Ref("p", hash_prefix="1a2b3c")),
    ("p@sha256:abcd", Ref("p", hash_prefix="abcd")),
    ("  p@2 ", Ref("p", number=2)),
]

BAD = [
    ("", "empty reference"),
    ("p@0", "version numbers start at 1"),
    ("p@²", "cannot read the part after '@': '²'"),
    ("p@١", "cannot read the part after '@'"),
    ("p@sha:zz", "invalid hash prefix 'zz'"),
    ("p@sha:abc", "invalid hash prefix"),
    ("p@", "cannot read the part after '@': ''"),
    ("p@-x", "cannot read the part after '@'"),
    ("/p", "invalid reference '/p'"),
    ("p@latest@2", "cannot read the part after '@'"),
]


@pytest.mark.parametrize(("text", "ref"), GOOD)
def test_accepted(text, ref):
    assert parse_ref(text) == ref
    assert parse_ref(str(ref)) == ref  # str() round-trips


@pytest.mark.parametrize(("text", "fragment"), BAD)
def test_refused_with_what_is_wrong(text, fragment):
    with pytest.raises(UsageError) as info:
        parse_ref(text)
    assert fragment in str(info.value)
