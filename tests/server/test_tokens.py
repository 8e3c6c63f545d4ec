"""Tokens and scopes over a real server: 401 without a valid token, 403 beyond the scope, 404 outside the name
pattern, the token's name in the label history, revocation at once, hashes only, --no-auth on loopback only."""

from __future__ import annotations

import sqlite3
import subprocess

import httpx
import pytest

from promptyard import Registry
from tests.server.live import PROMPTYARD, LiveServer, cli_env

PROD = "/api/v1/prompts/kinds/single/-/labels/production"
STAGING = "/api/v1/prompts/kinds/single/-/labels/staging"


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"message", "where", "hint"}
    return body


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc", "bearer pyd_wrong"])
def test_no_valid_token_is_401(served, header):
    headers = {"Authorization": header} if header else {}
    got = httpx.get(served.url + "/api/v1/prompts", headers=headers)
    assert got.status_code == 401
    assert got.headers["www-authenticate"] == "Bearer"
    assert error_of(got)["message"] in ("a token is required", "unknown or revoked token")


def test_health_needs_no_token(served):
    assert httpx.get(served.url + "/healthz").json()["status"] == "ok"
    assert httpx.get(served.url + "/readyz").status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/prompts/kinds/single/-/versions", {"template": {"text": "x {{ y }}"}}),
    ("PUT", STAGING, {"version": 1}),
    ("POST", "/api/v1/prompts/kinds/single/-/rollback", {"label": "staging"}),
    ("POST", "/api/v1/prompts/kinds/single/-/archive", {}),
    ("GET", "/api/v1/tokens", None),
])
def test_a_read_token_cannot_write(served, method, path, body):
    with served.client("reader") as http:
        got = http.request(method, path, json=body)
    assert got.status_code == 403
    assert "needs" in error_of(got)["message"]


def test_write_moves_staging_but_not_production_admin_moves_both_audited(served):
    with Registry.open(served.path) as reg:
        before = reg.labels("kinds/single")
    with served.client("writer") as http:
        refused = http.put(PROD, json={"version": 2, "force": True, "reason": "try"})
        assert refused.status_code == 403
        assert "admin" in error_of(refused)["message"]
        moved = http.put(STAGING, json={"version": 1, "reason": "stage it"})
        assert moved.status_code == 200 and moved.json()["actor"] == "writer"
    with served.client("admin") as http:
        unforced = http.put(PROD, json={"version": 2})
        assert unforced.status_code == 409 and "protected" in error_of(unforced)["message"]
        forced = http.put(PROD, json={"version": 2, "force": True, "reason": "ship it"})
        assert forced.status_code == 200, forced.text
        back = http.post("/api/v1/prompts/kinds/single/-/rollback", json={"reason": "undo"})
        assert back.status_code == 200
        http.put(STAGING, json={"version": before["staging"]})
    with Registry.open(served.path) as reg:
        history = reg.label_history("kinds/single")
        assert [(m.label, m.actor, m.reason) for m in history[-4:-1]] == [
            ("staging", "writer", "stage it"), ("production", "admin", "ship it"), ("production", "admin", "undo")]
        assert reg.labels("kinds/single") == before


def test_a_pattern_token_gets_404_for_names_outside_it(served):
    with served.client("team") as http:
        hidden = http.get("/api/v1/prompts/other/x")
        missing = http.get("/api/v1/prompts/other/nothing-here")
        listed = http.get("/api/v1/prompts").json()["items"]
        hidden_write = http.put("/api/v1/prompts/other/x/-/labels/staging", json={"version": 1})
        commit = http.post("/api/v1/prompts/other/new/-/versions", json={"template": {"text": "t"}})
        diff = http.get("/api/v1/prompts/-/diff", params={"a": "kinds/single@1", "b": "other/x@1"})
        render = http.post("/api/v1/prompts/other/x/-/render", json={"variables": {"x": "1"}})
    assert hidden.status_code == missing.status_code == 404
    assert error_of(hidden)["message"] == error_of(missing)["message"].replace("other/nothing-here", "other/x")
    assert listed and all(i["name"].startswith("kinds/") for i in listed)
    assert hidden_write.status_code == commit.status_code == diff.status_code == render.status_code == 404
    with Registry.open(served.path) as reg:
        assert "other/new" not in [i.name for i in reg.list()]


def test_a_revoked_token_is_refused_at_once(served):
    with served.client("admin") as http:
        created = http.post("/api/v1/tokens", json={"name": "short-lived", "scope": "read"})
    assert created.status_code == 201
    secret = created.json()["token"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(served.url + "/api/v1/prompts", headers=headers).status_code == 200
    revoked = subprocess.run([*PROMPTYARD, "--registry", str(served.path), "token", "revoke",
                              "short-lived"], env=cli_env(served.server.home, served.path), capture_output=True,
                             text=True, timeout=120)
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(served.url + "/api/v1/prompts", headers=headers).status_code == 401


def test_token_create_prints_the_secret_once_and_stores_only_its_hash(tmp_path):
    path = tmp_path / "reg" / "registry.db"
    Registry.open(path, create=True).close()
    env = cli_env(tmp_path, path)
    made = subprocess.run([*PROMPTYARD, "token", "create", "ci-bot", "--scope", "write",
                           "--prompts", "team/*"], env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("pyd_") and len(secret) > 40
    conn = sqlite3.connect(path)
    dumped = "\n".join(conn.iterdump())
    conn.close()
    assert secret not in dumped and secret[4:] not in dumped
    listed = subprocess.run([*PROMPTYARD, "token", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert '"ci-bot"' in listed.stdout and '"team/*"' in listed.stdout and secret not in listed.stdout


def test_no_auth_is_refused_off_loopback(tmp_path):
    path = tmp_path / "reg" / "registry.db"
    Registry.open(path, create=True).close()
    got = subprocess.run([*PROMPTYARD, "serve", "--registry", str(path), "--host", "0.0.0.0",
                          "--no-auth"], env=cli_env(tmp_path, path), capture_output=True, text=True, timeout=120)
    assert got.returncode == 2
    assert got.stderr.startswith("error: --no-auth: --no-auth is refused on 0.0.0.0")
    assert "Traceback" not in got.stderr


def test_no_auth_on_loopback_acts_as_the_server_user(tmp_path):
    path = tmp_path / "reg" / "registry.db"
    with Registry.open(path, create=True) as reg:
        reg.commit("open/p", {"text": "a"})
        reg.commit("open/p", {"text": "b"})
    with LiveServer(path, tmp_path, auth=False) as server:
        got = httpx.put(server.url + "/api/v1/prompts/open/p/-/labels/staging", json={"version": 2})
    assert got.status_code == 200
    assert got.json()["actor"]
