"""Commits, references, labels, rollback, log, list and archive: one table row per template kind."""

from __future__ import annotations

import pytest

from promptyard.core.errors import (
    AmbiguousRefError,
    RegistryError,
    TemplateSyntaxError,
    UnknownRefError,
    UsageError,
)
from promptyard.core.template import Template
from tests.registry.helpers import KINDS, TEMPLATES, dump


@pytest.mark.parametrize("kind", KINDS)
def test_commit_numbers_versions_and_skips_identical_content(registry, kind):
    v1 = registry.commit(
        "team/p",
        TEMPLATES[kind]("Classify"),
        "first",
        author="ana",
        task_type="classification",
        tags=["sentiment"],
        description="demo",
    )
    assert (v1.number, v1.parent, v1.author, v1.message) == (1, None, "ana", "first")
    assert v1.content_hash == TEMPLATES[kind]("Classify").content_hash()
    before = dump(registry.path)
    assert registry.commit("team/p", TEMPLATES[kind]("Classify"), "same again") is None
    assert dump(registry.path) == before
    v2 = registry.commit("team/p", TEMPLATES[kind]("Label"), "second")
    assert (v2.number, v2.parent) == (2, 1)
    assert registry.get_template("team/p@1").to_dict() == TEMPLATES[kind]("Classify").to_dict()
    assert registry.get_template("team/p@2").kind == kind
    assert [i.name for i in registry.list(template_kind=kind)] == ["team/p"]
    assert registry.item("team/p").tags == ["sentiment"]


@pytest.mark.parametrize("kind", KINDS)
def test_references_resolve_to_the_right_version(registry, kind):
    v1 = registry.commit("p", TEMPLATES[kind]("one"))
    v2 = registry.commit("p", TEMPLATES[kind]("two"))
    registry.commit("p", TEMPLATES[kind]("three"))
    assert registry.resolve("p").number == 3  # no production label: latest
    registry.label("p@2", "staging")
    registry.label("p@1", "production", force=True)
    cases = {
        "p": 1,
        "p@production": 1,
        "p@staging": 2,
        "p@latest": 3,
        "p@2": 2,
        f"p@sha:{v2.content_hash[:8]}": 2,
        f"p@sha:{v1.content_hash}": 1,
    }
    assert {ref: registry.resolve(ref).number for ref in cases} == cases


def test_ambiguous_hash_prefix_is_refused(registry):
    # find two templates whose hashes share a 4-digit prefix (hashing only), then commit both
    seen: dict[str, Template] = {}
    for i in range(100_000):
        t = Template(text=f"t{i} {{{{ x }}}}")
        prefix = t.content_hash()[:4]
        if prefix in seen:
            break
        seen[prefix] = t
    first, second = registry.commit("p", seen[prefix]), registry.commit("p", t)
    before = dump(registry.path)
    with pytest.raises(AmbiguousRefError, match=f"matches versions {first.number}, {second.number}"):
        registry.resolve(f"p@sha:{prefix}")
    with pytest.raises(AmbiguousRefError):
        registry.label(f"p@sha:{prefix}", "staging")
    assert dump(registry.path) == before
    assert registry.resolve(f"p@sha:{second.content_hash[:12]}").number == second.number


BAD_REFS = [
    ("nope", UnknownRefError, "unknown prompt 'nope'"),
    ("p@9", UnknownRefError, "has no version 9"),
    ("p@canary", UnknownRefError, "has no label 'canary'"),
    ("p@sha:ffffffff", UnknownRefError, "hash starting"),
    ("p@sha:zz", Exception, "invalid hash prefix"),
    ("p@0", Exception, "start at 1"),
    ("bad name", Exception, "invalid reference"),
]


@pytest.mark.parametrize(("ref", "error", "message"), BAD_REFS)
def test_bad_references_raise_and_change_nothing(registry, ref, error, message):
    registry.commit("p", Template(text="{{ x }}"))
    before = dump(registry.path)
    with pytest.raises(error, match=message):
        registry.resolve(ref)
    with pytest.raises(error, match=message):
        registry.label(ref, "staging")
    assert dump(registry.path) == before


@pytest.mark.parametrize("kind", KINDS)
def test_syntax_error_is_reported_with_location_and_writes_nothing(registry, kind):
    registry.commit("p", TEMPLATES[kind]("ok"))
    before = dump(registry.path)
    broken = TEMPLATES[kind]("broken {{ x ")
    with pytest.raises(TemplateSyntaxError) as info:
        registry.commit("p", broken)
    assert "line 1, column" in str(info.value)
    assert dump(registry.path) == before


def test_protected_label_needs_force_and_history_is_recorded(registry):
    registry.commit("p", Template(text="a {{ x }}"))
    registry.commit("p", Template(text="b {{ x }}"))
    before = dump(registry.path)
    with pytest.raises(RegistryError, match="protected"):
        registry.label("p@1", "production")
    assert dump(registry.path) == before
    registry.label("p@1", "production", force=True, reason="launch", actor="ana")
    assert registry.label("p@1", "production", force=True) is None  # already there: nothing recorded
    registry.label("p@2", "production", force=True, reason="better", actor="bo")
    history = [
        (m.from_number, m.to_number, m.actor, m.reason) for m in registry.label_history("p", "production")
    ]
    assert history == [(None, 1, "ana", "launch"), (1, 2, "bo", "better")]
    registry.set_protected_labels(["staging"])
    registry.label("p@1", "production")  # no longer protected
    with pytest.raises(RegistryError, match="protected"):
        registry.label("p@1", "staging")


