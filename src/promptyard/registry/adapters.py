"""Adapters as versioned registry items (kind ``adapter``).

:class:`promptyard.registry.api.Registry` calls these (its ``register_adapter`` and ``adapter_path``);
labels and rollback are the same code the prompts use, with ``kind="adapter"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import check_safetensors_only
from promptyard.core.errors import IntegrityError
from promptyard.core.records import VersionInfo, content_hash_of
from promptyard.core.refs import Ref, check_name
from promptyard.registry.actors import default_author
from promptyard.registry.store import ArtifactStore


def _store(self: Any) -> ArtifactStore:
    return ArtifactStore(self.artifacts_dir)


def register_adapter(
    self: Any,
    name: str,
    adapter_dir: str | Path,
    lineage: dict[str, Any] | None = None,
    message: str = "",
    *,
    author: str | None = None,
    task_type: str | None = None,
    tags: list[str] | None = None,
    description: str | None = None,
) -> VersionInfo:
    """Copy a saved PEFT adapter folder into the artifact store and record it as a new version of adapter
    ``name``. Registering the same bytes as the latest version returns that version unchanged."""
    from promptyard.registry.versioning import check_meta, commit_version

    check_name(name)
    check_meta(name, tags, lineage)  # before copying anything into the store
    if Path(adapter_dir).is_dir():
        check_safetensors_only(adapter_dir)  # a pickled weight file would run code when loaded
    artifact = _store(self).ingest(Path(adapter_dir))
    content = {"kind": "adapter", "artifact_hash": artifact["hash"], "files": artifact["file_count"]}
    content_hash = content_hash_of(content)
    with self.write() as s:
        info, created = commit_version(
            s,
            "adapter",
            name,
            content,
            content_hash,
            message=message,
            author=author or default_author(),
            lineage=lineage,
            artifact=artifact,
            meta={"task_type": task_type, "tags": tags, "description": description},
        )
    if created:
        self._observe("on_adapter_registered", version=info)
    return info


def adapter_path(self: Any, ref: str | Ref, *, verify: bool = True) -> Path:
    """The stored folder of an adapter version, after checking its bytes (IntegrityError if tampered)."""
    info = self.resolve(ref, kind="adapter")
    store = _store(self)
    if not verify:
        return store.path_of(info.artifact_hash)
    row = (
        self._reader()
        .execute("SELECT manifest FROM artifacts WHERE hash = ?", (info.artifact_hash,))
        .fetchone()
    )
    path = store.verify(info.artifact_hash, json.loads(row[0]) if row else None)
    return check_safetensors_only(path, where=info.ref)  # stored by an older promptyard: still never loaded


def adapter_manifest(self: Any, ref: str | Ref) -> dict[str, str]:
    """Relative path -> sha256 of every file of an adapter version, as recorded when it was registered."""
    info = self.resolve(ref, kind="adapter")
    row = self._reader().execute("SELECT manifest FROM artifacts WHERE hash = ?", (info.artifact_hash,)).fetchone()
    if row is None:
        raise IntegrityError("no artifact is recorded for this adapter version", where=info.ref)
    return json.loads(row[0])
