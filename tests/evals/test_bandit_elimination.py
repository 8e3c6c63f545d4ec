"""The bandit's elimination rule on the tiny model: a candidate that is worse by construction (the references
are the starting prompt's own greedy replies, so the start matches every one and a reworded prompt rarely
does) is eliminated once its upper bound falls below the start's lower bound, and gets no examples after."""

from __future__ import annotations

import json

import pytest

from promptyard.core.optimization import Candidate
from promptyard.evals.optimize_run import OptimizeRequest, make_plan, optimize
from promptyard.evals.runner import run_cell
from promptyard.evals.suite import CellSpec
from promptyard.plugins.optimizers.bandit import confidence_bounds, eliminated

START = {"kind": "single", "text": "Echo: {{ text }}\nReply:"}
WORSE = {"kind": "single", "text": "Write a different word entirely, never repeat.\nInput: {{ text }}\nOutput:"}
DECODING = {"max_new_tokens": 2, "batch_size": 1}  # one at a time: no padding, so replies replay exactly


@pytest.fixture
def echo_data(tmp_path, registry):
    """400 rows whose target is the tiny model's own greedy reply to the starting prompt."""
    registry.commit("echo", START, message="start", task_type="generation")
    plain = tmp_path / "plain.jsonl"
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    rows = [{"text": f"{words[i % 8]} {words[(i * 3) % 8]} {i}"} for i in range(400)]
    plain.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_cell(CellSpec(prompt="echo@1", model="tiny-causal", data=str(plain), split="all", task="generation",
                               decoding=DECODING, metrics=("exact_match",)), registry=registry)
    by_index = {e.index: e.prediction for e in result.examples}
    path = tmp_path / "echo.jsonl"
    path.write_text("".join(json.dumps({**r, "target": by_index[i]}) + "\n" for i, r in enumerate(rows)))
    return str(path)


def test_a_worse_candidate_is_eliminated_and_gets_fewer_examples(registry, echo_data, tmp_path):
    variants = tmp_path / "pool.yaml"
    variants.write_text(json.dumps([{"name": "worse", **WORSE}]))
    base = CellSpec(prompt="echo@1", model="tiny-causal", data=echo_data, task="generation", decoding=DECODING)

    def run(**settings):
        request = OptimizeRequest(prompt="echo@1", base=base, optimizer="bandit", metric="exact_match",
                                  settings={"batch": "2", **settings}, variants_file=str(variants), commit=False)
        record = optimize(registry, make_plan(registry, request)).record
        return record, {c["number"]: len(c["rewards"]) for c in record["candidates"]}

    record, seen = run()
    worse = next(c for c in record["candidates"] if c["name"] == "worse")
    assert sum(worse["rewards"].values()) < len(worse["rewards"]) / 2  # it is worse: most replies differ
    assert seen[worse["number"]] < seen[0] == 40, seen
    dropped = [h for h in record["history"] if h["kind"] == "eliminate"]
    assert [h["candidate"] for h in dropped] == [worse["number"]]
    assert dropped[0]["upper"] < dropped[0]["best_lower"] and dropped[0]["n"] == seen[worse["number"]]
    after = [h for h in record["history"] if h["kind"] == "pull" and h["t"] > dropped[0]["t"]]
    assert all(h["candidate"] != worse["number"] for h in after)  # no example after its elimination
    assert record["best_candidate"] == 0
    # without the rule UCB1 keeps sampling it until every example is spent
    plain, plain_seen = run(eliminate="false")
    assert not [h for h in plain["history"] if h["kind"] == "eliminate"]
    assert seen[worse["number"]] < plain_seen[worse["number"]], (seen, plain_seen)
    assert plain_seen[0] == 40


def _arm(i, rewards):
    return Candidate(i, f"c{i}", None, "pool", rewards={p: r for p, r in enumerate(rewards)})


@pytest.mark.parametrize(("good", "bad", "sign", "dropped"), [
    ([1.0] * 30, [0.0] * 30, 1.0, [1]),  # far apart with many examples: the bad one goes
    ([1.0] * 3, [0.0] * 3, 1.0, []),  # the same gap on three examples each is not evidence enough
    ([0.6, 0.4] * 15, [0.5, 0.5] * 15, 1.0, []),  # close means never eliminate
    ([1.0] * 30, [0.0] * 30, -1.0, [0]),  # lower is better: the all-ones arm is the bad one
])
def test_elimination_needs_the_upper_bound_below_the_best_lower_bound(good, bad, sign, dropped):
    arms = [_arm(0, good), _arm(1, bad)]
    assert [c.id for c in eliminated(arms, sign, horizon=30, delta=0.05)] == dropped
    bounds = confidence_bounds(arms, sign, horizon=30, delta=0.05)
    for c in arms:
        low, high = bounds[c.id]
        assert low < sign * c.mean() < high
