"""A real server (uvicorn in a subprocess, free loopback port) over a registry with all four template kinds
and one token of each kind the tests need. One per test session (starting a server costs seconds): tests that
write use their own prompt names and put back what they move."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.registry.helpers import TEMPLATES
from tests.server.live import LiveServer


@dataclass
class Served:
    server: LiveServer
    path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None = "admin") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def seed_registry(path: Path) -> dict[str, str]:
    """Prompts of each kind (``kinds/<kind>``, 2 versions, production on 1), ``other/x``, and tokens."""
    from promptyard import Registry
    from promptyard.registry.tokens import create_token

    reg = Registry.open(path, create=True)
    for kind, make in TEMPLATES.items():
        name = f"kinds/{kind}"
        reg.commit(name, make("Classify"), "first", task_type="classification", tags=["seed", kind])
        reg.commit(name, make("Label"), "second")
        reg.label(f"{name}@1", "production", force=True, reason="seed")
        reg.label(f"{name}@2", "staging")
    reg.commit("other/x", TEMPLATES["single"]("Other"), "first")
    tokens = {}
    for name, scope, prompts in [("admin", "admin", None), ("writer", "write", None), ("reader", "read", None),
                                 ("team", "admin", "kinds/*")]:
        tokens[name] = create_token(reg, name, scope, prompts)[1]
    reg.close()
    return tokens


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    path = root / "reg" / "registry.db"
    tokens = seed_registry(path)
    with LiveServer(path, root) as server:
        yield Served(server, path, tokens)
