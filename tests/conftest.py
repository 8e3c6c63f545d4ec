"""Every test runs against a registry and caches under its own tmp_path; none touches the user's home."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    from promptyard.testing import isolated_environment

    monkeypatch.chdir(tmp_path)
    with isolated_environment(tmp_path):
        yield tmp_path
