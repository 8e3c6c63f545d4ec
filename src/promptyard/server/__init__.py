"""``promptyard serve``: the registry as an HTTP service (FastAPI). Build the app with :func:`create_app`.

FastAPI loads on first use of ``create_app``, so that importing ``promptyard.server.limits`` (the CLI does,
for ``serve``'s options) costs nothing at ``promptyard --help``.
"""

from __future__ import annotations

from typing import Any

from promptyard.server.limits import ServerLimits

__all__ = ["ServerLimits", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from promptyard.server.app import create_app

        return create_app
    raise AttributeError(name)
