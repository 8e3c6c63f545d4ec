"""A consistent copy of a live registry: SQLite's online backup API, then the artifacts the copy records.

The backup step reads one snapshot of the file in a single read transaction; in WAL mode writers carry on
meanwhile (their commits go to the WAL and are simply not in the snapshot). Artifacts are immutable and
written before the version that records them commits, so every artifact the snapshot names is complete
on disk when it is copied afterwards.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from promptyard.core.errors import UsageError
from promptyard.registry.connection import BUSY_TIMEOUT_MS
from promptyard.registry.store import ArtifactStore


def backup(registry: Any, target: str | os.PathLike) -> dict[str, Any]:
    """Write a snapshot of ``registry`` to the new file ``target`` and its artifacts to ``target``'s
    folder; returns what was copied. The copy opens as a registry of its own."""
    target = Path(target).expanduser().resolve()
    if target.exists():
        raise UsageError(f"{target} exists", where="backup", hint="name a new file")
    if target.parent == registry.root.resolve():
        raise UsageError("the backup must go to another folder", where=str(target),
                         hint="its artifacts are copied next to it, which here is the live store")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(str(registry.path), timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(str(partial))
    try:
        src.backup(dst)  # pages=-1: the whole file in one step, from one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        hashes = [row[0] for row in dst.execute("SELECT hash FROM artifacts")]
        versions = dst.execute("SELECT count(*) FROM versions").fetchone()[0]
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)
    source, copy = ArtifactStore(registry.artifacts_dir), ArtifactStore(target.parent / "artifacts")
    copied = 0
    for digest in hashes:
        if not copy.path_of(digest).exists():
            copy.path_of(digest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source.path_of(digest), copy.path_of(digest))
            copied += 1
    return {"path": str(target), "versions": versions, "artifacts": len(hashes), "artifacts_copied": copied}
