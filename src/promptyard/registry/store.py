"""The content-addressed artifact store next to the registry: ``artifacts/sha256/<hash>/…``.

A directory is copied to a temporary path, hashed (the copy, not the source, which might still change),
then renamed atomically into place; the caller records it in one transaction afterwards. The hash of a
directory is the sha256 of its manifest (relative path -> sha256 of each file), so it changes when any
file's bytes, name or presence change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from promptyard.core.errors import IntegrityError, ValidationError
from promptyard.core.hashing import file_hash


def tree_manifest(root: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every regular file under ``root``."""
    manifest = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            manifest[path.relative_to(root).as_posix()] = file_hash(path)
    return manifest


def manifest_hash(manifest: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ArtifactStore:
    """Directories stored by content hash under ``root`` (``<registry dir>/artifacts``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_of(self, digest: str) -> Path:
        return self.root / "sha256" / digest

    def ingest(self, source: Path) -> dict[str, Any]:
        """Copy ``source`` into the store; return the row to record (hash, path, size, files, manifest)."""
        source = Path(source)
        if not source.is_dir():
            raise ValidationError("not a directory", where=str(source), hint="pass the saved adapter folder")
        tmp = self.root / "tmp" / uuid.uuid4().hex
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copytree(source, tmp, symlinks=False)
            manifest = tree_manifest(tmp)
            if not manifest:
                raise ValidationError("the folder holds no files", where=str(source))
            digest = manifest_hash(manifest)
            final = self.path_of(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            for path in tmp.rglob("*"):
                if path.is_file():
                    path.chmod(0o444)  # stored artifacts are immutable; read-only guards against slips
            try:
                os.rename(tmp, final)  # atomic on one filesystem; fails if another writer got there first
            except OSError:
                if not final.exists():
                    raise
                self.verify(digest, manifest)  # same content already stored: keep the existing copy
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, onerror=_force_remove)
        size = sum((final / p).stat().st_size for p in manifest)
        return {
            "hash": digest,
            "path": final.relative_to(self.root).as_posix(),
            "size": size,
            "file_count": len(manifest),
            "manifest": json.dumps(manifest, sort_keys=True),
        }

    def verify(self, digest: str, manifest: dict[str, str] | None = None) -> Path:
        """The stored folder for ``digest`` after checking its bytes; IntegrityError naming what differs."""
        path = self.path_of(digest)
        if not path.is_dir():
            raise IntegrityError("artifact missing from the store", where=str(path))
        found = tree_manifest(path)
        if manifest_hash(found) != digest:
            detail = ""
            if manifest is not None:
                changed = sorted(k for k in set(found) | set(manifest) if found.get(k) != manifest.get(k))
                detail = f": {', '.join(changed[:5])}"
            raise IntegrityError(
                f"artifact content does not match its hash{detail}",
                where=str(path),
                hint="it was changed after registration; re-register the adapter",
            )
        return path

    def stored(self) -> list[str]:
        """Every hash that has a folder in the store."""
        base = self.root / "sha256"
        return sorted(p.name for p in base.iterdir()) if base.is_dir() else []

    def leftovers(self) -> list[Path]:
        """Temporary folders left by an interrupted ingest."""
        base = self.root / "tmp"
        return sorted(base.iterdir()) if base.is_dir() else []

    def remove(self, path: Path) -> None:
        shutil.rmtree(path, onerror=_force_remove)


def _force_remove(func: Any, path: str, _exc: Any) -> None:
    os.chmod(path, 0o700)
    os.chmod(os.path.dirname(path), 0o700)
    func(path)
