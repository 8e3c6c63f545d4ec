"""Bandit allocation: UCB1 or Thompson sampling spends validation examples across candidates online.

Each pull scores one candidate on its next ``batch`` validation examples (every candidate walks the same
examples in the same order, so their rewards stay paired); the reward is the per-example metric value.
A candidate that keeps losing stops receiving examples early, and one whose upper confidence bound falls
below the best candidate's lower bound is eliminated: it receives no more examples (Hoeffding bounds with a
union bound over candidates and pulls, so a candidate is wrongly dropped with probability at most ``delta``).
Every pull and every elimination is logged.
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
    eliminate: bool = field(default=True, metadata={
        "help": "stop giving examples to a candidate whose upper bound is below the best lower bound"})
    delta: float = field(default=0.05, metadata={
        "help": "elimination error rate: a candidate is dropped wrongly with probability at most delta"})

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValidationError(f"unknown policy {self.policy!r}", where="--set policy",
                                  hint=f"one of {', '.join(POLICIES)}")
        check_positive(self, "batch")
        if self.exploration < 0:
            raise ValidationError(f"exploration must be 0 or more, got {self.exploration}", where="--set exploration")
        if not 0.0 < self.delta < 1.0:
            raise ValidationError(f"delta must be between 0 and 1, got {self.delta}", where="--set delta")


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


def confidence_bounds(arms: list[Candidate], sign: float, horizon: int, delta: float
                      ) -> dict[int, tuple[float, float]]:
    """Each arm's (lower, upper) bound on its signed mean reward: Hoeffding's radius
    ``span * sqrt(ln(2 K H / delta) / (2 n))`` for K arms over at most H examples each. The span is 1 for
    rewards in [0, 1], else the observed range (then the bounds are a heuristic, not a guarantee)."""
    every = [r for c in arms for r in c.rewards.values()]
    span = 1.0 if _bounded(arms) else (max(every) - min(every) if every else 0.0) or 1.0
    log_term = math.log(2 * max(len(arms), 1) * max(horizon, 1) / delta)
    out = {}
    for c in arms:
        if c.n:
            radius = span * math.sqrt(log_term / (2 * c.n))
            out[c.id] = (sign * c.mean() - radius, sign * c.mean() + radius)
    return out


def eliminated(arms: list[Candidate], sign: float, horizon: int, delta: float) -> list[Candidate]:
    """The arms whose upper bound is below the best lower bound of any arm (never the best arm itself)."""
    bounds = confidence_bounds(arms, sign, horizon, delta)
    if not bounds:
        return []
    best_low = max(low for low, _ in bounds.values())
    return [c for c in arms if c.id in bounds and bounds[c.id][1] < best_low]


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

        dropped: set[int] = set()

        def eliminate() -> None:
            if not config.eliminate:
                return
            bounds = confidence_bounds(arms, sign, problem.n_validation, config.delta)
            best_low = max(low for low, _ in bounds.values())
            for arm in eliminated(arms, sign, problem.n_validation, config.delta):
                if arm.id not in dropped:
                    dropped.add(arm.id)
                    context.log(kind="eliminate", t=t, candidate=arm.id, n=arm.n, upper=bounds[arm.id][1],
                                best_lower=best_low)

        try:
            for arm in arms:  # every arm once: UCB1 needs a first reward
                pull(arm)
            while True:
                eliminate()
                open_arms = [a for a in arms if a.n < problem.n_validation and a.id not in dropped]
                if not open_arms:
                    break
                pull(choose(open_arms, t, config, sign, rng))
        except BudgetExhausted:
            pass  # the budget decides when to stop; the pulls so far are the evidence
        # recommend among the arms that received a fair share: a lucky arm seen once is not the winner
        kept = [a for a in arms if a.id not in dropped]
        most = max(a.n for a in kept)
        trusted = [a for a in kept if a.n * 2 >= most]
        return best_so_far(trusted, problem.higher_is_better)
