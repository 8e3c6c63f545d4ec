"""The web UI over plain HTTP (no browser): security headers, nothing linked from outside, sign-in and its
redirects, revoked tokens, name-limited tokens, errors as pages, and the pages under --no-auth."""

from __future__ import annotations

import re

import httpx
import pytest

from promptyard import Registry
from promptyard.registry.tokens import create_token, revoke_token
from tests.server.live import LiveServer

PAGES = ["/", "/?kind=multi&sort=changed", "/prompts/kinds/single", "/prompts/kinds/multi/-/template?v=1",
         "/prompts/kinds/structured/-/diff?a=1&b=2", "/prompts/kinds/dynamic/-/play", "/adapters", "/evals",
         "/searches", "/signin"]


def session(served, token: str = "reader") -> httpx.Client:
    client = httpx.Client(base_url=served.url, timeout=30)
    client.cookies.set("promptyard_session", served.tokens[token])
    return client


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_with_a_strict_policy_and_only_local_links(served, path):
    with session(served) as client:
        response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', response.text):
        assert url.startswith(("/", "?", "#")) and not url.startswith("//"), f"{url!r} on {path}"
    assert "<script>" not in response.text  # only <script src="/static/ui.js">


def test_static_files_ship_in_the_package_and_load_nothing_from_outside(served):
    with httpx.Client(base_url=served.url) as client:
        for name in ("ui.css", "ui.js", "favicon.svg"):
            response = client.get(f"/static/{name}")
            assert response.status_code == 200 and response.content
            assert not re.search(rb"https?://(?!www\.w3\.org/2000/svg)", response.content), name
            assert b"@import" not in response.content and b"url(" not in response.content
        assert client.get("/static/../app.py").status_code == 404
        assert client.get("/static/nothing.css").status_code == 404


def test_signed_out_pages_redirect_to_sign_in_and_back(served):
    with httpx.Client(base_url=served.url) as client:
        response = client.get("/prompts/kinds/single?x=1")
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=%2Fprompts%2Fkinds%2Fsingle%3Fx%3D1"
        form = client.get("/signin?next=/prompts/kinds/single")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
        bad = client.post("/signin", data={"csrf": csrf, "token": "pyd_wrong", "next": "/"})
        assert bad.status_code == 401 and "unknown or revoked token" in bad.text
        assert "promptyard_session" not in client.cookies
        assert client.post("/signin", data={"token": served.tokens["reader"]}).status_code == 403  # no CSRF
        good = client.post("/signin", data={"csrf": csrf, "token": served.tokens["reader"], "next": "//evil.example/"})
        assert good.status_code == 303 and good.headers["location"] == "/"  # never off this server
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert client.get("/").status_code == 200


def test_a_revoked_token_is_signed_out_at_its_next_request(served):
    with Registry.open(served.path) as reg:
        secret = create_token(reg, "short-lived", "read")[1]
    with httpx.Client(base_url=served.url) as client:
        client.cookies.set("promptyard_session", secret)
        assert client.get("/").status_code == 200
        with Registry.open(served.path) as reg:
            revoke_token(reg, "short-lived")
        response = client.get("/")
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")
        assert 'promptyard_session=""' in response.headers["set-cookie"] or "max-age=0" in \
            response.headers["set-cookie"].lower()


def test_a_name_limited_token_sees_only_its_names(served):
    with session(served, "team") as client:
        listed = client.get("/").text
        assert "kinds/single" in listed and "other/x" not in listed
        hidden = client.get("/prompts/other/x")
        assert hidden.status_code == 404 and "unknown prompt" in hidden.text
    with session(served, "admin") as client:
        assert client.get("/prompts/other/x").status_code == 200


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/prompts/kinds/nope", 404, "unknown prompt"),
    ("/prompts/kinds/single/-/template?v=9", 400, "no version"),
    ("/evals/12345", 404, "no eval run 12345"),
    ("/evals/compare?a=1", 400, "give two run numbers"),
    ("/searches/nope", 404, "no search"),
    ("/adapters/none", 404, "unknown adapter"),
])
def test_errors_are_pages_with_the_api_status_and_message(served, path, status, text):
    with session(served) as client:
        response = client.get(path)
    assert response.status_code == status and response.headers["content-type"].startswith("text/html")
    assert text in response.text and "Traceback" not in response.text


def test_without_auth_the_pages_need_no_sign_in_and_forms_still_need_csrf(tmp_path):
    path = tmp_path / "reg" / "registry.db"
    with Registry.open(path, create=True) as reg:
        reg.commit("open/p", {"kind": "single", "text": "Hi {{ x }}"}, "one")
        reg.commit("open/p", {"kind": "single", "text": "Hello {{ x }}"}, "two")
    with LiveServer(path, tmp_path, auth=False) as server, httpx.Client(base_url=server.url) as client:
        page = client.get("/prompts/open/p")
        assert page.status_code == 200 and 'id="move-label"' in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        url = "/prompts/open/p/-/label"
        assert client.post(url, data={"label": "staging", "version": "2"}).status_code == 403
        other = httpx.post(server.url + url, data={"csrf": csrf, "label": "staging", "version": "2"})
        assert other.status_code == 403  # the CSRF token is bound to this browser's cookie
        moved = client.post(url, data={"csrf": csrf, "label": "staging", "version": "2", "reason": "try"})
        assert moved.status_code == 303
        with Registry.open(path) as reg:
            assert reg.labels("open/p") == {"staging": 2}


def test_the_list_page_shows_a_change_made_elsewhere_at_the_next_load(served):
    with session(served) as client:
        assert "fresh/one" not in client.get("/").text
        with Registry.open(served.path) as reg:  # another connection, as the CLI would be
            reg.commit("fresh/one", {"kind": "single", "text": "new {{ x }}"}, "made elsewhere")
        assert "fresh/one" in client.get("/").text
        with Registry.open(served.path) as reg:
            reg.label("fresh/one@1", "canary")
        assert "canary → 1" in client.get("/?q=fresh").text
        with Registry.open(served.path) as reg:
            reg.label("kinds/multi@1", "canary")  # the newest change of all
        row = r'<td><a href="/prompts/([^"]+)">'
        assert re.findall(row, client.get("/?sort=changed").text)[:2] == ["kinds/multi", "fresh/one"]
        assert re.findall(row, client.get("/").text)[:2] == ["fresh/one", "kinds/dynamic"]
