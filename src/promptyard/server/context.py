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

from promptyard.registry.api import Registry
from promptyard.server.limits import ServerLimits
from promptyard.server.watch import ChangeWatcher


class ServerContext:
    """The registry file, auth on/off, the limits, per-thread registries and the change watcher."""

    def __init__(self, path: Path, *, auth: bool, limits: ServerLimits):
        self.path = Path(path)
        self.auth = auth
        self.limits = limits
        self.watcher = ChangeWatcher(self.path)
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

    def close(self) -> None:
        self.watcher.close()
        with self._lock:
            for reg in self._opened:
                reg.close()
            self._opened.clear()
