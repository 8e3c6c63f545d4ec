"""The host side of ``judged`` metrics (the built-in ``judge``): what such a metric resolves and runs goes
through a :class:`JudgeContext` (the :class:`promptyard.core.protocols.MetricContext` a plugin sees).

A cell is prepared before any model call: each judged metric's settings are built from the cell's
``metric_options`` and its ``prepare`` resolves the judge prompt and names the judge model through the
context, so a bad one is an error before anything runs. After the cell's replies, :func:`judge_examples`
hands them to the metric's ``judge``; its model calls go through the response cache under keys made of the
judge model's content hash, the judge prompt's exact version and hash, and the text the judge reads. The
per-example scores are kept on each example (stored with the run), and the judge's identity goes into the
cell's lineage and its key.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from promptyard.core.errors import EvalError, PromptyardError, ValidationError
from promptyard.core.host import lookup
from promptyard.core.lookups import find_loader, model_kind, runs_as
from promptyard.core.optimization import build_config
from promptyard.core.protocols import member
from promptyard.evals.cache import response_key
from promptyard.evals.modelpool import ModelPool
from promptyard.runtime import inference
from promptyard.runtime.prompts import ResolvedPrompt, resolve_prompt

log = logging.getLogger(__name__)

#: what a judge call's cache key names as its "task"; bump when a judge call's stored value changes shape
JUDGE_TASK = ("judge", "1")
#: variables every judge prompt may use, besides the data's own
JUDGE_VARIABLES = ("input", "reply", "reference")


class JudgeContext:
    """What one judged metric of one cell resolves and runs (implements ``MetricContext``)."""

    def __init__(self, metric: str, config: Any, *, variables: Sequence[str], registry: Any = None,
                 registry_path: str | None = None):
        self.metric = metric
        self.config = config
        self.variables = tuple(sorted({*JUDGE_VARIABLES, *variables}))
        self._registry = registry
        self._registry_path = registry_path
        self.prompts: dict[str, ResolvedPrompt] = {}
        self.model_ref: str | None = None
        self.model_hash: str | None = None
        self.pool: ModelPool | None = None
        self.cache: Any = None
        self.hits = 0
        self.misses = 0

    # -- what prepare resolves ---------------------------------------------------------------------

    def resolve_prompt(self, ref: str) -> Any:
        if ref not in self.prompts:
            try:
                self.prompts[ref] = resolve_prompt(ref, self._registry, registry_path=self._registry_path)
            except PromptyardError as exc:
                err = copy.copy(exc)  # the same class (and exit code), said as the judge's prompt
                err.message, err.where = f"judge prompt {ref!r}: {exc.message}", f"--set {self.metric}.prompt"
                raise err from None
        return self.prompts[ref].template

    def use_model(self, ref: str) -> None:
        where = f"--set {self.metric}.model"
        try:
            find_loader(ref)  # an unknown model reference is an error naming the loaders
            kind = runs_as(model_kind(ref))
        except PromptyardError as exc:
            err = copy.copy(exc)
            err.message, err.where = f"judge model {ref!r}: {exc.message}", where
            raise err from None
        if kind != "causal":
            raise ValidationError(f"the judge model {ref!r} cannot generate text (it is an encoder)", where=where,
                                  hint="use a causal model such as smollm2-135m")
        self.model_ref = ref

    # -- the judge's model calls -------------------------------------------------------------------

    def generate(self, texts: list[str], *, max_new_tokens: int = 16, chat: bool = False) -> list[str]:
        def run(loaded: Any, prompts: list[str]) -> list[dict[str, Any]]:
            replies = inference.generate(loaded, prompts, max_new_tokens=max_new_tokens, batch_size=8)
            return [{"output": r} for r in replies]

        values = self._calls("generate", texts, None, chat, {"max_new_tokens": max_new_tokens}, run)
        return [v["output"] for v in values]

    def score_choices(self, texts: list[str], choices: list[str], *, chat: bool = False) -> list[list[float]]:
        def run(loaded: Any, prompts: list[str]) -> list[dict[str, Any]]:
            return [{"scores": [float(x) for x in row]}
                    for row in inference.score_choices(loaded, prompts, list(choices), batch_size=8)]

        values = self._calls("choices", texts, list(choices), chat, {}, run)
        return [v["scores"] for v in values]

    def _calls(self, mode: str, texts: list[str], choices: list[str] | None, chat: bool,
               decoding: dict[str, Any], run: Any) -> list[dict[str, Any]]:
        if self.model_ref is None:
            raise EvalError(f"metric {self.metric!r} ran a model without naming one",
                            hint="its prepare() calls context.use_model(ref)")
        from promptyard.runtime.model_text import model_text  # jinja2: cells (which imports this) loads it lazily

        pool = self.pool or ModelPool()
        with pool.use(self.model_ref, None) as loaded:
            self.model_hash = loaded.content_hash
            prompts = [model_text(t, None, loaded.tokenizer, chat=chat) for t in texts]
            extra = {"judge_prompts": sorted([p.resolved, p.version_id, p.content_hash]
                                             for p in self.prompts.values())}
            keys = [response_key(model_hash=loaded.content_hash, adapter_hash=None, prompt=p,
                                 decoding={**decoding, "chat": chat}, task=JUDGE_TASK[0], task_version=JUDGE_TASK[1],
                                 mode=mode, choices=choices, extra=extra) for p in prompts]
            found = self.cache.get_many(keys) if self.cache is not None else {}
            todo = [i for i, k in enumerate(keys) if k not in found]
            fresh = dict(zip(todo, run(loaded, [prompts[i] for i in todo]), strict=True)) if todo else {}
        if self.cache is not None and fresh:
            self.cache.put_many({keys[i]: v for i, v in fresh.items()})
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        return [fresh[i] if i in fresh else found[keys[i]] for i in range(len(keys))]

    # -- what the lineage records ------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """The judge as the cell's lineage (and its key) records it: settings, prompt versions, model hash."""
        config = self.config
        settings = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}
        return {"settings": settings,
                "prompts": [{"ref": p.ref, "resolved": p.resolved, "version_id": p.version_id, "hash": p.content_hash}
                            for p in self.prompts.values()],
                "model": {"ref": self.model_ref, "hash": self.model_hash}}