def test_rollback_walks_back_and_records_each_move(registry):
    for word in "abcd":
        registry.commit("p", Template(text=f"{word} {{{{ x }}}}"))
    for n in (1, 2, 3):
        registry.label(f"p@{n}", "production", force=True)
    assert registry.rollback("p").to_number == 2
    assert registry.rollback("p").to_number == 1
    before = dump(registry.path)
    with pytest.raises(RegistryError, match="no earlier version"):
        registry.rollback("p")
    assert dump(registry.path) == before
    move = registry.rollback("p", to=4, reason="hotfix")
    assert (move.from_number, move.to_number, move.action, move.reason) == (1, 4, "rollback", "hotfix")
    assert registry.resolve("p").number == 4
    with pytest.raises(RegistryError, match="no label 'staging'"):
        registry.rollback("p", label="staging")


def test_log_interleaves_versions_and_label_moves_in_time_order(registry):
    registry.commit("p", Template(text="a {{ x }}"), "one")
    registry.label("p@1", "production", force=True)
    registry.commit("p", Template(text="b {{ x }}"), "two")
    registry.label("p@2", "staging")
    events = [(e["type"], e.get("number") or e.get("label")) for e in registry.log("p")]
    assert events == [("version", 1), ("label", "production"), ("version", 2), ("label", "staging")]


def test_diff_shows_text_and_contract_changes(registry):
    registry.commit("p", Template(text="Hello {{ name }}"))
    registry.commit("p", Template(text="Hi {{ name }} from {{ city }}"))
    d = registry.diff("p@1", "p@2")
    assert "-Hello {{ name }}" in d["text"] and "+Hi {{ name }} from {{ city }}" in d["text"]
    assert "+city: str, required" in d["contract"]
    assert registry.diff("p@1", "p@1")["text"] == ""


def test_list_filters_and_archive_hides_without_destroying(registry):
    registry.commit("team/a", TEMPLATES["single"]("a"), tags=["x"], task_type="classification")
    registry.commit("team/b", TEMPLATES["multi"]("b"), tags=["y"], task_type="generation")
    registry.commit("other", TEMPLATES["single"]("c"))
    registry.label("team/b@1", "staging")
    names = lambda **kw: [i.name for i in registry.list(**kw)]  # noqa: E731
    assert names(pattern="team/*") == ["team/a", "team/b"]
    assert names(tag="x") == ["team/a"]
    assert names(task_type="generation") == ["team/b"]
    assert names(label="staging") == ["team/b"]
    assert names(template_kind="single") == ["other", "team/a"]
    assert registry.archive("team/a") is True
    assert names(pattern="team/*") == ["team/b"]
    assert names(pattern="team/*", archived=True) == ["team/a", "team/b"]
    assert registry.resolve("team/a@1").number == 1  # versions are kept
    before = dump(registry.path)
    with pytest.raises(RegistryError, match="archived"):
        registry.commit("team/a", TEMPLATES["single"]("new"))
    assert dump(registry.path) == before
    registry.archive("team/a", undo=True)
    assert registry.commit("team/a", TEMPLATES["single"]("new")).number == 2


def test_observer_that_raises_does_not_roll_back_the_write(registry):
    from promptyard import hookimpl
    from promptyard.testing import plugin_registered

    seen = []

    class Observer:
        @hookimpl
        def on_version_committed(self, registry, version):
            seen.append(version.ref)
            raise RuntimeError("observer broke")

        @hookimpl
        def on_label_moved(self, registry, move):
            seen.append(move.label)
            raise RuntimeError("observer broke")

    with plugin_registered(Observer(), name="test-observer"):
        v = registry.commit("p", Template(text="{{ x }}"))
        registry.label("p@1", "staging")
    assert seen == ["p@1", "staging"]
    assert registry.resolve("p@staging").id == v.id


def test_write_block_is_one_transaction_and_refuses_nesting(registry):
    from promptyard.registry.tables import Setting

    before = dump(registry.path)
    with pytest.raises(ZeroDivisionError):
        with registry.write() as s:
            s.add(Setting(key="k", value="1"))
            s.flush()
            1 / 0  # noqa: B018 - anything raising inside the block rolls it all back
    assert dump(registry.path) == before
    with registry.write():
        with pytest.raises(RegistryError, match="already open"):
            registry.commit("p", Template(text="{{ x }}"))


def test_session_reads_the_same_rows_the_api_returns(registry):
    from sqlmodel import select

    from promptyard.registry.tables import Item, Version

    registry.commit("p", Template(text="a {{ x }}"))
    registry.commit("p", Template(text="b {{ x }}"))
    with registry.session() as s:
        item = s.exec(select(Item).where(Item.name == "p")).one()
        rows = s.exec(select(Version).where(Version.item_id == item.id).order_by(Version.number)).all()
    assert [(r.number, r.content_hash) for r in rows] == [(v.number, v.content_hash) for v in registry.versions("p")]


@pytest.mark.parametrize(("kwargs", "message"), [({"tags": "sentiment"}, "tags must be a list"),
                                                ({"lineage": ["x"]}, "lineage must be a mapping"),
                                                ({"tags": [1]}, "tags must be a list")])
def test_bad_commit_arguments_are_refused_and_change_nothing(registry, kwargs, message):
    registry.commit("p", Template(text="{{ x }}"))
    before = dump(registry.path)
    with pytest.raises(UsageError, match=message):
        registry.commit("p", Template(text="new {{ x }}"), **kwargs)
    assert dump(registry.path) == before
