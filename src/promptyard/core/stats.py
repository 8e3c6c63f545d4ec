"""Statistics for evaluations: bootstrap confidence intervals and paired significance tests.

Everything resamples *examples*: a bootstrap draw is a row of example indices, and all draws are made
at once as one ``(n_boot, n)`` index matrix so that a metric can be recomputed for every draw with a
few numpy operations. The same index matrix is used for both sides of a paired comparison.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_N_BOOT = 1000
DEFAULT_LEVEL = 0.95

#: a vectorised statistic: ``(n_boot, n)`` index matrix -> ``(n_boot,)`` values
Resampler = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (percentile bootstrap) confidence interval."""

    value: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class TestResult:
    """A paired significance test: which test, its statistic and two-sided p-value."""

    test: str
    p_value: float
    statistic: float
    n: int
    detail: dict

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_indices(n: int, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> np.ndarray:
    """An ``(n_boot, n)`` matrix of example indices drawn with replacement, reproducible from ``seed``."""
    if n <= 0:
        return np.zeros((n_boot, 0), dtype=np.int64)
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_ci(resample: Resampler, n: int, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                 level: float = DEFAULT_LEVEL, idx: np.ndarray | None = None) -> Interval:
    """CI of a statistic given as a vectorised ``resample(idx) -> values`` function over ``n`` examples."""
    value = float(resample(np.arange(n)[None, :])[0]) if n else math.nan
    if n == 0:
        return Interval(value, math.nan, math.nan, level)
    draws = resample(idx if idx is not None else bootstrap_indices(n, n_boot=n_boot, seed=seed))
    low, high = _percentiles(np.asarray(draws, dtype=float), level)
    return Interval(value, low, high, level)


def mean_resampler(scores: Sequence[float] | np.ndarray) -> Resampler:
    """The resampler of a metric that is the mean of per-example scores."""
    arr = np.asarray(scores, dtype=float)
    return lambda idx: arr[idx].mean(axis=1) if idx.shape[1] else np.full(idx.shape[0], np.nan)


def bootstrap_mean_ci(scores: Sequence[float] | np.ndarray, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                      level: float = DEFAULT_LEVEL) -> Interval:
    """CI of the mean of per-example scores."""
    return bootstrap_ci(mean_resampler(scores), len(scores), n_boot=n_boot, seed=seed, level=level)


def paired_difference_ci(resample_a: Resampler, resample_b: Resampler, n: int, *,
                         n_boot: int = DEFAULT_N_BOOT, seed: int = 0, level: float = DEFAULT_LEVEL
                         ) -> tuple[Interval, np.ndarray]:
    """CI of ``stat(B) - stat(A)`` over the same example draws; also returns the drawn differences."""
    full = np.arange(n)[None, :]
    value = float(resample_b(full)[0] - resample_a(full)[0])
    idx = bootstrap_indices(n, n_boot=n_boot, seed=seed)
    diffs = np.asarray(resample_b(idx), dtype=float) - np.asarray(resample_a(idx), dtype=float)
    low, high = _percentiles(diffs, level)
    return Interval(value, low, high, level), diffs


def _binom_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided binomial test against p=1/2 (what McNemar's exact test reduces to)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return float(min(1.0, 2.0 * tail))


def mcnemar_exact(correct_a: Sequence[bool] | np.ndarray,
                  correct_b: Sequence[bool] | np.ndarray) -> TestResult:
    """McNemar's exact test for paired binary outcomes (did each system get each example right)."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes differ in length: {a.shape[0]} vs {b.shape[0]}")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    p = _binom_two_sided_half(min(only_a, only_b), only_a + only_b)
    return TestResult("mcnemar_exact", p, float(min(only_a, only_b)), int(a.size),
                      {"only_a_correct": only_a, "only_b_correct": only_b})


def paired_permutation_test(scores_a: Sequence[float] | np.ndarray, scores_b: Sequence[float] | np.ndarray, *,
                            n_perm: int = 10000, seed: int = 0) -> TestResult:
    """Two-sided sign-flip permutation test of the mean paired difference.

    Exact (every sign pattern) when ``2**n <= n_perm``, otherwise Monte Carlo with ``n_perm`` draws
    and the usual +1 correction so that p is never 0.
    """
    d = np.asarray(scores_b, dtype=float) - np.asarray(scores_a, dtype=float)
    n = d.size
    observed = abs(d.mean()) if n else 0.0
    # a tolerance keeps ties (equal |mean| reached by another sign pattern) counted despite float noise
    tol = 1e-12 * max(1.0, observed)
    if n == 0 or not np.any(d):
        return TestResult("paired_permutation", 1.0, float(observed), n, {"exact": True})
    if 2**n <= n_perm:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        means = np.abs(signs @ d) / n
        p = float(np.mean(means >= observed - tol))
        return TestResult("paired_permutation", p, float(observed), n, {"exact": True, "permutations": 2**n})
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([1.0, -1.0]), size=(n_perm, n))
    means = np.abs(signs @ d) / n
    p = float((np.sum(means >= observed - tol) + 1) / (n_perm + 1))
    return TestResult("paired_permutation", p, float(observed), n, {"exact": False, "permutations": n_perm})


def paired_bootstrap_test(diffs: np.ndarray, observed: float) -> TestResult:
    """Two-sided p-value from bootstrap draws of a paired difference (for metrics that do not decompose).

    The p-value is twice the share of draws on the far side of zero, the usual percentile-bootstrap test.
    """
    diffs = np.asarray(diffs, dtype=float)
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0 or observed == 0:
        return TestResult("paired_bootstrap", 1.0, float(observed), 0, {})
    far = np.mean(diffs <= 0) if observed > 0 else np.mean(diffs >= 0)
    p = float(min(1.0, 2.0 * (far * diffs.size + 1) / (diffs.size + 1)))
    return TestResult("paired_bootstrap", p, float(observed), int(diffs.size), {"draws": int(diffs.size)})


def is_binary(scores: Sequence[float] | np.ndarray) -> bool:
    arr = np.asarray(scores, dtype=float)
    return bool(np.all((arr == 0.0) | (arr == 1.0)))


def paired_test(scores_a: Sequence[float] | np.ndarray, scores_b: Sequence[float] | np.ndarray, *,
                seed: int = 0, n_perm: int = 10000) -> TestResult:
    """McNemar exact for binary per-example scores, a paired permutation test otherwise."""
    if is_binary(scores_a) and is_binary(scores_b):
        return mcnemar_exact(np.asarray(scores_a) == 1.0, np.asarray(scores_b) == 1.0)
    return paired_permutation_test(scores_a, scores_b, n_perm=n_perm, seed=seed)
