"""Proposed instructions (OPRO/GEPA-style): a proposer model writes an instruction from the task
description, a few training examples, the earlier instructions with their scores and the current best
prompt's failures; each proposal is put in front of the starting prompt, scored on the validation split,
and the best one is reflected on in the next round.

A proposal that breaks the starting template's variable contract (a new ``{{ name }}``, a syntax error)
is rejected by the host before it is scored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import ValidationError
from promptyard.core.optimization import Candidate, check_positive


@dataclass
class ProposalConfig:
    """Settings of proposed instructions (``--set key=value``)."""

    rounds: int = field(default=3, metadata={"help": "propose-score-reflect rounds"})
    proposals: int = field(default=2, metadata={"help": "instructions proposed per round"})
    examples: int = field(default=32, metadata={"help": "validation examples every candidate is scored on"})
    shown_examples: int = field(default=3, metadata={"help": "training examples shown to the proposer"})
    failure_examples: int = field(default=16, metadata={
        "help": "training rows the current best prompt is run on to find its failures"})
    shown_failures: int = field(default=3, metadata={"help": "failures shown to the proposer"})
    max_chars: int = field(default=300, metadata={"help": "longest instruction kept (characters)"})
    max_new_tokens: int = field(default=64, metadata={"help": "tokens the proposer may write"})

    def __post_init__(self) -> None:
        check_positive(self, "rounds", "proposals", "examples", "max_chars", "max_new_tokens")


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 1] + "…"


def request(problem: Any, history: list[tuple[str, float]], failures: list[Any], attempt: int,
            config: ProposalConfig) -> str:
    """The proposer's prompt: the task, examples, scored earlier instructions (worst first), failures."""
    lines = ["You write instructions for a language model that answers a task."]
    if problem.description:
        lines.append(f"Task: {problem.description}")
    if problem.labels:
        lines.append(f"The answer is one of: {', '.join(problem.labels)}.")
    shown = problem.train[:config.shown_examples]
    if shown:
        lines.append("\nExamples:")
        lines += [f"Input: {_clip(' '.join(str(v) for v in ex.variables.values()))}\nAnswer: {ex.answer}"
                  for ex in shown]
    if history:
        lines.append(f"\nEarlier instructions and their {problem.metric} (higher is better):")
        ordered = sorted(history, key=lambda h: h[1] if problem.higher_is_better else -h[1])
        lines += [f'"{text or "(none)"}" {problem.metric}={score:.2f}' for text, score in ordered]
    if failures:
        lines.append("\nThe best instruction so far got these wrong:")
        lines += [f"Input: {_clip(' '.join(str(v) for v in f.variables.values()))}\nExpected: {f.target}; "
                  f"the model said: {f.prediction or '(nothing)'}" for f in failures]
    lines.append(f"\nWrite new instruction number {attempt} that helps the model answer correctly, different "
                 "from the earlier ones. Reply with the instruction only, one or two sentences.")
    return "\n".join(lines)


_LEAD = re.compile(r"^\s*(new\s+)?(instruction|prompt)(\s+number)?\s*\d*\s*[:.-]\s*", re.IGNORECASE)


def instruction_from(reply: str, max_chars: int) -> str:
    """The instruction in a proposer's reply: its first paragraph, without a leading label or quotes."""
    text = reply.strip().split("\n\n")[0].strip()
    text = _LEAD.sub("", text).strip().strip('"\'“”').strip()
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut[:cut.rfind(". ") + 1] if ". " in cut else cut
    return text.strip()


class ProposedInstructions:
    """Instructions written by a proposer model, scored, and reflected on."""

    name = "proposed_instructions"
    description = "a proposer model writes instructions from examples and failures (OPRO/GEPA-style)"
    config_class = ProposalConfig
    #: the host checks that the proposer model can generate before any model call
    needs_proposer = True

    def project(self, problem: Any, calls: int | None) -> dict[str, Any]:
        config = problem.config or ProposalConfig()
        if not getattr(problem.start, "text", ""):
            raise ValidationError(f"proposed instructions need a template with a text, not {problem.start.kind}",
                                  hint="optimise a single or dynamic prompt")
        m = min(config.examples, problem.n_validation)
        reflect = min(config.failure_examples, len(problem.train))
        per_round = reflect + config.proposals * (1 + m)
        need = m + config.rounds * per_round
        return {"calls": need if calls is None else min(need, calls), "min_calls": m + reflect + 1 + m,
                "min_validation": min(config.examples, 8), "rounds": config.rounds}

    def optimize(self, context: Any) -> Candidate:
        problem = context.problem
        config = problem.config or ProposalConfig()
        sign = 1.0 if problem.higher_is_better else -1.0
        m = min(config.examples, problem.n_validation)
        start = context.candidates[0]
        context.score(start, m)
        best = start
        history: list[tuple[str, float]] = [("", start.mean(range(m)))]

        def key(c: Candidate) -> float:
            value = c.mean(range(m))
            return -math.inf if math.isnan(value) else sign * value

        for r in range(config.rounds):
            failures = []
            n_reflect = min(config.failure_examples, len(problem.train))
            if n_reflect:
                scored = context.score(best, n_reflect, split="train")
                worst = sorted(scored, key=lambda s: sign * s.reward)
                failures = [s for s in worst if s.prediction != s.target][:config.shown_failures]
            for j in range(config.proposals):
                ask = request(problem, history, failures, len(history), config)
                reply = context.propose(ask, max_new_tokens=config.max_new_tokens)
                instruction = instruction_from(reply, config.max_chars)
                data = {**problem.start.to_dict(), "text": f"{instruction}\n\n{problem.start.text}"}
                candidate = context.add(data, name=f"round{r + 1}-{j + 1}", origin="proposal", parent=best,
                                        details={"instruction": instruction, "proposer_output": reply,
                                                 "request": ask, "round": r + 1},
                                        reject="empty proposal" if not instruction else None)
                if candidate.status != "candidate" or candidate.n >= m:
                    continue  # rejected, or the same text as an earlier candidate
                context.score(candidate, m)
                history.append((instruction, candidate.mean(range(m))))
                if key(candidate) > key(best):
                    best = candidate
            context.log(kind="round", round=r + 1, best=best.id, best_score=best.mean(range(m)))
        return best
