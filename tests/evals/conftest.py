"""Fixtures for evals tests: a registry with sentiment prompts, a small labelled JSONL file, a Ray cluster."""

from __future__ import annotations

import json

import pytest

from promptyard.runtime import inference
from promptyard.runtime.ray_session import local_cluster

REVIEWS = [
    ("a wonderful, moving film with great acting", "positive"),
    ("dull, slow and badly written", "negative"),
    ("I loved every minute of it", "positive"),
    ("a boring mess that wastes its cast", "negative"),
    ("charming and funny from start to finish", "positive"),
    ("the worst movie of the year", "negative"),
    ("a delightful surprise, highly recommended", "positive"),
    ("tedious, predictable and far too long", "negative"),
    ("smart, warm and beautifully shot", "positive"),
    ("an ugly, pointless sequel", "negative"),
    ("great fun for the whole family", "positive"),
    ("lifeless and forgettable", "negative"),
]

POSITIVE = ["wonderful", "moving", "great", "charming", "delightful", "smart", "warm", "funny", "brilliant", "lovely"]
NEGATIVE = ["dull", "slow", "boring", "tedious", "ugly", "pointless", "lifeless", "awful", "clumsy", "bland"]
NOUNS = ["film", "movie", "story", "drama", "comedy"]

SINGLE = {"kind": "single", "text": "Review: {{ text }}\nSentiment:"}
SINGLE_V2 = {"kind": "single", "text": "Is this movie review positive or negative?\n{{ text }}\nAnswer:"}


@pytest.fixture
def reviews(tmp_path):
    """A JSONL file of 12 labelled reviews (use split: all)."""
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in REVIEWS))
    return str(path)


@pytest.fixture
def reviews100(tmp_path):
    """100 labelled reviews: 80 train, 10 validation, 10 test (the default 0.8/0.1/0.1 split)."""
    rows = [{"text": f"a {adj} {noun}", "label": label}
            for words, label in ((POSITIVE, "positive"), (NEGATIVE, "negative")) for adj in words for noun in NOUNS]
    path = tmp_path / "reviews100.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def registry(tmp_path):
    """A registry with prompt ``sent`` at versions 1 and 2 (version 1 labelled production)."""
    from promptyard.registry.api import Registry

    reg = Registry.open(create=True)
    reg.commit("sent", SINGLE, message="v1", task_type="classification")
    reg.commit("sent", SINGLE_V2, message="v2", task_type="classification")
    reg.label("sent@1", "production", force=True)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, ray_test_env):
    """A head without CPUs and two one-CPU worker nodes on this machine, connected, for one test module."""
    with ray_test_env(tmp_path_factory.mktemp("cluster")), \
            local_cluster(2, cpus_per_node=1, head_cpus=0) as cluster:
        yield cluster


@pytest.fixture
def calls(monkeypatch):
    """Counts the prompts the real model is run on (choices scored or replies generated)."""
    counted = {"n": 0}
    for name in ("score_choices", "generate"):
        real = getattr(inference, name)

        def counting(loaded, prompts, *args, _real=real, **kw):
            counted["n"] += len(prompts)
            return _real(loaded, prompts, *args, **kw)

        monkeypatch.setattr(inference, name, counting)
    return counted