def judged_metrics(names: Sequence[str]) -> list[str]:
    """The metrics of ``names`` that are scored by a judge (``inputs == "judged"``)."""
    return [n for n in names if member("metrics", lookup("metrics", n), "inputs") == "judged"]


def prepare_judges(spec: Any, names: Sequence[str], *, mode: str, variables: Sequence[str], registry: Any = None
                   ) -> dict[str, JudgeContext]:
    """A checked :class:`JudgeContext` for each judged metric of a cell; raises before any model call."""
    judged = judged_metrics(names)
    unused = sorted(set(spec.metric_options) - set(names))
    if unused:
        raise ValidationError(f"settings for metric {unused[0]!r}, which this cell does not compute",
                              where=spec.label(), hint=f"add --metric {unused[0]}, or drop its settings")
    if judged and mode == "choices":
        raise EvalError(f"the {judged[0]} metric scores generated replies, but this cell scores choices",
                        where=spec.label(), hint="set `scoring: generate` (--scoring generate)")
    out = {}
    for name in judged:
        metric = lookup("metrics", name)
        config = build_config(member("metrics", metric, "config_class"), dict(spec.metric_options.get(name, {})),
                              where=f"--set {name}.")
        context = JudgeContext(name, config, variables=variables, registry=registry, registry_path=spec.registry)
        prepare = member("metrics", metric, "prepare")
        if prepare is not None:
            prepare(context)
        out[name] = context
    return out


def judge_examples(judges: dict[str, JudgeContext], items: list[dict[str, Any]], examples: Sequence[Any], *,
                   pool: ModelPool | None, cache: Any) -> tuple[dict[str, Any], int, int]:
    """Run each judge on the cell's replies and keep its scores on the examples: the lineage entry of each
    judge, and the judge calls answered from the cache and run."""
    out = {}
    hits = misses = 0
    for name, context in judges.items():
        context.pool, context.cache = pool, cache
        before = (context.hits, context.misses)
        scores = member("metrics", lookup("metrics", name), "judge")(context, items) if items else []
        if len(scores) != len(items):
            raise EvalError(f"metric {name!r} returned {len(scores)} scores for {len(items)} replies")
        for example, score in zip(examples, scores, strict=True):
            example.judged[name] = float(score)
        out[name] = context.identity()
        hits, misses = hits + context.hits - before[0], misses + context.misses - before[1]
    log.debug("judges: %d calls cached, %d run", hits, misses)
    return out, hits, misses
