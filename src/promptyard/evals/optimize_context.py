"""The host side of a prompt optimisation: scoring candidates under a budget, and the context optimisers get.

Positions: example ``p`` of a split is the ``p``-th of the split's seeded permutation, so the first ``n``
positions are exactly the cell sample of size ``n`` (:func:`promptyard.evals.cells.select_indices`) and
larger samples contain smaller ones: rescoring a prefix comes from the response cache. Before any model
call the scorer counts the examples the cache does not hold and charges the budget for exactly those.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from promptyard.core import events
from promptyard.core.errors import PromptyardError, ValidationError
from promptyard.core.optimization import SPLITS, Budget, Candidate, ExampleScore, OptimizationProblem, best_so_far
from promptyard.core.paths import work_dir
from promptyard.core.render import check_template
from promptyard.core.template import Template
from promptyard.evals.cache import ResponseCache, response_key
from promptyard.evals.cells import prepare_cell, sample_order
from promptyard.evals.distributed import actor_pool, run_cells_distributed
from promptyard.evals.metrics import get_metric
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.results import CellResult, metric_arguments
from promptyard.evals.runner import format_prompts, run_prepared
from promptyard.evals.suite import CellSpec
from promptyard.runtime import inference

log = logging.getLogger(__name__)


def template_file(template: Template, task_type: str | None) -> str:
    """The candidate as a JSON file a cell can name (content-addressed, so rewriting it is harmless)."""
    folder = work_dir() / "optimize"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{template.content_hash()}.json"
    if not path.exists():
        path.write_text(json.dumps({"template": template.to_dict(), "task_type": task_type}), encoding="utf-8")
    return str(path)


class Scorer:
    """Runs templates on prefixes of the train and validation splits, charging uncached model calls."""

    def __init__(self, base: CellSpec, *, registry: Any, cache: ResponseCache, pool: ModelPool, budget: Budget,
                 metric: str, task_type: str | None, sizes: Mapping[str, int], ray_target: Any = None):
        self.base = base
        self.registry = registry
        self.cache = cache
        self.pool = pool
        self.budget = budget
        self.metric = metric
        self.task_type = task_type
        self.sizes = dict(sizes)
        self.ray_target = ray_target
        self.calls = 0  # model calls made (== what was charged)
        self._actors: Any = None

    def score(self, template: Template, split: str, n: int) -> tuple[list[ExampleScore], CellResult, int]:
        """The first ``n`` positions of ``split``: scores by position, the cell result, calls spent."""
        if split not in SPLITS:  # the test split is the host's, for the final report only
            raise ValidationError(f"optimisers score on {' or '.join(SPLITS)}, not {split!r}")
        spec = replace(self.base, prompt=template_file(template, self.task_type), split=split, sample=n,
                       metrics=(self.metric,))
        prepared = prepare_cell(spec, registry=self.registry)
        with self.pool.use(spec.model, prepared.adapter) as loaded:
            prompts = format_prompts(prepared, loaded.tokenizer)
            adapter_hash = prepared.adapter.content_hash if prepared.adapter else None
            task = prepared.lineage["task"]
            keys = [response_key(model_hash=loaded.content_hash, adapter_hash=adapter_hash, prompt=p,
                                 decoding=spec.decoding, task=task["name"], task_version=task["version"],
                                 mode=prepared.mode, choices=prepared.choices) for p in prompts]
            uncached = len(keys) - len(self.cache.get_many(keys))
            self.budget.charge(uncached)  # raises before any model call when it would go over
            if self.ray_target is not None and uncached:
                result = self._on_ray(spec)
            else:
                result = run_prepared(prepared, loaded, cache=self.cache, pool=self.pool)
        self.calls += uncached
        order = sample_order(self.sizes[split], spec.seed)
        position = {order[p]: p for p in range(min(n, len(order)))}
        rewards = per_example_rewards(self.metric, result)
        by_index = dict(zip(prepared.indices, prepared.examples, strict=True))
        scores = sorted((ExampleScore(position[e.index], rewards[i], e.prediction, e.reference,
                                      dict(by_index[e.index].variables))
                         for i, e in enumerate(result.examples)), key=lambda s: s.position)
        return scores, result, uncached

    def _on_ray(self, spec: CellSpec) -> CellResult:
        if self._actors is None:  # started once, kept for every round: each start loads the model again
            self._actors = actor_pool(self.cache)
        shard = max(1, -(-(spec.sample or 1) // max(1, self._actors.per_model)))
        return run_cells_distributed([spec], registry=self.registry, cache=self.cache, shard_size=shard,
                                     actors=self._actors)[0]

    def close(self) -> None:
        """Stop the Ray actors, if any were started."""
        if self._actors is not None:
            self._actors.shutdown()
            self._actors = None


def per_example_rewards(metric: str, result: CellResult) -> list[float]:
    """The metric's value on each example of the cell (its ``per_example``, else computed one by one)."""
    found = result.metric(metric).per_example
    if found is not None:
        return [float(x) for x in found]
    predictions, references, kwargs = metric_arguments(metric, result.examples, result.lineage)
    m = get_metric(metric)
    return [float(next(iter(m.compute([p], None if references is None else [references[i]], **kwargs).values())))
            for i, p in enumerate(predictions)]


