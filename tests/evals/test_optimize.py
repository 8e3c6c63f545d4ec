"""Prompt optimisers on the tiny model: the budget is never exceeded (real model calls counted), every
candidate is recorded with its lineage, the test split is never read while the optimiser runs, and the
winner is committed naming the optimisation record."""

from __future__ import annotations

import json

import pytest

from promptyard.core.errors import DataError, UnknownNameError, UsageError, ValidationError
from promptyard.core.host import lookup
from promptyard.evals import cells
from promptyard.evals.optimize_run import OptimizeRequest, make_plan, optimize
from promptyard.evals.suite import CellSpec
from promptyard.registry.evals_store import list_runs
from promptyard.registry.optimization_records import list_optimizations

#: optimiser -> settings small enough for 10 validation examples
SETTINGS = {
    "successive_halving": {"min_examples": "3"},
    "bootstrap_fewshot": {"min_examples": "3", "candidates": "4", "train_examples": "12"},
    "proposed_instructions": {"rounds": "2", "proposals": "2", "examples": "6", "failure_examples": "6",
                              "max_new_tokens": "12"},
    "bandit": {"batch": "2"},
    "random_search": {},
}


@pytest.fixture
def splits_read(monkeypatch):
    """Every split handed out by ``load_split``, marked with whether an optimiser was running."""
    seen: list[tuple[str, bool]] = []
    running = {"now": False}
    real = cells.load_split

    def watched(spec):
        seen.append((spec.split, running["now"]))
        return real(spec)

    monkeypatch.setattr(cells, "load_split", watched)
    for name in SETTINGS:
        optimizer = lookup("prompt_optimizers", name)
        real_optimize = optimizer.optimize

        def wrapped(context, _real=real_optimize):
            running["now"] = True
            try:
                return _real(context)
            finally:
                running["now"] = False

        monkeypatch.setattr(optimizer, "optimize", wrapped)
    return seen


def request(data, optimizer, **kw):
    base = CellSpec(prompt="sent@1", model="tiny-causal", data=data)
    kw.setdefault("settings", SETTINGS.get(optimizer, {}))
    kw.setdefault("generate", True)
    kw.setdefault("proposer", "tiny-causal")
    return OptimizeRequest(prompt="sent@1", base=base, optimizer=optimizer, **kw)


def run(registry, data, optimizer, **kw):
    return optimize(registry, make_plan(registry, request(data, optimizer, **kw))).record


@pytest.mark.parametrize("optimizer", list(SETTINGS))
def test_optimiser_keeps_the_budget_records_every_candidate_and_never_reads_test(
        registry, reviews100, calls, splits_read, optimizer):
    budget = 60
    record = run(registry, reviews100, optimizer, budget_calls=budget)
    # the budget counts real model calls, the search and the test split together
    assert calls["n"] <= budget
    assert record["calls_spent"] + record["test_calls"] == calls["n"]
    assert record["status"] in ("finished", "stopped")
    # the test split is read after the search only
    assert ("test", True) not in splits_read
    assert ("validation", True) in splits_read and splits_read[-1][0] == "test"
    # every candidate with its lineage; the start is number 0
    candidates = record["candidates"]
    assert candidates[0]["origin"] == "start" and candidates[0]["parent"] is None
    assert len(candidates) >= 2
    for c in candidates[1:]:
        assert c["parent"] is not None and c["parent"] < c["number"]
        assert c["origin"] in ("pool", "bootstrap", "proposal")
        assert c["status"] == "rejected" or c["content_hash"] == _hash(c["template"])
    scored = [c for c in candidates if c["rewards"]]
    assert sum(c["calls"] for c in candidates) <= record["calls_spent"]
    for c in scored:
        assert all(s["split"] in ("train", "validation") for s in c["scores"])
        assert c["scores"][-1]["low"] <= c["scores"][-1]["value"] <= c["scores"][-1]["high"]
    if optimizer == "bootstrap_fewshot":
        demos = [c for c in candidates if c["origin"] == "bootstrap"]
        assert demos and all(c["template"]["kind"] == "dynamic" and c["details"]["demonstrations"] for c in demos)
    if optimizer == "proposed_instructions":
        assert record["result"]["proposer_calls"] >= 1
        assert all("proposer_output" in c["details"] for c in candidates if c["origin"] == "proposal")
    # honest selection: chosen on validation, reported on test, the winner committed naming the record
    test = record["result"]["test"]
    assert test["n"] == 10 and 0.0 <= test["winner"]["value"] <= 1.0
    committed = record["result"]["committed"]
    if record["best_candidate"] == 0:
        assert committed is None and record["result"]["comparison"] is None
    else:
        info = registry.resolve(committed["ref"])
        assert info.message.startswith(f"optimize {record['id']}: {optimizer} chose candidate")
        assert info.lineage["optimization"]["id"] == record["id"]
        assert info.content_hash == candidates[record["best_candidate"]]["content_hash"]
        m = record["result"]["comparison"]["metrics"][0]
        assert m["delta"] == pytest.approx(test["winner"]["value"] - test["start"]["value"])
        assert 0.0 < m["test"]["p_value"] <= 1.0


