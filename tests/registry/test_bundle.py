"""Export and import: round trips, hash checks, conflicts, and bad bundles leaving the registry untouched."""

from __future__ import annotations

import json

import pytest

from promptyard.core.errors import BundleError, RegistryError
from promptyard.core.template import Template
from tests.registry.helpers import KINDS, TEMPLATES, dump


@pytest.fixture
def other(tmp_path):
    from promptyard import Registry

    reg = Registry.open(tmp_path / "other" / "registry.db", create=True)
    yield reg
    reg.close()


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_export_import_round_trip_for_every_kind(registry, other, tmp_path, suffix):
    for kind in KINDS:
        registry.commit(f"p-{kind}", TEMPLATES[kind]("one"), "first")
        registry.commit(f"p-{kind}", TEMPLATES[kind]("two"), "second")
        registry.label(f"p-{kind}@1", "production", force=True)
    path = tmp_path / f"bundle{suffix}"
    registry.export(path=path)
    report = other.import_bundle(path)
    assert [i["added"] for i in report["items"]] == [[1, 2]] * 4
    for kind in KINDS:
        mine, theirs = registry.versions(f"p-{kind}"), other.versions(f"p-{kind}")
        assert [(v.number, v.content_hash, v.message) for v in mine] == [
            (v.number, v.content_hash, v.message) for v in theirs
        ]
        assert other.labels(f"p-{kind}") == {"production": 1}
    # importing again adds nothing; a longer history appends with the same numbers
    assert other.import_bundle(path)["items"][0]["added"] == []
    registry.commit("p-single", TEMPLATES["single"]("three"))
    other.import_bundle(registry.export(["p-single"]))
    assert other.resolve("p-single@latest").number == 3


def _bundle(registry):
    registry.commit("p", Template(text="a {{ x }}"))
    registry.commit("p", Template(text="b {{ x }}"))
    return registry.export(["p"])


def _edited(bundle):
    bundle["items"][0]["versions"][1]["content"]["text"] = "evil {{ x }}"
    return bundle


def _renumbered(bundle):
    bundle["items"][0]["versions"][1]["number"] = 5
    return bundle


def _bad_label(bundle):
    bundle["items"][0]["labels"] = {"production": 9}
    return bundle


def _syntax(bundle):
    from promptyard.core.records import content_hash_of

    v = bundle["items"][0]["versions"][1]
    v["content"]["text"] = "{{ x "
    v["content_hash"] = content_hash_of(v["content"])
    return bundle


def _bad_time(bundle):
    bundle["items"][0]["versions"][0]["created_at"] = "yesterday"
    return bundle


def _bad_lineage(bundle):
    bundle["items"][0]["versions"][0]["lineage"] = ["not", "a", "mapping"]
    return bundle


def _bad_tags(bundle):
    bundle["items"][0]["tags"] = "sentiment"
    return bundle


BAD_BUNDLES = [
    ("bad tags", _bad_tags, BundleError, "tags must be a list"),
    ("bad time", _bad_time, BundleError, "not an ISO time"),
    ("bad lineage", _bad_lineage, BundleError, "lineage must be a mapping"),
    ("hash mismatch", _edited, BundleError, "does not match its content_hash"),
    ("gap in numbers", _renumbered, BundleError, "must run 1, 2, 3"),
    ("label to nothing", _bad_label, BundleError, "missing version 9"),
    ("syntax error", _syntax, Exception, "line 1"),
    ("not a bundle", lambda b: {"items": []}, BundleError, "not a promptyard bundle"),
]


@pytest.mark.parametrize(("case", "spoil", "error", "message"), BAD_BUNDLES, ids=[b[0] for b in BAD_BUNDLES])
def test_bad_bundles_are_refused_and_change_nothing(registry, other, case, spoil, error, message):
    bundle = spoil(_bundle(registry))
    other.commit("keep", Template(text="{{ x }}"))
    before = dump(other.path)
    with pytest.raises(error, match=message):
        other.import_bundle(bundle)
    assert dump(other.path) == before


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2"])
def test_corrupt_bundle_file_is_refused(other, tmp_path, text):
    path = tmp_path / "bundle.json"
    path.write_text(text)
    before = dump(other.path)
    with pytest.raises(BundleError, match="invalid JSON|empty bundle"):
        other.import_bundle(path)
    assert dump(other.path) == before


def test_conflicting_versions_are_refused_or_imported_under_a_new_name(registry, other):
    bundle = _bundle(registry)
    other.commit("p", Template(text="a {{ x }}"))
    other.commit("p", Template(text="different {{ x }}"))
    before = dump(other.path)
    with pytest.raises(RegistryError, match="version 2 differs"):
        other.import_bundle(bundle)
    assert dump(other.path) == before
    report = other.import_bundle(json.loads(json.dumps(bundle)), as_name="p-imported")
    assert report["items"][0]["name"] == "p-imported"
    assert other.resolve("p-imported@2").content_hash == registry.resolve("p@2").content_hash


def test_import_into_an_archived_prompt_is_refused(registry, other):
    bundle = _bundle(registry)
    other.commit("p", Template(text="a {{ x }}"))
    other.archive("p")
    before = dump(other.path)
    with pytest.raises(RegistryError, match="archived"):
        other.import_bundle(bundle)
    assert dump(other.path) == before
