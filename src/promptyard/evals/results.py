"""What a cell produces: per-example results (with their data index), metrics, lineage; merging shards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from promptyard.core.errors import EvalError
from promptyard.evals.metrics import MetricResult, compute_metric, get_metric, metric_inputs
from promptyard.evals.suite import CellSpec


@dataclass
class ExampleResult:
    """One example of a cell. ``index`` is the example's index in the data split (stable across runs)."""

    index: int
    prompt_hash: str
    output: str
    prediction: str
    reference: str
    scores: list[float] | None = None  # log-prob of each choice (choices scoring)
    latency_s: float = 0.0
    tokens: int = 0
    cached: bool = False
    render: dict[str, Any] = field(default_factory=dict)
    #: per-example scores of judged metrics (metric name -> score), given by the judge model
    judged: dict[str, float] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.prediction == self.reference

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CellResult:
    """A cell's outcome: its spec and lineage, every example's result, its metrics."""

    spec: CellSpec
    lineage: dict[str, Any]
    examples: list[ExampleResult]
    metrics: list[MetricResult] = field(default_factory=list)
    duration_s: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    #: the judge model's calls (judged metrics) answered from the response cache, and run
    judge_hits: int = 0
    judge_misses: int = 0

    def metric(self, name: str) -> MetricResult:
        for m in self.metrics:
            if m.name == name:
                return m
        raise EvalError(f"metric {name!r} was not computed for this cell",
                        hint=f"computed: {', '.join(m.name for m in self.metrics) or 'none'}")

    def to_dict(self, *, with_examples: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"spec": self.spec.to_dict(), "lineage": self.lineage,
                             "metrics": [m.to_dict() for m in self.metrics], "n_examples": len(self.examples),
                             "duration_s": self.duration_s, "cache_hits": self.cache_hits,
                             "cache_misses": self.cache_misses, "judge_hits": self.judge_hits,
                             "judge_misses": self.judge_misses}
        if with_examples:
            d["examples"] = [e.to_dict() for e in self.examples]
        return d


def metric_arguments(name: str, examples: Sequence[ExampleResult], lineage: dict[str, Any]
                     ) -> tuple[list[Any], list[Any] | None, dict[str, Any]]:
    """Predictions, references and keyword arguments for metric ``name`` from a cell's examples."""
    inputs = metric_inputs(get_metric(name))
    if inputs == "latency":
        return [e.latency_s for e in examples], None, {}
    if inputs == "tokens":
        return [e.tokens for e in examples], None, {}
    if inputs == "judged":
        missing = sum(1 for e in examples if name not in e.judged)
        if missing:
            raise EvalError(f"metric {name!r}: {missing} of {len(examples)} examples have no judge score",
                            hint="judge scores come from running the cell (eval run), not from stored replies")
        return [e.judged[name] for e in examples], None, {}
    if inputs == "reply":
        schema = lineage.get("output_schema")
        return [e.output for e in examples], None, ({"schema": schema} if schema else {})
    return [e.prediction for e in examples], [e.reference for e in examples], {}


def compute_cell_metrics(names: Sequence[str], examples: Sequence[ExampleResult], lineage: dict[str, Any], *,
                         n_boot: int, seed: int, memo: Any = None) -> list[MetricResult]:
    """Every named metric over the examples, each with its bootstrap interval (``memo``: see compute_metric)."""
    out = []
    for name in names:
        predictions, references, kwargs = metric_arguments(name, examples, lineage)
        out.append(compute_metric(name, predictions, references, n_boot=n_boot, seed=seed, memo=memo, **kwargs))
    return out


def merge_shards(shards: Sequence[CellResult]) -> CellResult:
    """Join results of one cell run in shards (by example indices) and recompute its metrics.

    The shards must come from the same cell spec and lineage (same prompt, model, adapter, data).
    """
    if not shards:
        raise EvalError("no shards to merge")
    first = shards[0]
    for other in shards[1:]:
        if other.spec != first.spec or other.lineage.get("key") != first.lineage.get("key"):
            raise EvalError("shards come from different cells", hint="merge only shards of one cell spec")
    examples = sorted((e for s in shards for e in s.examples), key=lambda e: e.index)
    indices = [e.index for e in examples]
    if len(set(indices)) != len(indices):
        raise EvalError("shards overlap: some example indices appear twice")
    names = [m.name for m in first.metrics]
    metrics = compute_cell_metrics(names, examples, first.lineage, n_boot=first.spec.n_boot, seed=first.spec.seed)
    return CellResult(first.spec, first.lineage, examples, metrics, duration_s=max(s.duration_s for s in shards),
                      cache_hits=sum(s.cache_hits for s in shards), cache_misses=sum(s.cache_misses for s in shards),
                      judge_hits=sum(s.judge_hits for s in shards), judge_misses=sum(s.judge_misses for s in shards))
