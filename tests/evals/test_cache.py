"""The response cache: a hit for an identical key, a miss when any part of the key changes."""

from __future__ import annotations

import pytest

from promptyard.evals.cache import ResponseCache, default_cache_path, response_key

BASE = dict(model_hash="m" * 64, adapter_hash=None, prompt="Review: great film\nSentiment:",
            decoding={"max_new_tokens": 8, "temperature": 0.0}, task="classification", task_version="1",
            mode="choices", choices=[" positive", " negative"])

CHANGES = [
    ("model_hash", "n" * 64),  # a different model, whatever its name
    ("adapter_hash", "a" * 64),
    ("prompt", "Review: great film\nSentiment: "),
    ("decoding", {"max_new_tokens": 9, "temperature": 0.0}),
    ("decoding", {"max_new_tokens": 8, "temperature": 0.7}),
    ("task", "generation"),
    ("task_version", "2"),
    ("mode", "generate"),
    ("choices", [" negative", " positive"]),
]


def test_identical_parts_give_the_same_key():
    assert response_key(**BASE) == response_key(**dict(BASE))


@pytest.mark.parametrize(("part", "value"), CHANGES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(CHANGES)])
def test_changing_any_part_changes_the_key(part, value):
    assert response_key(**{**BASE, part: value}) != response_key(**BASE)


def test_batch_size_does_not_change_the_key():
    other = {**BASE, "decoding": {**BASE["decoding"], "batch_size": 32}}
    assert response_key(**other) == response_key(**BASE)


def test_store_hit_miss_and_clear(tmp_path):
    cache = ResponseCache()
    assert cache.path == default_cache_path() and str(tmp_path) in str(cache.path)
    key = response_key(**BASE)
    other = response_key(**{**BASE, "model_hash": "z" * 64})
    cache.put_many({key: {"scores": [-1.5, -2.0]}})
    assert cache.get_many([key, other]) == {key: {"scores": [-1.5, -2.0]}}
    assert (cache.hits, cache.misses) == (1, 1)
    # a second process (another connection) sees the entry
    assert ResponseCache(cache.path).get_many([key]) == {key: {"scores": [-1.5, -2.0]}}
    assert cache.stats()["entries"] == 1
    assert cache.clear() == 1
    assert cache.get_many([key]) == {}
