"""Noticing that the registry file changed, cheaply, whoever wrote it.

SQLite's ``PRAGMA data_version`` on a connection changes whenever another connection (any process) has
committed to the file since the last call; reading it costs a few microseconds. A watch request takes a
:meth:`ChangeWatcher.token` *before* it resolves its references, and if nothing it cares about changed,
waits in :meth:`ChangeWatcher.wait` until the version moves past that token. One asyncio task polls the
version every ``interval`` seconds while at least one request waits, and wakes them all when it moves;
each then re-resolves and answers only if what its references resolve to changed. The poll stops when
nobody waits, so an idle server does nothing. All of this runs on the event loop's thread (one
connection: data_version values are only comparable on the same connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from promptyard.registry.connection import BUSY_TIMEOUT_MS

POLL_INTERVAL_S = 0.02


class ChangeWatcher:
    """``token()`` then ``await wait(token, timeout)``: True as soon as the file changed after the token."""

    def __init__(self, path: Path, interval: float = POLL_INTERVAL_S):
        self.path = Path(path)
        self.interval = interval
        self._conn: sqlite3.Connection | None = None
        self._seen: int | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._waiters = 0

    def token(self) -> int:
        """The file's change counter as this watcher's connection sees it now."""
        if self._conn is None:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    async def wait(self, token: int, timeout: float) -> bool:
        """Wait until the file changes after ``token`` was taken, at most ``timeout`` seconds."""
        event = self._changed
        self._waiters += 1
        try:
            if self.token() != token:
                return True
            if self._task is None:
                self._seen = token
                self._task = asyncio.get_running_loop().create_task(self._poll())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
            return event.is_set()
        finally:
            self._waiters -= 1

    async def _poll(self) -> None:
        try:
            while self._waiters > 0:
                await asyncio.sleep(self.interval)
                version = self.token()
                if version != self._seen:
                    self._seen = version
                    # wake the current waiters; later ones wait on a fresh event
                    done, self._changed = self._changed, asyncio.Event()
                    done.set()
        finally:
            self._task = None

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
