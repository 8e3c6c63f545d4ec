"""Bootstrap intervals and paired tests on constructed data whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from promptyard.core import stats


def test_bootstrap_indices_are_reproducible_and_in_range():
    a = stats.bootstrap_indices(7, n_boot=50, seed=3)
    b = stats.bootstrap_indices(7, n_boot=50, seed=3)
    c = stats.bootstrap_indices(7, n_boot=50, seed=4)
    assert a.shape == (50, 7) and a.min() >= 0 and a.max() <= 6
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_constant_scores_have_a_zero_width_interval():
    ci = stats.bootstrap_mean_ci([1.0] * 20, seed=0)
    assert (ci.value, ci.low, ci.high) == (1.0, 1.0, 1.0)


def test_bernoulli_interval_matches_the_normal_approximation():
    # 600 of 1000 correct: the 95% interval is about 0.6 +- 1.96 * sqrt(0.24 / 1000) = +-0.0304
    scores = np.array([1.0] * 600 + [0.0] * 400)
    ci = stats.bootstrap_mean_ci(scores, n_boot=4000, seed=1)
    assert ci.value == pytest.approx(0.6)
    half = 1.96 * math.sqrt(0.24 / 1000)
    assert ci.low == pytest.approx(0.6 - half, abs=0.006)
    assert ci.high == pytest.approx(0.6 + half, abs=0.006)


def test_paired_difference_of_a_constant_shift_is_exact():
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    ci, diffs = stats.paired_difference_ci(stats.mean_resampler(a), stats.mean_resampler(a + 0.25), 50,
                                           seed=2)
    assert ci.value == pytest.approx(0.25)
    assert ci.low == pytest.approx(0.25) and ci.high == pytest.approx(0.25)
    assert diffs.shape == (stats.DEFAULT_N_BOOT,)


def test_paired_difference_uses_the_same_draws_for_both_sides():
    # B equals A for every example except that B is right where A was wrong on 10 of 100:
    # a paired interval is much narrower than two independent ones would be, and excludes zero.
    a = np.array([1.0] * 50 + [0.0] * 50)
    b = a.copy()
    b[50:60] = 1.0
    ci, _ = stats.paired_difference_ci(stats.mean_resampler(a), stats.mean_resampler(b), 100, seed=0)
    assert ci.value == pytest.approx(0.10)
    assert 0.03 < ci.low < 0.10 < ci.high < 0.17


@pytest.mark.parametrize(("only_a", "only_b", "p"), [
    (1, 5, 14 / 64),          # 2 * P(X <= 1 | n=6) = 2 * 7/64
    (0, 6, 2 / 64),           # 2 * P(X = 0 | n=6)
    (3, 3, 1.0),
    (0, 0, 1.0),
    (2, 10, 2 * (1 + 12 + 66) / 4096),
])
def test_mcnemar_exact_p_values(only_a, only_b, p):
    both = 7
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * 4
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * 4
    result = stats.mcnemar_exact(a, b)
    assert result.p_value == pytest.approx(p)
    assert result.detail == {"only_a_correct": only_a, "only_b_correct": only_b}
    assert result.n == len(a)


def test_exact_permutation_test_counts_sign_patterns():
    # differences 1, 2, 3: only all-plus and all-minus reach |mean| = 2, so p = 2/8
    result = stats.paired_permutation_test([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert result.detail["exact"] is True
    assert result.p_value == pytest.approx(0.25)
    # differences 1, -1, 2 (|mean| 2/3): sign patterns with sums 2, 4, -2, 2 and their mirrors reach it,
    # (+,-,-) and (-,+,+) sum to 0 and do not: p = 6/8
    assert stats.paired_permutation_test([0, 0, 0], [1.0, -1.0, 2.0]).p_value == pytest.approx(0.75)


def test_monte_carlo_permutation_test_separates_shift_from_noise():
    rng = np.random.default_rng(5)
    a = rng.normal(size=200)
    shifted = stats.paired_permutation_test(a, a + 0.5 + rng.normal(scale=0.1, size=200), seed=0)
    noise = stats.paired_permutation_test(a, a + rng.normal(scale=0.1, size=200), seed=0)
    assert shifted.detail["exact"] is False
    assert shifted.p_value < 0.001
    assert noise.p_value > 0.05


def test_paired_test_chooses_mcnemar_for_binary_scores():
    assert stats.paired_test([1, 0, 1], [1, 1, 1]).test == "mcnemar_exact"
    assert stats.paired_test([0.5, 0, 1], [1, 1, 1]).test == "paired_permutation"


def test_paired_bootstrap_test_is_small_when_draws_are_all_one_side():
    assert stats.paired_bootstrap_test(np.full(999, 0.1), 0.1).p_value == pytest.approx(2 / 1000)
    assert stats.paired_bootstrap_test(np.array([-1.0, 1.0] * 500), 0.1).p_value == pytest.approx(1.0)
