"""pytest fixtures for promptyard plugin authors, loaded through promptyard's ``pytest11`` entry point.

They are opt-in: nothing happens unless a test names one. ``-p no:promptyard`` turns them off.

- ``promptyard_env``: registry, home, caches and work dir under the test's ``tmp_path``.
- ``plugin``: ``plugin(obj, name=None) -> name`` registers a plugin for this test only.
- ``cli``: ``cli(["plugins", "list"]) -> CliResult`` runs the CLI in-process.
- ``registry``: a fresh :class:`promptyard.Registry` in ``tmp_path``.
- ``tiny_model``: a tiny causal LM and tokenizer built from a config (needs the ``ml`` extra).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promptyard.testing import invoke, isolated_environment, plugin_registered, tiny_causal_lm


@pytest.fixture
def promptyard_env(tmp_path: Path) -> Iterator[Path]:
    """Point the registry and every cache at ``tmp_path / "promptyard"`` for this test."""

    with isolated_environment(tmp_path / "promptyard") as root:
        yield root


@pytest.fixture
def plugin() -> Iterator[Callable[..., str]]:
    """Register plugins for one test; every one is unregistered afterwards, even if the test fails."""

    with contextlib.ExitStack() as stack:

        def register(obj: Any, name: str | None = None) -> str:
            return stack.enter_context(plugin_registered(obj, name=name))

        yield register


@pytest.fixture
def cli(promptyard_env: Path) -> Callable[..., Any]:
    """``cli(args, input=None)``: run ``promptyard ARGS`` in-process against the test's registry."""

    return invoke


@pytest.fixture
def registry(promptyard_env: Path) -> Iterator[Any]:
    """A new, empty registry in the test's temporary folder."""
    from promptyard.registry.api import Registry

    reg = Registry.open(promptyard_env / ".promptyard" / "registry.db", create=True)
    try:
        yield reg
    finally:
        close = getattr(reg, "close", None)
        if callable(close):
            close()


@pytest.fixture
def tiny_model() -> Any:
    """A tiny randomly initialised causal LM (:func:`promptyard.testing.tiny_causal_lm`, seed 0)."""
    pytest.importorskip("transformers", reason="tiny_model needs promptyard's 'ml' extra")

    return tiny_causal_lm()
