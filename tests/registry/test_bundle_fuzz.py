"""Fuzzing the bundle importer (issue 17): whatever a bundle holds, the only exceptions are promptyard's own,
and a refused import writes nothing. Bounded: a few hundred examples, a few seconds."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptyard.core.errors import PromptyardError
from promptyard.core.template import Template
from tests.registry.helpers import dump

pytestmark = pytest.mark.filterwarnings("ignore")

TEMPLATE = Template(kind="single", text="hi {{ x }}")
VALID = {"format": "promptyard-bundle", "format_version": 1, "items": [{
    "kind": "prompt", "name": "fz", "task_type": None, "description": "", "tags": ["t"], "archived": False,
    "labels": {"production": 1},
    "versions": [{"number": 1, "content_hash": TEMPLATE.content_hash(), "content": TEMPLATE.to_dict(),
                  "contract": None, "message": "m", "author": "a", "created_at": "2026-01-01T00:00:00+00:00",
                  "lineage": {}, "artifact_hash": None}]}]}
PATHS = [(), ("format",), ("format_version",), ("items",), ("items", 0), ("items", 0, "kind"),
         ("items", 0, "name"), ("items", 0, "tags"), ("items", 0, "labels"), ("items", 0, "archived"),
         ("items", 0, "description"), ("items", 0, "versions"), ("items", 0, "versions", 0),
         ("items", 0, "versions", 0, "number"), ("items", 0, "versions", 0, "content"),
         ("items", 0, "versions", 0, "content", "text"), ("items", 0, "versions", 0, "content", "kind"),
         ("items", 0, "versions", 0, "contract"), ("items", 0, "versions", 0, "created_at"),
         ("items", 0, "versions", 0, "lineage"), ("items", 0, "versions", 0, "content_hash"),
         ("items", 0, "versions", 0, "artifact_hash"), ("items", 0, "versions", 0, "message")]

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _mutate(bundle: dict, path: tuple, value, delete: bool) -> dict:
    out = copy.deepcopy(bundle)
    if not path:
        return value
    node = out
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


@pytest.fixture
def reg(tmp_path):
    from promptyard import Registry

    with Registry.open(tmp_path / "fuzz" / "registry.db", create=True) as r:
        yield r


def _import(reg, source) -> None:
    before = dump(reg.path)
    try:
        reg.import_bundle(source)
    except PromptyardError:
        assert dump(reg.path) == before  # a refused import wrote nothing


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=values, delete=st.booleans())
def test_mutated_bundles_raise_only_promptyard_errors(reg, path, value, delete):
    _import(reg, json.loads(json.dumps(_mutate(VALID, path, value, delete), default=str)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".json", ".yaml"]), data=st.one_of(
    st.binary(max_size=200),
    st.tuples(st.integers(0, 400), st.binary(max_size=8)).map(
        lambda cut: (json.dumps(VALID).encode()[:cut[0]] + cut[1] + json.dumps(VALID).encode()[cut[0]:]))))
def test_damaged_bundle_files_raise_only_promptyard_errors(reg, tmp_path, suffix, data):
    path = tmp_path / f"bundle{suffix}"
    path.write_bytes(data)
    _import(reg, path)
