"""``promptyard serve``: the registry as an HTTP service (FastAPI). Build the app with :func:`create_app`."""

from __future__ import annotations

from promptyard.server.app import create_app
from promptyard.server.limits import ServerLimits

__all__ = ["ServerLimits", "create_app"]