def _hash(template):
    from promptyard.core.template import Template

    return Template.from_dict(template).content_hash()


def test_a_run_stopped_by_the_budget_records_everything_and_reports_the_best_so_far(registry, reviews100, calls):
    plan = make_plan(registry, request(reviews100, "bandit", budget_calls=40))
    assert plan.projection["calls"] == 20 and plan.test_reserve == 20  # 3 arms x 10 would need 30
    record = optimize(registry, plan).record
    assert record["status"] == "stopped" and record["result"]["budget"]["stopped_by"] == "calls"
    assert record["calls_spent"] <= 20 and calls["n"] <= 40
    pulls = [h for h in record["history"] if h["kind"] == "pull"]
    assert pulls  # the reward history is stored, pull by pull
    by_number = {c["number"]: c for c in record["candidates"]}
    for pull in pulls:
        first, upto = pull["positions"]
        assert pull["rewards"] == [by_number[pull["candidate"]]["rewards"][str(p)] for p in range(first, upto)]
    assert record["best_candidate"] in by_number and record["result"]["test"] is not None


def test_cache_hits_do_not_count(registry, reviews100, calls):
    first = run(registry, reviews100, "successive_halving")
    spent = calls["n"]
    again = run(registry, reviews100, "successive_halving")
    assert first["calls_spent"] > 0 and spent == first["calls_spent"] + first["test_calls"]
    assert again["calls_spent"] == 0 and again["test_calls"] == 0 and calls["n"] == spent
    assert [c["rewards"] for c in again["candidates"]] == [c["rewards"] for c in first["candidates"]]


def test_dry_run_projection_is_what_an_uncached_run_spends(registry, reviews100, calls):
    plan = make_plan(registry, request(reviews100, "successive_halving"))
    projected = plan.to_dict()
    assert calls["n"] == 0 and list_optimizations(registry) == []
    record = optimize(registry, plan).record
    assert record["calls_spent"] == projected["search_calls"]
    assert record["test_calls"] <= projected["test_calls"]


def test_a_contract_breaking_candidate_is_rejected_and_never_scored(registry, reviews100, calls):
    from promptyard.core.optimization import Budget
    from promptyard.evals.cache import ResponseCache
    from promptyard.evals.modelpool import ModelPool
    from promptyard.evals.optimize_context import RunContext, Scorer

    plan = make_plan(registry, request(reviews100, "proposed_instructions"))
    budget = Budget(100)
    scorer = Scorer(plan.base, registry=registry, cache=ResponseCache(), pool=ModelPool(), budget=budget,
                    metric="accuracy", task_type="sentiment", sizes=plan.sizes)
    context = RunContext(plan.problem, budget, scorer, None)
    start = context.add(plan.problem.start, name="start", origin="start")
    extra = context.add({"kind": "single", "text": "{{ text }} by {{ author }}"}, name="p1", origin="proposal",
                        parent=start)
    dropped = context.add({"kind": "single", "text": "Is this positive?"}, name="p2", origin="proposal", parent=start)
    broken = context.add({"kind": "single", "text": "{% if %}{{ text }}"}, name="p3", origin="proposal", parent=start)
    assert (extra.status, dropped.status, broken.status) == ("rejected",) * 3
    assert "adds author" in extra.reason and "drops text" in dropped.reason and "does not parse" in broken.reason
    for candidate in (extra, dropped, broken):
        with pytest.raises(ValidationError, match="never scored"):
            context.score(candidate, 4)
    with pytest.raises(ValidationError, match="not 'test'"):
        context.score(start, 4, split="test")
    assert calls["n"] == 0 and budget.spent == 0
    same = context.add({"kind": "single", "text": "Review: {{ text }}\nSentiment:"}, name="again", origin="pool")
    assert same is start  # an equal template is the earlier candidate, not a new one


