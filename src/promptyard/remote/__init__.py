"""The remote client: ``promptyard.connect(URL, token=...)`` or ``Registry.open("http://…")``.

Imports only promptyard.core and httpx. See :mod:`promptyard.remote.client` for caching and fallback.
"""

from __future__ import annotations

from typing import Any

from promptyard.remote.client import RemoteRegistry, RemoteUnsupported, StaleWarning


def connect(url: str, token: str | None = None, **options: Any) -> RemoteRegistry:
    """A client for the registry served at ``url`` (token: ``token``, else ``PROMPTYARD_TOKEN``)."""
    return RemoteRegistry(url, token, **options)


__all__ = ["RemoteRegistry", "RemoteUnsupported", "StaleWarning", "connect"]
