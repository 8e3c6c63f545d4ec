"""The ``judge`` metric: a judge model scores each generated reply with a judge prompt from the registry.

The judge prompt renders with ``{{ input }}`` (the prompt the model was given), ``{{ reply }}`` (what it
wrote) and ``{{ reference }}`` (the row's target), plus any variable of the data row. By default
(``scoring=choices``) the judge model is not asked to write anything: the host scores the two
continuations ``" yes"`` and ``" no"`` after the rendered judge prompt, and an example's score is
P(yes) / (P(yes) + P(no)). A 135M model rarely writes a parsable verdict, but it always gives two
log-likelihoods, so this works with the embedded SmolLM2. ``scoring=generate`` asks the judge to write its
verdict: the first number in the reply divided by ``scale`` (clipped to [0, 1]), else yes/pass/correct
as 1 and no/fail/incorrect as 0; a reply with neither scores 0.

Everything that needs the registry or a model goes through the :class:`~promptyard.core.protocols.MetricContext`
the host passes in, so this module imports core only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import ValidationError

#: the embedded SmolLM2, what runs when ``model`` is not set
DEFAULT_JUDGE_MODEL = "smollm2-135m"
SCORINGS = ("choices", "generate")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PASS = re.compile(r"\b(yes|pass|passed|correct|true|good)\b")
_FAIL = re.compile(r"\b(no|fail|failed|incorrect|wrong|false|bad)\b")


@dataclass
class JudgeConfig:
    """Settings of the judge metric (``--set judge.key=value``)."""

    prompt: str = field(default="", metadata={"help": "the judge prompt: a registry reference (grader@production) "
                                                      "or a template file"})
    model: str = field(default=DEFAULT_JUDGE_MODEL, metadata={"help": "the judge model (any model reference)"})
    scoring: str = field(default="choices", metadata={
        "help": "choices: P(yes) of the two continuations yes/no; generate: parse the judge's written verdict"})
    yes: str = field(default=" yes", metadata={"help": "the passing continuation (scoring=choices)"})
    no: str = field(default=" no", metadata={"help": "the failing continuation (scoring=choices)"})
    max_new_tokens: int = field(default=8, metadata={"help": "length of the written verdict (scoring=generate)"})
    scale: float = field(default=1.0, metadata={"help": "a written number is divided by this (10 for 0-10 scores)"})
    chat: bool = field(default=False, metadata={"help": "wrap the judge prompt in the judge model's chat template"})

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValidationError(f"unknown judge scoring {self.scoring!r}", where="--set judge.scoring",
                                  hint=f"one of {', '.join(SCORINGS)}")
        if self.yes == self.no or not self.yes.strip() or not self.no.strip():
            raise ValidationError("judge.yes and judge.no must be two different non-empty continuations",
                                  where="--set judge.yes")
        if self.max_new_tokens < 1:
            raise ValidationError(f"max_new_tokens must be 1 or more, got {self.max_new_tokens}",
                                  where="--set judge.max_new_tokens")
        if not self.scale > 0:
            raise ValidationError(f"scale must be above 0, got {self.scale}", where="--set judge.scale")


def yes_probability(log_likelihoods: Sequence[float]) -> float:
    """P(yes) / (P(yes) + P(no)) from the two continuations' log-likelihoods."""
    yes, no = float(log_likelihoods[0]), float(log_likelihoods[1])
    return 1.0 / (1.0 + math.exp(max(-700.0, min(700.0, no - yes))))


def parse_verdict(reply: str, scale: float = 1.0) -> float:
    """A written verdict as a score in [0, 1]: the first number / ``scale``, else a pass or fail word, else 0."""
    text = reply.strip().lower()
    number = _NUMBER.search(text)
    if number:
        return min(1.0, max(0.0, float(number.group()) / scale))
    passed, failed = _PASS.search(text), _FAIL.search(text)
    if passed and (not failed or passed.start() < failed.start()):
        return 1.0
    return 0.0


class JudgeMetric:
    """Mean judge score of the replies (per-example scores from the judge model)."""

    name = "judge"
    higher_is_better = True
    description = "a judge model scores each reply with a judge prompt from the registry (mean score, 0-1)"
    inputs = "judged"
    config_class = JudgeConfig

    def prepare(self, context: Any) -> None:
        """Resolve and check the judge prompt and model before any model call."""
        config = context.config or JudgeConfig()
        if not config.prompt:
            raise ValidationError("the judge metric needs a judge prompt", where="--set judge.prompt",
                                  hint="e.g. --set judge.prompt=grader@production (it renders {{ reply }})")
        from promptyard.core.render import check_template  # jinja2: every start-up imports this plugin

        template = context.resolve_prompt(config.prompt)
        names = {v.name for v in check_template(template)}
        if "reply" not in names:
            raise ValidationError(f"the judge prompt {config.prompt!r} does not use {{{{ reply }}}}",
                                  where="--set judge.prompt",
                                  hint="a judge prompt renders {{ reply }}, optionally {{ input }} and {{ reference }}")
        unknown = sorted(names - set(context.variables))
        if unknown:
            raise ValidationError(f"the judge prompt {config.prompt!r} uses {', '.join(unknown)}, which no "
                                  "example gives", where="--set judge.prompt",
                                  hint=f"it may use: {', '.join(sorted(context.variables))}")
        context.use_model(config.model)

    def judge(self, context: Any, items: Sequence[Mapping[str, Any]]) -> list[float]:
        """The judge model's score of each item (a reply with its input and reference)."""
        from promptyard.core.render import check_template, render  # jinja2, as in prepare

        config = context.config or JudgeConfig()
        template = context.resolve_prompt(config.prompt)
        accepted = {v.name for v in check_template(template)}
        texts = []
        for item in items:
            values = {**dict(item.get("variables") or {}), "input": item["input"], "reply": item["reply"],
                      "reference": item.get("reference") or ""}
            texts.append(render(template, {k: v for k, v in values.items() if k in accepted}).text)
        if config.scoring == "choices":
            rows = context.score_choices(texts, [config.yes, config.no], chat=config.chat)
            return [yes_probability(row) for row in rows]
        replies = context.generate(texts, max_new_tokens=config.max_new_tokens, chat=config.chat)
        return [parse_verdict(reply, config.scale) for reply in replies]

    def compute(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
                **kwargs: Any) -> dict[str, float]:
        """The mean of the per-example judge scores (``predictions``)."""
        values = [float(p) for p in predictions]
        return {"judge": sum(values) / len(values) if values else math.nan}

    def per_example(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
                    **kwargs: Any) -> list[float]:
        return [float(p) for p in predictions]


JUDGE = JudgeMetric()
