"""Eval runs over a real server: list, show (metrics with intervals), per-example rows paginated, and compare,
the same as the registry's own reads and `promptyard eval compare --json`, on two real runs of a tiny model."""

from __future__ import annotations

import json

import httpx
import pytest

import promptyard
from promptyard import Registry
from promptyard.registry.evals_store import list_runs, load_run
from promptyard.registry.tokens import create_token
from promptyard.testing import invoke, isolated_environment
from tests.evals.conftest import REVIEWS, SINGLE, SINGLE_V2
from tests.server.live import LiveServer
from tests.server.test_remote_client import json_roundtrip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evals(tmp_path_factory):
    root = tmp_path_factory.mktemp("evals")
    path = root / "reg" / "registry.db"
    data = root / "reviews.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in REVIEWS))
    with isolated_environment(root), Registry.open(path, create=True) as reg:
        reg.commit("sent", SINGLE, "v1", task_type="classification")
        reg.commit("sent", SINGLE_V2, "v2", task_type="classification")
        tokens = {"admin": create_token(reg, "admin", "admin")[1],
                  "team": create_token(reg, "team", "read", "team/*")[1]}
        ids = []
        for ref in ("sent@1", "sent@2"):
            done = invoke(["--registry", str(path), "eval", "run", "--prompt", ref, "--model", "tiny-causal",
                           "--data", str(data), "--split", "all", "--metric", "accuracy", "--metric", "f1",
                           "--batch-size", "4", "--no-cache", "--json"])
            assert done.exit_code == 0, done.output
            ids.append(json.loads(done.stdout)["run_id"])
        compared = invoke(["--registry", str(path), "eval", "compare", str(ids[0]), str(ids[1]), "--json"])
        assert compared.exit_code == 0, compared.output
    with LiveServer(path, root) as server:
        yield server, path, tokens, ids, json.loads(compared.stdout)


def get(server, token, path, **params):
    got = httpx.get(server.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert got.status_code == 200, got.text
    return got.json()


def test_list_and_show_match_the_registry(evals):
    server, path, tokens, ids, _ = evals
    with Registry.open(path) as reg:
        assert get(server, tokens["admin"], "/api/v1/evals") == json_roundtrip(list_runs(reg))
        for run_id in ids:
            shown = get(server, tokens["admin"], f"/api/v1/evals/{run_id}")
            assert shown == json_roundtrip(load_run(reg, run_id, with_examples=False))
            accuracy = next(m for m in shown["cells"][0]["metrics"] if m["name"] == "accuracy")
            assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]


def test_examples_are_paginated(evals):
    server, path, tokens, ids, _ = evals
    with Registry.open(path) as reg:
        want = json_roundtrip(load_run(reg, ids[0])["cells"][0]["examples"])
    pages = [get(server, tokens["admin"], f"/api/v1/evals/{ids[0]}/examples", offset=o, limit=5)
             for o in range(0, len(want), 5)]
    assert [e for p in pages for e in p["examples"]] == want
    assert pages[0]["total"] == len(REVIEWS)


def test_compare_matches_the_cli(evals):
    server, _, tokens, ids, cli_json = evals
    with promptyard.connect(server.url, token=tokens["admin"], timeout=120) as client:  # GET /api/v1/evals/compare
        assert client.compare_runs(ids[0], ids[1]) == json_roundtrip(cli_json)
        assert client.eval_run(ids[0])["id"] == ids[0]


def test_a_pattern_token_does_not_see_runs_of_other_prompts(evals):
    server, _, tokens, ids, _ = evals
    assert get(server, tokens["team"], "/api/v1/evals") == []
    hidden = httpx.get(f"{server.url}/api/v1/evals/{ids[0]}", headers={"Authorization": f"Bearer {tokens['team']}"})
    assert hidden.status_code == 404
