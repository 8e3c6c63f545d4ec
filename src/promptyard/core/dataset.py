"""The data set every data set loader returns: rows with canonical keys, a fingerprint, seeded splits.

Rows are dicts with canonical keys (``text``, ``label``, ``target``) plus any other columns. The
fingerprint is a sha256 of the rows and of how they were split or sampled, and splits are deterministic
and label-stratified. A loader that returns plain rows (an iterable of dicts) gets them wrapped in one by
the host (:func:`promptyard.core.lookups.load_dataset`).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.errors import UsageError

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class Dataset:
    """Rows with canonical keys, where they came from, and a fingerprint of rows plus split spec."""

    name: str
    rows: list[dict[str, Any]]
    source: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # how these rows were split / sampled
    skipped: int = 0  # malformed rows left out (skip_bad_rows=True)
    _rows_hash: str | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    @property
    def labels(self) -> list[str]:
        """The distinct labels, sorted (empty when the rows have none)."""
        return sorted({str(r["label"]) for r in self.rows if r.get("label") is not None})

    def label_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            if row.get("label") is not None:
                counts[str(row["label"])] = counts.get(str(row["label"]), 0) + 1
        return dict(sorted(counts.items()))

    @property
    def rows_hash(self) -> str:
        if self._rows_hash is None:
            digest = hashlib.sha256()
            for row in self.rows:
                digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode())
                digest.update(b"\n")
            self._rows_hash = digest.hexdigest()
        return self._rows_hash

    @property
    def fingerprint(self) -> str:
        """sha256 of the rows and the split/sample spec: equal fingerprints mean equal data."""
        payload = json.dumps({"rows": self.rows_hash, "spec": self.spec}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _derive(self, rows: list[dict[str, Any]], **spec: Any) -> Dataset:
        return Dataset(self.name, rows, self.source, {**self.spec, **spec}, self.skipped)

    def split(self, seed: int = 0, fractions: Iterable[float] = DEFAULT_FRACTIONS) -> dict[str, Dataset]:
        """Deterministic train/validation/test splits, stratified by label when rows have labels."""
        fractions = tuple(float(f) for f in fractions)
        if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise UsageError("split fractions must be three non-negative numbers summing to 1, "
                             f"got {fractions}")
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(str(row.get("label")), []).append(i)
        rng = random.Random(seed)
        chosen: dict[str, list[int]] = {s: [] for s in SPLITS}
        for key in sorted(groups):
            idx = groups[key]
            rng.shuffle(idx)
            n_val = round(len(idx) * fractions[1])
            n_test = round(len(idx) * fractions[2])
            chosen["validation"] += idx[:n_val]
            chosen["test"] += idx[n_val:n_val + n_test]
            chosen["train"] += idx[n_val + n_test:]
        out = {}
        for name, idx in chosen.items():
            # shuffled order, not grouped by label: training batches then mix labels
            random.Random(f"{seed}:{name}").shuffle(idx)
            out[name] = self._derive([self.rows[i] for i in idx], split=name, seed=seed,
                                     fractions=list(fractions))
        return out

    def sample(self, n: int, seed: int = 0) -> Dataset:
        """``n`` rows picked at random (label-stratified, so small samples keep every label)."""
        if n >= len(self.rows):
            return self._derive(list(self.rows), sample=n, sample_seed=seed)
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(str(row.get("label")), []).append(i)
        rng = random.Random(seed)
        picked: list[int] = []
        quotas = {k: len(v) * n / len(self.rows) for k, v in groups.items()}
        counts = {k: int(q) for k, q in quotas.items()}
        # largest remainders get the leftover rows, so the total is exactly n
        for k in sorted(quotas, key=lambda k: (counts[k] - quotas[k], k))[: n - sum(counts.values())]:
            counts[k] += 1
        for key in sorted(groups):
            picked += rng.sample(groups[key], counts[key])
        rng.shuffle(picked)
        return self._derive([self.rows[i] for i in picked], sample=n, sample_seed=seed)