@pytest.mark.parametrize(("optimizer", "kw", "error", "message"), [
    ("nope", {}, UnknownNameError, "unknown prompt optimizer 'nope'"),
    ("bandit", {"budget_calls": 25}, ValidationError, "too small for one round of bandit"),
    ("proposed_instructions", {"proposer": "minilm-l6"}, ValidationError, "cannot generate text"),
    ("proposed_instructions", {"proposer": "no-such-model"}, UnknownNameError, "unknown model"),
    ("bandit", {"settings": {"policy": "greedy"}}, ValidationError, "unknown policy"),
    ("bandit", {"settings": {"batch": "two"}}, ValidationError, "expected int"),
    ("successive_halving", {"settings": {"rounds": "2"}}, ValidationError, "unknown setting 'rounds'"),
    ("successive_halving", {"generate": False}, ValidationError, "needs variants"),
    ("successive_halving", {"label": "production"}, UsageError, "does not label production"),
    ("bandit", {"validation_sample": 3}, DataError, "needs at least 4"),
])
def test_bad_input_is_one_clear_error_before_any_model_call(registry, reviews100, calls, optimizer, kw, error,
                                                            message):
    versions = len(registry.log("sent"))
    with pytest.raises(error, match=message):
        make_plan(registry, request(reviews100, optimizer, **kw))
    assert calls["n"] == 0
    assert list_optimizations(registry) == [] and list_runs(registry) == [] and len(registry.log("sent")) == versions


def test_a_validation_split_too_small_is_refused(registry, reviews, calls):
    with pytest.raises(DataError, match="validation split .* has 2 examples"):
        make_plan(registry, request(reviews, "successive_halving"))
    assert calls["n"] == 0 and list_optimizations(registry) == []


def test_cli_optimize_dry_run_run_list_and_show(registry, reviews100, calls, tmp_path):
    from promptyard.testing import invoke

    args = ["optimize", "--prompt", "sent@1", "--model", "tiny-causal", "--data", reviews100, "--optimizer",
            "bandit", "--generate", "--set", "batch=2", "--budget-calls", "50"]
    dry = invoke([*args, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.stderr
    projection = json.loads(dry.stdout)
    assert projection["total_calls"] <= 50 and projection["test_calls"] == 20 and calls["n"] == 0
    done = invoke([*args, "--label", "staging", "--json"])
    assert done.exit_code == 0, done.stderr
    record = json.loads(done.stdout)
    assert calls["n"] <= 50
    listed = invoke(["optimize", "list", "--json"])
    assert [o["id"] for o in json.loads(listed.stdout)] == [record["id"]]
    shown = invoke(["optimize", "show", record["id"], "--plot", str(tmp_path / "progress.png")])
    assert shown.exit_code == 0 and record["id"] in shown.stdout and "test split (10 examples)" in shown.stdout
    assert (tmp_path / "progress.png").stat().st_size > 1000
    if record["result"]["committed"]:
        assert registry.resolve("sent@staging").ref == record["result"]["committed"]["ref"]
    missing = invoke(["optimize", "show", "opt-nothing"])
    assert missing.exit_code != 0 and "no optimization 'opt-nothing'" in missing.stderr
    bad = invoke([*args[:-2], "--budget-calls", "3"])
    assert bad.exit_code != 0 and bad.stderr.count("\n") == 1 and "too small" in bad.stderr


def test_eval_search_is_successive_halving_behind_the_hook(registry, reviews100, tmp_path):
    from promptyard.testing import invoke

    variants = tmp_path / "variants.yaml"
    variants.write_text('- "{{ text }}"\n- {name: movie, text: "Movie: {{ text }}. Verdict:"}\n'
                        '- "Tell me: {{ text }} is"\n')
    result = invoke(["eval", "search", "--prompt", "sent@1", "--variants", str(variants), "--model", "tiny-causal",
                     "--data", reviews100, "--min-examples", "3"])
    assert result.exit_code == 0, result.stderr
    assert "round 0: 3 examples" in result.stdout and "round 2: 10 examples" in result.stdout
    (record,) = list_optimizations(registry)
    assert record["optimizer"] == "successive_halving" and f"optimization {record['id']}" in result.stdout
