"""The response cache: model outputs keyed by everything that determines them.

One SQLite file in the promptyard cache directory (``$PROMPTYARD_CACHE/responses/responses.db``, by
default ``~/.cache/promptyard/cache/responses/``). It lives there rather than next to a registry
because every key is made of content hashes (model weights, adapter, rendered prompt), never of
names, so entries are valid for any registry and safe to share; deleting it only costs time.

The key is the sha256 of: model content hash, adapter content hash, the rendered prompt, decoding
parameters, task type and its version, scoring mode and choices, and :data:`CACHE_FORMAT`. A judge's call
(the ``judge`` metric) is keyed the same way on the judge model, plus the judge prompt's version and hash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from promptyard.core.paths import cache_dir

#: bump when what is stored per key changes shape
CACHE_FORMAT = 1
#: decoding keys that change throughput but never the output, so they stay out of the key
NOT_IN_KEY = {"batch_size"}


def response_key(*, model_hash: str, adapter_hash: str | None, prompt: str, decoding: Mapping[str, Any],
                 task: str, task_version: str, mode: str, choices: Iterable[str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> str:
    """The cache key of one model response. ``extra``: more of what decides it (a judge call's judge prompt
    version); left out of the payload when not given, so the keys of plain cells never change."""
    payload = {
        "format": CACHE_FORMAT,
        "model": model_hash,
        "adapter": adapter_hash,
        "prompt": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        "decoding": {k: v for k, v in sorted(decoding.items()) if k not in NOT_IN_KEY},
        "task": [task, str(task_version)],
        "mode": mode,
        "choices": list(choices) if choices is not None else None,
    }
    if extra:
        payload["extra"] = dict(extra)
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    return cache_dir("responses") / "responses.db"


class ResponseCache:
    """A key -> JSON value store in SQLite; safe for several processes (WAL, busy timeout)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            for table in ("responses", "metric_results"):  # metric_results: see evals.metrics.memo_key
                db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                           "created_at REAL NOT NULL)")
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values of whichever ``keys`` are present."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        db = self._connect()
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in db.execute(f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: Mapping[str, Any]) -> None:
        now = time.time()
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO responses (key, value, created_at) VALUES (?, ?, ?)",
                           [(k, json.dumps(v), now) for k, v in items.items()])

    def recall(self, key: str) -> Any:
        """A memoised metric result (None if absent); kept apart from responses, not counted as hits."""
        row = self._connect().execute("SELECT value FROM metric_results WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def remember(self, key: str, value: Any) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO metric_results (key, value, created_at) VALUES (?, ?, ?)",
                       (key, json.dumps(value), time.time()))

    def clear(self) -> int:
        """Delete every entry (responses and memoised metric results); return how many responses there were."""
        with self._connect() as db:
            count = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            db.execute("DELETE FROM responses")
            db.execute("DELETE FROM metric_results")
        self._connect().execute("VACUUM")
        return int(count)

    def stats(self) -> dict[str, Any]:
        db = self._connect()
        count = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        metrics = db.execute("SELECT COUNT(*) FROM metric_results").fetchone()[0]
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"path": str(self.path), "entries": int(count), "metric_results": int(metrics), "bytes": size}

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
