"""The client's last good copies on disk: one JSON file per (server, kind, reference), written atomically,
so an application that restarts while the server is down still has what it last read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote


class DiskCache:
    """``get``/``put`` of ``{"etag", "version"}`` per reference under ``root/<server hash>/``."""

    def __init__(self, root: Path, url: str):
        self.root = Path(root) / hashlib.sha256(url.encode()).hexdigest()[:16]

    def _file(self, kind: str, ref: str) -> Path:
        return self.root / kind / (quote(ref, safe="") + ".json")

    def get(self, kind: str, ref: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._file(kind, ref).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, kind: str, ref: str, entry: dict[str, Any]) -> None:
        target = self._file(kind, ref)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f, ensure_ascii=False)
            os.replace(tmp, target)
        except OSError:  # a read-only or full disk must not fail the application's read
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
