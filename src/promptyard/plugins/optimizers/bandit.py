"""Bandit allocation: UCB1 or Thompson sampling spends validation examples across candidates online.

Each pull scores one candidate on its next ``batch`` validation examples (every candidate walks the same
examples in the same order, so their rewards stay paired); the reward is the per-example metric value.
A candidate that keeps losing stops receiving examples early. Every pull is logged with its rewards.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.optimization import BudgetExhausted, Candidate, best_so_far, check_positive

POLICIES = ("ucb1", "thompson")


@dataclass
class BanditConfig:
    """Settings of bandit allocation (``--set key=value``)."""

    policy: str = field(default="ucb1", metadata={"help": "ucb1 or thompson"})
    batch: int = field(default=4, metadata={"help": "validation examples per pull"})
    exploration: float = field(default=1.0, metadata={"help": "UCB1's bonus factor c in c * sqrt(2 ln t / n)"})

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValidationError(f"unknown policy {self.policy!r}", where="--set policy",
                                  hint=f"one of {', '.join(POLICIES)}")
        check_positive(self, "batch")
        if self.exploration < 0:
            raise ValidationError(f"exploration must be 0 or more, got {self.exploration}", where="--set exploration")


def _bounded(candidates: list[Candidate]) -> bool:
    return all(0.0 <= r <= 1.0 for c in candidates for r in c.rewards.values())


def choose(arms: list[Candidate], t: int, config: BanditConfig, sign: float, rng: random.Random) -> Candidate:
    """The arm to pull next: the highest UCB1 index, or the highest Thompson draw."""
    if config.policy == "ucb1":
        def index(c: Candidate) -> float:
            return sign * c.mean() + config.exploration * math.sqrt(2 * math.log(max(t, 1)) / c.n)
        return max(arms, key=index)
    if _bounded(arms) and sign > 0:
        def draw(c: Candidate) -> float:
            wins = sum(c.rewards.values())
            return rng.betavariate(1 + wins, 1 + c.n - wins)
    else:  # unbounded rewards: a normal posterior around the mean, spread by the pooled deviation
        every = [r for c in arms for r in c.rewards.values()]
        mu = sum(every) / len(every)
        spread = math.sqrt(sum((r - mu) ** 2 for r in every) / len(every)) or 1.0

        def draw(c: Candidate) -> float:
            return rng.gauss(sign * c.mean(), spread / math.sqrt(c.n))
    return max(arms, key=draw)


class BanditAllocation:
    """UCB1 / Thompson sampling over the pool; rewards are per-example metric values."""

    name = "bandit"
    description = "UCB1 or Thompson sampling spends validation examples across candidates online"
    config_class = BanditConfig

    def project(self, problem: Any, calls: int | None) -> dict[str, Any]:
        config = problem.config or BanditConfig()
        if not problem.pool:
            raise ValidationError("bandit allocation needs variants to choose from",
                                  hint="--variants FILE or --generate")
        arms = len(problem.pool) + 1
        need = arms * problem.n_validation
        return {"calls": need if calls is None else min(need, calls), "min_calls": arms * config.batch,
                "min_validation": 2 * config.batch}

    def optimize(self, context: Any) -> Candidate | None:
        problem = context.problem
        config = problem.config or BanditConfig()
        sign = 1.0 if problem.higher_is_better else -1.0
        rng = random.Random(f"bandit:{problem.seed}")
        start = context.candidates[0]
        arms = [start] + [context.add(t, name=n, origin="pool", parent=start) for n, t in problem.pool]
        arms = [c for c in {c.id: c for c in arms}.values() if c.status == "candidate"]
        t = 0

        def pull(arm: Candidate) -> None:
            nonlocal t
            before = arm.n
            upto = min(before + config.batch, problem.n_validation)
            context.score(arm, upto)
            t += 1
            context.log(kind="pull", t=t, policy=config.policy, candidate=arm.id, positions=[before, upto],
                        rewards=[arm.rewards[p] for p in range(before, upto)])

        try:
            for arm in arms:  # every arm once: UCB1 needs a first reward
                pull(arm)
            while True:
                open_arms = [a for a in arms if a.n < problem.n_validation]
                if not open_arms:
                    break
                pull(choose(open_arms, t, config, sign, rng))
        except BudgetExhausted:
            pass  # the budget decides when to stop; the pulls so far are the evidence
        # recommend among the arms that received a fair share: a lucky arm seen once is not the winner
        most = max(a.n for a in arms)
        trusted = [a for a in arms if a.n * 2 >= most]
        return best_so_far(trusted, problem.higher_is_better)
