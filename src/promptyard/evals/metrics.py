"""Compute registered metrics with bootstrap confidence intervals, and paired comparisons of two systems."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from promptyard.core import stats
from promptyard.core.errors import EvalError
from promptyard.core.hashing import sha256_json
from promptyard.core.host import lookup
from promptyard.core.protocols import member

#: a metric without a vectorised recompute is recomputed this many times (one Python call each)
GENERIC_N_BOOT = 200


@dataclass
class MetricResult:
    """One metric over a cell: headline value, 95% CI, every score the metric returned."""

    name: str
    value: float
    low: float
    high: float
    higher_is_better: bool
    scores: dict[str, float]
    per_example: list[float] | None = None

    def to_dict(self, *, with_examples: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_examples:
            d.pop("per_example")
        return d


def get_metric(name: str) -> Any:
    """The registered metric ``name`` (built-in or from a plugin)."""
    return lookup("metrics", name)


def metric_inputs(metric: Any) -> str:
    """What a metric is computed from: ``prediction`` (vs reference), ``reply``, ``latency`` or ``tokens``."""
    return member("metrics", metric, "inputs")


def resampler_for(metric: Any, predictions: Sequence[Any], references: Sequence[Any] | None, **kwargs: Any):
    """A vectorised ``idx -> values`` recompute of the metric's headline; a plain loop for plugin metrics."""
    resampler = member("metrics", metric, "resampler")
    if resampler is not None:
        return resampler(predictions, references, **kwargs)
    per_example = member("metrics", metric, "per_example")
    if per_example is not None:
        scores = per_example(predictions, references, **kwargs)
        if scores is not None:
            return stats.mean_resampler(scores)
    preds = list(predictions)
    refs = list(references) if references is not None else None

    def resample(idx: np.ndarray) -> np.ndarray:
        out = []
        for row in idx:
            sample_refs = [refs[i] for i in row] if refs else None
            result = metric.compute([preds[i] for i in row], sample_refs, **kwargs)
            out.append(float(next(iter(result.values()))))
        return np.array(out)

    return resample


#: bump when what is memoised per metric changes shape
MEMO_FORMAT = 1


def memo_key(kind: str, name: str, metric: Any, **inputs: Any) -> str | None:
    """The response-cache key of a metric's result over ``inputs``; None for a metric without a fingerprint."""
    fingerprint = member("metrics", metric, "fingerprint")
    if not fingerprint:
        return None
    return sha256_json({"memo": MEMO_FORMAT, "kind": kind, "metric": name, "fingerprint": fingerprint, **inputs})


def _memoised(memo: Any, key: str | None, compute: Callable[[], Any], stored: Callable[[dict], Any]) -> Any:
    """``compute()``, or the result remembered under ``key`` (rebuilt by ``stored``); remembered when new."""
    if memo is None or key is None:
        return compute()
    found = memo.recall(key)
    if found is not None:
        return stored(found)
    result = compute()
    memo.remember(key, asdict(result))
    return result


def compute_metric(name: str, predictions: Sequence[Any], references: Sequence[Any] | None = None, *,
                   n_boot: int = stats.DEFAULT_N_BOOT, seed: int = 0, memo: Any = None,
                   **kwargs: Any) -> MetricResult:
    """Compute metric ``name`` and its percentile-bootstrap 95% CI over examples.

    With ``memo`` (a :class:`~promptyard.evals.cache.ResponseCache`) and a metric that has a ``fingerprint``,
    the result over the same inputs is stored and replayed: an unchanged re-run recomputes nothing (and
    imports no metric library).
    """
    metric = get_metric(name)
    key = memo_key("metric", name, metric, predictions=list(predictions),
                   references=None if references is None else list(references), kwargs=kwargs, n_boot=n_boot,
                   seed=seed) if memo is not None else None
    return _memoised(memo, key, lambda: _compute_metric(name, metric, predictions, references, n_boot=n_boot,
                                                        seed=seed, **kwargs),
                     lambda found: MetricResult(**found))


