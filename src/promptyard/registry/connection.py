"""The SQLite settings every registry connection uses: SQLAlchemy's engine and the stdlib read path alike."""

from __future__ import annotations

from typing import Any

#: how long a connection waits for another writer's lock before failing (milliseconds)
BUSY_TIMEOUT_MS = 60_000


def configure_connection(dbapi_connection: Any) -> None:
    """PRAGMAs every registry connection needs (also used by the stdlib read path)."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable in WAL mode against application crashes; only an OS crash/power loss can
    # lose the last commits (never corrupt the file). FULL would fsync on every commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
