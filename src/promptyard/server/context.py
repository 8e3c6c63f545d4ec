"""What every request handler reaches through ``request.app.state.ctx``: the registry and the settings.

A :class:`~promptyard.registry.api.Registry` keeps one stdlib ``sqlite3`` reader connection and
read-then-commit snapshots on it, so two threads must not share one: each thread that serves requests
(the event loop's and the worker pool's) gets its own Registry on the same file. They are cheap, and each
one's resolve cache is checked against ``PRAGMA data_version`` before every use, so a change written by
any process (the CLI, another worker) is seen by the next request.
"""

from __future__ import annotations

import threading
from pathlib import Path

from promptyard.core.records import VersionInfo
from promptyard.core.template import Template
from promptyard.registry.api import Registry
from promptyard.registry.tokens import TokenInfo, find_token
from promptyard.server.limits import ServerLimits
from promptyard.server.watch import ChangeWatcher


class TokenCache:
    """Token look-ups remembered until the registry file changes (``PRAGMA data_version`` of the asking
    thread's reader moves whenever any process commits, a revocation included), so a request costs one
    pragma instead of a query and a hash, and a revoked token is still refused by the next request."""

    def __init__(self) -> None:
        self._local = threading.local()

    def find(self, reg: Registry, secret: str) -> TokenInfo | None:
        version = reg._reader().execute("PRAGMA data_version").fetchone()[0]
        cache = getattr(self._local, "cache", None)
        if cache is None or self._local.version != version:
            cache = self._local.cache = {}
            self._local.version = version
        if secret not in cache:
            if len(cache) > 1024:
                cache.clear()
            cache[secret] = find_token(reg, secret)
        return cache[secret]


class ServerContext:
    """The registry file, auth on/off, the limits, per-thread registries and the change watcher."""

    def __init__(self, path: Path, *, auth: bool, limits: ServerLimits):
        self.path = Path(path)
        self.auth = auth
        self.limits = limits
        self.watcher = ChangeWatcher(self.path)
        self.tokens = TokenCache()
        self.render_limits = limits.render_limits()
        self._templates: dict[str, Template] = {}
        self._local = threading.local()
        self._opened: list[Registry] = []
        self._lock = threading.Lock()

    def registry(self) -> Registry:
        """This thread's Registry on the served file."""
        reg = getattr(self._local, "registry", None)
        if reg is None:
            reg = self._local.registry = Registry(self.path)
            with self._lock:
                self._opened.append(reg)
        return reg

    def template(self, info: VersionInfo) -> Template:
        """The parsed template of a prompt version (content is immutable per hash: never stale)."""
        found = self._templates.get(info.content_hash)
        if found is None:
            if len(self._templates) > 4096:
                self._templates.clear()
            found = self._templates[info.content_hash] = info.template
        return found

    def close(self) -> None:
        self.watcher.close()
        with self._lock:
            for reg in self._opened:
                reg.close()
            self._opened.clear()
