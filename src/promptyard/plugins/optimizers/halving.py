"""Successive halving over a pool of candidates (what ``eval search`` does), and random search.

Round r scores the surviving candidates on the first ``min_examples * eta**r`` validation examples
(nested: earlier examples are cached, so a round costs only its new examples) and keeps the best
``1/eta``, until one is left or the validation examples are used up.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.optimization import Candidate, best_so_far, check_positive


@dataclass
class HalvingConfig:
    """Settings of successive halving (``--set key=value``)."""

    min_examples: int = field(default=16, metadata={"help": "validation examples per candidate in round 0"})
    eta: int = field(default=2, metadata={"help": "keep 1/eta of the candidates per round; examples grow by eta"})

    def __post_init__(self) -> None:
        check_positive(self, "min_examples")
        if self.eta < 2:
            raise ValidationError(f"eta must be 2 or more, got {self.eta}", where="--set eta")


def plan(n_candidates: int, n_validation: int, min_examples: int, eta: int) -> list[tuple[int, int]]:
    """The rounds as (candidates alive, examples each)."""
    rounds, alive, examples = [], n_candidates, min(min_examples, n_validation)
    while True:
        rounds.append((alive, examples))
        if alive <= 1 or examples >= n_validation:
            return rounds
        alive, examples = max(1, math.ceil(alive / eta)), min(examples * eta, n_validation)


def planned_calls(rounds: list[tuple[int, int]]) -> int:
    """Model calls of a plan when nothing is cached: each round pays only for its new examples."""
    total, before = 0, 0
    for alive, examples in rounds:
        total += alive * (examples - before)
        before = examples
    return total


def _key(candidate: Candidate, n: int, sign: float) -> float:
    value = candidate.mean(range(n))
    return -math.inf if math.isnan(value) else sign * value


def halve(context: Any, candidates: list[Candidate], *, min_examples: int, eta: int) -> Candidate:
    """Successive halving over ``candidates``; returns the survivor. ``BudgetExhausted`` may escape."""
    problem = context.problem
    sign = 1.0 if problem.higher_is_better else -1.0
    alive = [c for c in candidates if c.status == "candidate"]
    examples = min(min_examples, problem.n_validation)
    r = 0
    while True:
        for c in alive:
            context.score(c, examples)
        context.log(kind="round", round=r, examples=examples,
                    scores={str(c.id): c.mean(range(examples)) for c in alive})
        alive.sort(key=lambda c, n=examples: _key(c, n, sign), reverse=True)  # stable: ties keep the earlier
        if len(alive) == 1 or examples >= problem.n_validation:
            return alive[0]
        alive = alive[:max(1, math.ceil(len(alive) / eta))]
        examples = min(examples * eta, problem.n_validation)
        r += 1


class SuccessiveHalving:
    """Score the pool (given or generated variants) by successive halving on the validation split."""

    name = "successive_halving"
    description = "successive halving over given or generated variants (what `eval search` does)"
    config_class = HalvingConfig

    def project(self, problem: Any, calls: int | None) -> dict[str, Any]:
        config = problem.config or HalvingConfig()
        if not problem.pool:
            raise ValidationError("successive halving needs variants to choose from",
                                  hint="--variants FILE or --generate")
        rounds = plan(len(problem.pool) + 1, problem.n_validation, config.min_examples, config.eta)
        need = planned_calls(rounds)
        return {"calls": need if calls is None else min(need, calls), "min_calls": rounds[0][0] * rounds[0][1],
                "min_validation": min(config.min_examples, 2 * config.eta),
                "rounds": [{"candidates": a, "examples": e} for a, e in rounds]}

    def optimize(self, context: Any) -> Candidate:
        config = context.problem.config or HalvingConfig()
        start = context.candidates[0]
        pool = [start] + [context.add(t, name=n, origin="pool", parent=start) for n, t in context.problem.pool]
        unique = list({c.id: c for c in pool}.values())
        return halve(context, unique, min_examples=config.min_examples, eta=config.eta)


@dataclass
class RandomConfig:
    """Settings of random search (``--set key=value``)."""

    examples: int = field(default=0, metadata={"help": "validation examples per candidate (0: all of them)"})


class RandomSearch:
    """Score candidates of the pool in random order on the same validation examples until the budget ends."""

    name = "random_search"
    description = "score the pool's candidates in random order, each on the same examples (a baseline)"
    config_class = RandomConfig

    def project(self, problem: Any, calls: int | None) -> dict[str, Any]:
        config = problem.config or RandomConfig()
        if not problem.pool:
            raise ValidationError("random search needs variants to choose from", hint="--variants FILE or --generate")
        each = config.examples or problem.n_validation
        need = (len(problem.pool) + 1) * min(each, problem.n_validation)
        return {"calls": need if calls is None else min(need, calls), "min_calls": min(each, problem.n_validation),
                "min_validation": 1}

    def optimize(self, context: Any) -> Candidate | None:
        problem = context.problem
        config = problem.config or RandomConfig()
        n = min(config.examples or problem.n_validation, problem.n_validation)
        start = context.candidates[0]
        order = list(problem.pool)
        random.Random(f"random-search:{problem.seed}").shuffle(order)
        context.score(start, n)
        for name, template in order:
            candidate = context.add(template, name=name, origin="pool", parent=start)
            if candidate.status == "candidate":
                context.score(candidate, n)
        return best_so_far(context.candidates, problem.higher_is_better)