def _compute_metric(name: str, metric: Any, predictions: Sequence[Any], references: Sequence[Any] | None, *,
                    n_boot: int, seed: int, **kwargs: Any) -> MetricResult:
    n = len(predictions)
    if references is not None and len(references) != n:
        raise EvalError(f"metric {name!r}: {n} predictions but {len(references)} references")
    scores = metric.compute(predictions, references, **kwargs) if n else {}
    value = float(next(iter(scores.values()))) if scores else math.nan
    per_example = None
    per_example_of = member("metrics", metric, "per_example")
    if per_example_of is not None and n:
        per_example = per_example_of(predictions, references, **kwargs)
    if n == 0:
        return MetricResult(name, math.nan, math.nan, math.nan, bool(metric.higher_is_better), scores, None)
    resample = (stats.mean_resampler(per_example) if per_example is not None
                else resampler_for(metric, predictions, references, **kwargs))
    generic = member("metrics", metric, "resampler") is None and per_example is None
    ci = stats.bootstrap_ci(resample, n, n_boot=GENERIC_N_BOOT if generic else n_boot, seed=seed)
    return MetricResult(name, value, ci.low, ci.high, bool(metric.higher_is_better), scores, per_example)


@dataclass
class Comparison:
    """One metric of system B against system A on the same examples."""

    name: str
    a: float
    b: float
    delta: float
    low: float
    high: float
    test: stats.TestResult
    higher_is_better: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["test"] = self.test.to_dict()
        return d


def compare_metric(name: str, predictions_a: Sequence[Any], predictions_b: Sequence[Any],
                   references: Sequence[Any] | None, *, n_boot: int = stats.DEFAULT_N_BOOT, seed: int = 0,
                   memo: Any = None, **kwargs: Any) -> Comparison:
    """Delta (B - A), its paired bootstrap CI, and a paired test (McNemar / permutation / bootstrap).

    ``memo`` stores and replays the comparison as :func:`compute_metric` does.
    """
    metric = get_metric(name)
    key = memo_key("compare", name, metric, a=list(predictions_a), b=list(predictions_b),
                   references=None if references is None else list(references), kwargs=kwargs, n_boot=n_boot,
                   seed=seed) if memo is not None else None
    return _memoised(memo, key, lambda: _compare_metric(name, metric, predictions_a, predictions_b, references,
                                                        n_boot=n_boot, seed=seed, **kwargs),
                     lambda found: Comparison(**{**found, "test": stats.TestResult(**found["test"])}))


def _compare_metric(name: str, metric: Any, predictions_a: Sequence[Any], predictions_b: Sequence[Any],
                    references: Sequence[Any] | None, *, n_boot: int, seed: int, **kwargs: Any) -> Comparison:
    n = len(predictions_a)
    if len(predictions_b) != n:
        raise EvalError(f"compare {name!r}: the two systems scored {n} and {len(predictions_b)} examples",
                        hint="compare runs over the same data sample")
    ra = resampler_for(metric, predictions_a, references, **kwargs)
    rb = resampler_for(metric, predictions_b, references, **kwargs)
    ci, diffs = stats.paired_difference_ci(ra, rb, n, n_boot=n_boot, seed=seed)
    full = np.arange(n)[None, :]
    a, b = float(ra(full)[0]), float(rb(full)[0])
    per = member("metrics", metric, "per_example")
    scores_a = per(predictions_a, references, **kwargs) if per else None
    scores_b = per(predictions_b, references, **kwargs) if per else None
    if scores_a is not None and scores_b is not None:
        test = stats.paired_test(scores_a, scores_b, seed=seed)
    else:
        test = stats.paired_bootstrap_test(diffs, ci.value)
    return Comparison(name, a, b, ci.value, ci.low, ci.high, test, bool(metric.higher_is_better))
