"""Built-in few-shot example selectors for *dynamic* templates: ``random``, ``balanced``, ``similar``.

A selector is ``selector(pool, variables, k, seed) -> list[int]``: indices into ``pool`` (a list of
example dicts such as ``{"text": ..., "label": ...}``), in the order the examples appear in the prompt.
Indices (not copies) are what ``Rendered.record`` stores, so a render can be reproduced exactly.

- ``random``: ``k`` examples drawn without replacement with ``random.Random(seed)``.
- ``balanced``: round-robin over the labels (``label`` key), so each label gets ``k / labels`` examples
  (±1); which examples of a label, and which label goes first, depend on the seed.
- ``similar``: the ``k`` examples most similar to the input by TF-IDF cosine over lowercase word tokens,
  most similar first; ties go to the lower index. The input is the variable ``text``, else ``input``,
  ``query`` or ``question``, else every string variable joined; an example's text is its ``text``
  (else ``input``) field, else its string fields other than ``label`` joined.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from promptyard.core.hookspecs import hookimpl

INPUT_FIELDS = ("text", "input", "query", "question")
_TOKEN = re.compile(r"\w+", re.UNICODE)
Pool = Sequence[Mapping[str, Any]]


def input_text(variables: Mapping[str, Any]) -> str:
    """The text a selector compares examples with (see module docstring for the rule)."""
    for name in INPUT_FIELDS:
        value = variables.get(name)
        if isinstance(value, str):
            return value
    return " ".join(v for v in variables.values() if isinstance(v, str))


def example_text(example: Mapping[str, Any]) -> str:
    """The text of one example that ``similar`` compares with the input."""
    for name in ("text", "input"):
        value = example.get(name)
        if isinstance(value, str):
            return value
    return " ".join(v for k, v in example.items() if isinstance(v, str) and k != "label")


@lru_cache(maxsize=8192)
def tokens(text: str) -> Counter:
    """Lowercase word-token counts (cached: pools are re-tokenised on every render otherwise)."""
    return Counter(_TOKEN.findall(text.lower()))


def random_selector(pool: Pool, variables: Mapping[str, Any], k: int, seed: int) -> list[int]:
    """``k`` indices drawn at random with ``seed``."""
    import random

    return random.Random(seed).sample(range(len(pool)), min(k, len(pool)))


def balanced_selector(pool: Pool, variables: Mapping[str, Any], k: int, seed: int) -> list[int]:
    """Round-robin across labels, each label's examples shuffled with ``seed``."""
    import random

    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(pool):
        groups.setdefault(str(example.get("label")), []).append(i)
    labels = sorted(groups)
    rng.shuffle(labels)
    for label in labels:
        rng.shuffle(groups[label])
    chosen: list[int] = []
    k = min(k, len(pool))
    depth = 0
    while len(chosen) < k:
        for label in labels:
            if depth < len(groups[label]) and len(chosen) < k:
                chosen.append(groups[label][depth])
        depth += 1
    return chosen


class _TfIdfIndex:
    """TF-IDF vectors of one pool, with an inverted index so a query only touches matching examples."""

    def __init__(self, texts: tuple[str, ...]):
        docs = [tokens(t) for t in texts]
        df: Counter = Counter()
        for doc in docs:
            df.update(doc.keys())
        self.n = len(docs)
        self.idf = {t: math.log((1 + self.n) / (1 + c)) + 1.0 for t, c in df.items()}
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for i, doc in enumerate(docs):
            weights = {t: c * self.idf[t] for t, c in doc.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                self.postings.setdefault(t, []).append((i, w / norm))
        self.unseen_idf = math.log(1 + self.n) + 1.0

    def rank(self, query: Counter, k: int) -> list[int]:
        q = {t: c * self.idf.get(t, self.unseen_idf) for t, c in query.items()}
        scores = [0.0] * self.n
        for t, w in q.items():
            for i, dw in self.postings.get(t, ()):
                scores[i] += w * dw
        # the query norm would scale every score alike: the dot product with unit-length examples
        # already ranks in cosine order
        return heapq.nsmallest(k, range(self.n), key=lambda i: (-scores[i], i))


_indexes: dict[int, tuple[Pool, tuple[int, ...], _TfIdfIndex]] = {}


def _index(pool: Pool) -> _TfIdfIndex:
    """The pool's index, built once per pool object (keyed by identity; example dicts are not mutated)."""
    ids = tuple(map(id, pool))
    hit = _indexes.get(id(pool))
    if hit is not None and hit[1] == ids:
        return hit[2]
    index = _TfIdfIndex(tuple(example_text(ex) for ex in pool))
    if len(_indexes) >= 64:
        _indexes.clear()
    _indexes[id(pool)] = (pool, ids, index)  # holding the pool keeps its id from being reused
    return index


def similar_selector(pool: Pool, variables: Mapping[str, Any], k: int, seed: int) -> list[int]:
    """The ``k`` examples most similar to the input (TF-IDF cosine), most similar first."""
    return _index(pool).rank(tokens(input_text(variables)), min(k, len(pool)))


SELECTORS = {"random": random_selector, "balanced": balanced_selector, "similar": similar_selector}


@hookimpl
def register_example_selectors(register):
    for name, selector in SELECTORS.items():
        register(name, selector)
