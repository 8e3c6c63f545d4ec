"""Vectorised recomputation of metrics that are not a mean of per-example scores, for the bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _row_counts(idx: np.ndarray, size: int) -> np.ndarray:
    """``(n_boot, size)`` counts of how often each value appears in each row of ``idx``."""
    n_boot = idx.shape[0]
    flat = (np.arange(n_boot)[:, None] * size + idx).ravel()
    return np.bincount(flat, minlength=n_boot * size).reshape(n_boot, size)


def confusion_resampler(which: str, predictions: Sequence[str], references: Sequence[str],
                        average: str) -> Callable[[np.ndarray], np.ndarray]:
    """Precision, recall or F1 (macro or micro) recomputed from confusion counts of each resample.

    Matches scikit-learn with ``zero_division=0``: macro averages over the labels that occur in the
    resample's references or predictions.
    """
    labels = sorted(set(predictions) | set(references))
    code = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    pairs = np.array([code[r] * k + code[p] for p, r in zip(predictions, references, strict=True)],
                     dtype=np.int64)

    def resample(idx: np.ndarray) -> np.ndarray:
        cm = _row_counts(pairs[idx], k * k).reshape(idx.shape[0], k, k).astype(float)  # [true, pred]
        tp = np.diagonal(cm, axis1=1, axis2=2)
        predicted = cm.sum(axis=1)
        actual = cm.sum(axis=2)
        if average == "micro":
            tp_sum = tp.sum(axis=1)
            denom = {"precision": predicted.sum(axis=1), "recall": actual.sum(axis=1),
                     "f1": predicted.sum(axis=1) + actual.sum(axis=1)}[which]
            num = 2 * tp_sum if which == "f1" else tp_sum
            return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)
        denom = {"precision": predicted, "recall": actual, "f1": predicted + actual}[which]
        num = 2 * tp if which == "f1" else tp
        per_label = np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)
        present = (predicted + actual) > 0
        n_present = present.sum(axis=1)
        total = np.where(present, per_label, 0.0).sum(axis=1)
        return np.divide(total, n_present, out=np.full_like(total, np.nan), where=n_present > 0)

    return resample


def bleu_resampler(stats: Sequence[Sequence[float]]) -> Callable[[np.ndarray], np.ndarray]:
    """Corpus BLEU of each resample from summed per-example sufficient statistics (sacrebleu)."""
    from sacrebleu.metrics import BLEU

    arr = np.asarray(stats, dtype=float)
    scorer = BLEU()

    def resample(idx: np.ndarray) -> np.ndarray:
        sums = _row_counts(idx, arr.shape[0]) @ arr  # (n_boot, 10): a resample's corpus statistics
        return np.array([scorer._compute_score_from_stats(row.astype(int).tolist()).score for row in sums])

    return resample
