"""Bad input over HTTP: the right 4xx with the CLI's message, where and hint, no traceback, and the registry
unchanged (a full export and a dump of every row compared before and after)."""

from __future__ import annotations

import pytest

from promptyard import Registry
from promptyard.core.template import Template, Variable
from tests.registry.helpers import dump
from tests.server.live import LiveServer

P = "/api/v1/prompts"
BIG = "x" * (1 << 20)


@pytest.fixture(scope="module")
def runaway(served):
    """A template that passes the static checks but breaks a sandbox bound when rendered."""
    with Registry.open(served.path) as reg:
        reg.commit("bad/runaway", Template(kind="single", text="{{ range(n) | list | length }}",
                                           variables=[Variable(name="n", type="int")]))
        reg.commit("bad/slow", Template(kind="single", text="{% for a in s %}{% for b in s %}{% for c in s %}"
                                                            "{{ c }}{% endfor %}{% endfor %}{% endfor %}"))
    return "bad/runaway"


CASES = [
    # (id, method, path, body (dict → JSON, bytes → raw JSON text), status, words in the message)
    ("malformed JSON render", "POST", f"{P}/kinds/single/-/render", b'{"variables": {', 400, "not valid JSON"),
    ("malformed JSON commit", "POST", f"{P}/kinds/single/-/versions", b"{template", 400, "not valid JSON"),
    ("variables not a mapping", "POST", f"{P}/kinds/single/-/render", {"variables": ["x"]}, 422, "variables"),
    ("seed not a number", "POST", f"{P}/kinds/single/-/render", {"variables": {}, "seed": "two"}, 422, "seed"),
    ("unknown body key", "POST", f"{P}/kinds/single/-/render", {"vars": {"x": 1}}, 422, "vars"),
    ("template not a mapping", "POST", f"{P}/kinds/single/-/versions", {"template": "text"}, 422, "template"),
    ("version not a number", "PUT", f"{P}/kinds/single/-/labels/staging", {"version": "x"}, 422, "version"),
    ("neither version nor ref", "PUT", f"{P}/kinds/single/-/labels/staging", {}, 400, "exactly one"),
    ("ref of another prompt", "PUT", f"{P}/kinds/single/-/labels/staging", {"ref": "kinds/multi@1"}, 400,
     "not a version"),
    ("unknown version", "GET", f"{P}/kinds/single@99", None, 404, "no version 99"),
    ("unknown label", "GET", f"{P}/kinds/single@nolabel", None, 404, "no label"),
    ("unknown prompt", "GET", f"{P}/no/such", None, 404, "unknown prompt"),
    ("bad reference", "GET", f"{P}/kinds/single@sha:zz", None, 400, ""),
    ("render unknown", "POST", f"{P}/no/such/-/render", {"variables": {}}, 404, "unknown prompt"),
    ("label to a missing version", "PUT", f"{P}/kinds/single/-/labels/staging", {"version": 42}, 404, "version 42"),
    ("rollback unknown prompt", "POST", f"{P}/no/such/-/rollback", {"label": "staging"}, 404, "unknown prompt"),
    ("rollback without history", "POST", f"{P}/other/x/-/rollback", {"label": "production"}, 409, "no label"),
    ("bad label name", "PUT", f"{P}/kinds/single/-/labels/9bad", {"version": 1}, 400, "label"),
    ("reserved label", "PUT", f"{P}/kinds/single/-/labels/latest", {"version": 1}, 400, "latest"),
    ("bad prompt name", "POST", f"{P}/bad name!/-/versions", {"template": {"text": "x"}}, 400, "invalid name"),
    ("diff with unknown", "GET", f"{P}/-/diff?a=kinds/single@1&b=kinds/single@77", None, 404, "no version 77"),
    ("template syntax error", "POST", f"{P}/bad/syntax/-/versions", {"template": {"text": "{{ x "}}, 422,
     "unexpected end"),
    ("unknown template kind", "POST", f"{P}/bad/kind/-/versions", {"template": {"kind": "poem", "text": "x"}}, 422,
     "unknown kind"),
    ("sandbox escape at commit", "POST", f"{P}/bad/escape/-/versions",
     {"template": {"text": "{{ x.__class__.__mro__ }}"}}, 422, "sandbox"),
    ("include at commit", "POST", f"{P}/bad/include/-/versions", {"template": {"text": "{% include '/etc/passwd' %}"}},
     422, "include"),
    ("missing variable", "POST", f"{P}/kinds/single@1/-/render", {"variables": {}}, 422, "missing variable 'x'"),
    ("wrong variable type", "POST", f"{P}/bad/runaway/-/render", {"variables": {"n": "many"}}, 422, "'n'"),
    ("sandbox bound at render", "POST", f"{P}/bad/runaway/-/render", {"variables": {"n": 10**6}}, 422,
     "range of 1000000 items"),
    ("oversized body", "POST", f"{P}/bad/big/-/versions", {"template": {"text": BIG}}, 413, "larger than"),
    ("oversized variables", "POST", f"{P}/kinds/single/-/render", {"variables": {"x": BIG}}, 413, "larger than"),
    ("eval run not a number", "GET", "/api/v1/evals/abc", None, 422, "run_id"),
    ("unknown eval run", "GET", "/api/v1/evals/999", None, 404, "no eval run 999"),
    ("unknown search", "GET", "/api/v1/searches/nope", None, 404, "no search"),
    ("token with a bad scope", "POST", "/api/v1/tokens", {"name": "x", "scope": "root"}, 422, "scope"),
    ("token name taken", "POST", "/api/v1/tokens", {"name": "admin", "scope": "read"}, 409, "exists"),
    ("revoke unknown token", "DELETE", "/api/v1/tokens/nobody", None, 404, "no token"),
    ("watch timeout negative", "POST", f"{P}/-/watch", {"refs": [], "timeout": -1}, 422, "timeout"),
]


def snapshot(path):
    with Registry.open(path) as reg:
        return reg.export(), reg.export(kind="adapter"), dump(path)


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(served, runaway, method, path, body, status, words):
    before = snapshot(served.path)
    kw = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else {
        "json": body}
    with served.client("admin") as http:
        got = http.request(method, path, **({} if body is None else kw))
    assert got.status_code == status, got.text
    error = got.json()
    assert set(error) == {"message", "where", "hint"}
    assert words in error["message"]
    assert "Traceback" not in got.text and "File \"" not in got.text
    assert snapshot(served.path) == before


def test_a_chunked_body_over_the_limit_is_413(served):
    def chunks():
        yield b'{"template": {"text": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}}'

    before = snapshot(served.path)
    with served.client("admin") as http:
        got = http.post(f"{P}/bad/chunked/-/versions", content=chunks(), headers={"content-type": "application/json"})
    assert got.status_code == 413 and "larger than" in got.json()["message"]
    assert snapshot(served.path) == before


def test_render_time_is_bounded(served, runaway, tmp_path):
    with LiveServer(served.path, tmp_path, args=("--render-timeout", "0.05")) as quick:
        before = snapshot(served.path)
        got = quick_post(quick, served, "bad/slow", {"s": "x" * 99})
        assert got.status_code == 422
        assert "sandbox limit deadline_s=0.05 exceeded" in got.json()["message"]
        assert quick_post(quick, served, "kinds/single@1", {"x": "fine"}).status_code == 200
        assert snapshot(served.path) == before


def quick_post(server, served, ref, variables):
    import httpx

    return httpx.post(f"{server.url}{P}/{ref}/-/render", json={"variables": variables},
                      headers={"Authorization": f"Bearer {served.tokens['reader']}"}, timeout=30)
