"""The prompts endpoints over a real server give what the local API gives on the same file, for every kind."""

from __future__ import annotations

import pytest

from promptyard import Registry
from tests.registry.helpers import KINDS


@pytest.fixture
def local(served):
    reg = Registry.open(served.path)
    yield reg
    reg.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", ["", "@1", "@2", "@latest", "@production", "@staging", "@sha:"])
def test_resolve_matches_local(served, local, kind, suffix):
    name = f"kinds/{kind}"
    if suffix == "@sha:":
        suffix += local.resolve(f"{name}@2").content_hash[:8]
    with served.client() as http:
        got = http.get(f"/api/v1/prompts/{name}{suffix}")
    assert got.status_code == 200, got.text
    want = local.resolve(name + suffix)
    body = got.json()
    assert {k: body[k] for k in want.to_dict()} == want.to_dict()
    assert body["item_labels"] == local.labels(name)
    assert got.headers["etag"] == body["etag"]


@pytest.mark.parametrize("kind", KINDS)
def test_reads_match_local(served, local, kind):
    name = f"kinds/{kind}"
    with served.client("reader") as http:
        versions = http.get(f"/api/v1/prompts/{name}/-/versions").json()
        log = http.get(f"/api/v1/prompts/{name}/-/log").json()
        labels = http.get(f"/api/v1/prompts/{name}/-/labels").json()
        diff = http.get("/api/v1/prompts/-/diff", params={"a": f"{name}@1", "b": f"{name}@2"}).json()
        listed = http.get("/api/v1/prompts", params={"kind": kind}).json()
    assert [v["ref"] for v in versions] == [v.ref for v in local.versions(name)]
    assert [v["content"] for v in versions] == [v.content for v in local.versions(name)]
    want_log = [{**e, "time": e["time"].isoformat()} for e in local.log(name)]
    assert [{k: e.get(k) for k in w} for e, w in zip(log, want_log, strict=True)] == want_log
    assert labels["labels"] == local.labels(name)
    assert labels["history"] == [m.to_dict() for m in local.label_history(name)]
    assert diff == local.diff(f"{name}@1", f"{name}@2")
    assert [i["name"] for i in listed["items"]] == [i.name for i in local.list(template_kind=kind)]
    assert next(i for i in listed["items"] if i["name"] == name) == local.item(name).to_dict()


@pytest.mark.parametrize("kind", KINDS)
def test_render_matches_local(served, local, kind):
    name = f"kinds/{kind}"
    with served.client("reader") as http:
        got = http.post(f"/api/v1/prompts/{name}@production/-/render", json={"variables": {"x": "hello"}, "seed": 3})
    assert got.status_code == 200, got.text
    want = local.render(f"{name}@production", {"x": "hello"}, seed=3).to_json()
    assert {k: got.json()[k] for k in want} == want
    assert got.json()["ref"] == f"{name}@1"


def test_conditional_get_answers_304_until_a_label_moves(served, local):
    name = "kinds/single"
    with served.client() as http:
        first = http.get(f"/api/v1/prompts/{name}@production")
        etag = first.headers["etag"]
        assert http.get(f"/api/v1/prompts/{name}@production", headers={"If-None-Match": etag}).status_code == 304
        local.label(f"{name}@2", "canary")  # another label of the same prompt: the label state changed
        again = http.get(f"/api/v1/prompts/{name}@production", headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.headers["etag"] != etag
    assert again.json()["item_labels"]["canary"] == 2


def test_list_pagination(served, local):
    with served.client("reader") as http:
        total = http.get("/api/v1/prompts", params={"limit": 1}).json()["total"]
        pages = [http.get("/api/v1/prompts", params={"offset": o, "limit": 2}).json() for o in range(0, total, 2)]
    names = [i["name"] for p in pages for i in p["items"]]
    assert names == [i.name for i in local.list()]
    assert pages[0]["total"] == len(names)
