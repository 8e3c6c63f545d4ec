"""Bootstrapped few-shot: run the starting prompt on training rows, keep the demonstrations it gets right,
and choose which, how many and in what order by successive halving on the validation split.

The result is a *dynamic* template that holds the chosen demonstrations (its pool, all shown, in order),
each written as the starting prompt rendered for that row followed by its answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.optimization import Candidate, check_positive
from promptyard.plugins.optimizers.halving import halve, plan, planned_calls

#: how a demonstration is written in front of the prompt
DEMO_LOOP = "{% for ex in examples %}{{ ex.prompt }} {{ ex.answer }}\n\n{% endfor %}"


@dataclass
class BootstrapConfig:
    """Settings of bootstrapped few-shot (``--set key=value``)."""

    train_examples: int = field(default=16, metadata={"help": "training rows the starting prompt is run on"})
    max_demos: int = field(default=4, metadata={"help": "most demonstrations in one prompt"})
    candidates: int = field(default=8, metadata={"help": "demonstration sets to try"})
    threshold: float = field(default=0.5, metadata={
        "help": "a row is a demonstration when its metric value is at least this (at most, for lower-is-better)"})
    max_demo_chars: int = field(default=240, metadata={
        "help": "longest demonstration kept (characters of its rendered prompt); 0: any length"})
    min_examples: int = field(default=16, metadata={"help": "validation examples per candidate in round 0"})
    eta: int = field(default=2, metadata={"help": "keep 1/eta of the candidates per round"})

    def __post_init__(self) -> None:
        check_positive(self, "train_examples", "max_demos", "candidates", "min_examples")
        if self.eta < 2:
            raise ValidationError(f"eta must be 2 or more, got {self.eta}", where="--set eta")


def demo_template(start: Any, demos: list[dict[str, Any]]) -> dict[str, Any]:
    """A dynamic template: the demonstrations (all, in order) in front of the starting prompt's text."""
    data = start.to_dict()
    for key in ("examples", "k", "selector"):
        data.pop(key, None)
    return {**data, "kind": "dynamic", "text": DEMO_LOOP + start.text, "examples": demos, "k": 0}


def _demo_sets(good: list[int], train: list[Any], config: BootstrapConfig, seed: int) -> list[list[int]]:
    """``config.candidates`` sets of 1..max_demos demonstrations, labels taken in turn, in random order."""
    rng = random.Random(f"bootstrap:{seed}")
    by_label: dict[str, list[int]] = {}
    for p in good:
        by_label.setdefault(str(train[p].target), []).append(p)
    sets, seen = [], set()
    for i in range(config.candidates * 4):
        if len(sets) == config.candidates:
            break
        k = min(1 + i % config.max_demos, len(good))
        groups = [rng.sample(v, len(v)) for _, v in sorted(by_label.items())]
        rng.shuffle(groups)
        chosen: list[int] = []
        while len(chosen) < k:  # one of each label in turn: a 2-shot prompt shows both classes
            for g in groups:
                if g and len(chosen) < k:
                    chosen.append(g.pop())
        rng.shuffle(chosen)
        if tuple(chosen) not in seen:
            seen.add(tuple(chosen))
            sets.append(chosen)
    return sets


class BootstrapFewShot:
    """Demonstrations the model itself gets right, chosen by successive halving."""

    name = "bootstrap_fewshot"
    description = "keep training rows the model gets right as demonstrations; choose which, how many, in what order"
    config_class = BootstrapConfig

    def project(self, problem: Any, calls: int | None) -> dict[str, Any]:
        config = problem.config or BootstrapConfig()
        if problem.start.kind != "single":
            raise ValidationError(f"bootstrapped few-shot starts from a single template, not {problem.start.kind}",
                                  hint="optimise a kind: single prompt (its demonstrations make it dynamic)")
        n_train = min(config.train_examples, len(problem.train))
        if n_train == 0:
            raise ValidationError("bootstrapped few-shot needs training rows", hint="use a data set with a train split")
        rounds = plan(config.candidates + 1, problem.n_validation, config.min_examples, config.eta)
        need = n_train + planned_calls(rounds)
        return {"calls": need if calls is None else min(need, calls),
                "min_calls": n_train + rounds[0][0] * rounds[0][1],
                "min_validation": min(config.min_examples, 2 * config.eta),
                "rounds": [{"candidates": a, "examples": e} for a, e in rounds]}

    def optimize(self, context: Any) -> Candidate:
        from promptyard.core.render import render  # jinja2: every start-up imports this plugin, few optimise

        problem = context.problem
        config = problem.config or BootstrapConfig()
        start = context.candidates[0]
        n_train = min(config.train_examples, len(problem.train))
        scores = context.score(start, n_train, split="train")
        right = (lambda r: r >= config.threshold) if problem.higher_is_better else (lambda r: r <= config.threshold)

        def short(p: int) -> bool:  # a small model reads a long demonstration instead of the question
            return not config.max_demo_chars or len(
                render(problem.start, problem.train[p].variables).text) <= config.max_demo_chars

        good = [s.position for s in scores if right(s.reward) and short(s.position)]
        context.log(kind="bootstrap", train_examples=n_train, kept=good)
        candidates = [start]
        for i, chosen in enumerate(_demo_sets(good, problem.train, config, problem.seed)):
            demos = [{"prompt": render(problem.start, problem.train[p].variables).text,
                      "answer": problem.train[p].answer} for p in chosen]
            candidates.append(context.add(demo_template(problem.start, demos), name=f"demos{i + 1}-k{len(chosen)}",
                                          origin="bootstrap", parent=start,
                                          details={"demonstrations": chosen, "k": len(chosen)}))
        unique = list({c.id: c for c in candidates}.values())
        return halve(context, unique, min_examples=config.min_examples, eta=config.eta)