class Proposer:
    """The proposer model: one reply per request, one model call each, sampled with a recorded seed."""

    def __init__(self, model: str, *, pool: ModelPool, budget: Budget, seed: int = 0, temperature: float = 0.8):
        self.model = model
        self.pool = pool
        self.budget = budget
        self.seed = seed
        self.temperature = temperature
        self.calls = 0

    def __call__(self, request: str, max_new_tokens: int = 96) -> str:
        import torch

        self.budget.charge(1)
        self.calls += 1
        with self.pool.use(self.model, None) as loaded:
            tok = loaded.tokenizer
            text = (tok.apply_chat_template([{"role": "user", "content": request}], tokenize=False,
                                            add_generation_prompt=True)
                    if getattr(tok, "chat_template", None) else request + "\n")
            torch.manual_seed(self.seed * 1000 + self.calls)
            return inference.generate(loaded, [text], max_new_tokens=max_new_tokens, batch_size=1, do_sample=True,
                                      temperature=self.temperature, top_p=0.95)[0]


class RunContext:
    """What an optimiser's ``optimize`` receives (:class:`promptyard.core.protocols.OptimizerContext`)."""

    def __init__(self, problem: OptimizationProblem, budget: Budget, scorer: Scorer, proposer: Proposer | None):
        self.problem = problem
        self.budget = budget
        self.scorer = scorer
        self.proposer = proposer
        self.candidates: list[Candidate] = []
        self.history: list[dict[str, Any]] = []
        self.contract = {v.name for v in check_template(problem.start)}
        self._by_hash: dict[str, Candidate] = {}
        self._scored: dict[tuple[int, str], dict[int, ExampleScore]] = {}
        self._task = events.Task("optimize: model calls", budget.calls)

    # -- candidates --------------------------------------------------------------------------------

    def add(self, template: Any, *, name: str, origin: str, parent: Any = None,
            details: Mapping[str, Any] | None = None, reject: str | None = None) -> Candidate:
        parent_id = parent.id if isinstance(parent, Candidate) else parent
        reason = reject or ""
        try:
            t = template if isinstance(template, Template) else Template.from_dict(dict(template), where=name)
            names = {v.name for v in check_template(t)}
            if not reason and names != self.contract:
                added, dropped = sorted(names - self.contract), sorted(self.contract - names)
                reason = "breaks the variable contract: " + "; ".join(
                    part for part in (f"adds {', '.join(added)}" if added else "",
                                      f"drops {', '.join(dropped)}" if dropped else "") if part)
        except PromptyardError as exc:
            t, reason = None, f"does not parse: {exc}"
        if t is not None and not reason and t.content_hash() in self._by_hash:
            return self._by_hash[t.content_hash()]
        candidate = Candidate(len(self.candidates), name, t, origin, parent_id, dict(details or {}),
                              "rejected" if reason else "candidate", reason)
        if t is None:
            candidate.details.setdefault("source", template if isinstance(template, Mapping) else str(template))
        self.candidates.append(candidate)
        if not reason:
            self._by_hash[t.content_hash()] = candidate
        else:
            log.info("candidate %s rejected: %s", name, reason)
        return candidate

    # -- scoring -----------------------------------------------------------------------------------

    def score(self, candidate: Candidate, n: int, *, split: str = "validation") -> list[ExampleScore]:
        if split not in SPLITS:
            raise ValidationError(f"optimisers score on {' or '.join(SPLITS)}, not {split!r}",
                                  hint="the test split is kept for the final report")
        if candidate.status != "candidate":
            raise ValidationError(f"candidate {candidate.name!r} was rejected ({candidate.reason}); it is never scored")
        size = self.problem.n_validation if split == "validation" else len(self.problem.train)
        n = max(0, min(n, size))
        seen = self._scored.setdefault((candidate.id, split), {})
        if all(p in seen for p in range(n)):
            return [seen[p] for p in range(n)]
        scores, result, calls = self.scorer.score(candidate.template, split, n)
        metric = result.metric(self.problem.metric)
        for s in scores:
            seen[s.position] = s
            (candidate.rewards if split == "validation" else candidate.train_rewards)[s.position] = s.reward
        candidate.calls += calls
        candidate.scores.append({"round": len(candidate.scores), "split": split, "n": n, "value": metric.value,
                                 "low": metric.low, "high": metric.high, "calls": calls,
                                 "calls_total": self.budget.spent})
        self._task.update(completed=self.budget.spent, best=self._best_text())
        return [seen[p] for p in range(n)]

    def _best_text(self) -> str:
        best = best_so_far(self.candidates, self.problem.higher_is_better)
        return "" if best is None else f"{best.name} {best.mean():.3f}"

    def propose(self, request: str, *, max_new_tokens: int = 96) -> str:
        if self.proposer is None:
            raise ValidationError("this optimisation has no proposer model", hint="--proposer MODEL")
        reply = self.proposer(request, max_new_tokens)
        self._task.update(completed=self.budget.spent)
        return reply

    def log(self, **event: Any) -> None:
        self.history.append({"calls": self.budget.spent, **event})

    def close(self) -> None:
        self._task.close()
        self.scorer.close()
