"""sha256 of files and folders, remembered in sidecar records keyed by size and mtime."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from promptyard.core.paths import cache_dir

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
CHUNK = 1 << 20


def sha256_json(value: Any) -> str:
    """sha256 of a value's canonical JSON (sorted keys, no spaces, non-JSON values as ``str``)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file; the result is cached in a sidecar keyed by path, size and mtime."""
    path = Path(path).resolve()
    stat = path.stat()
    key = hashlib.sha256(str(path).encode()).hexdigest()[:32]
    sidecar = cache_dir("hashes") / f"{key}.json"
    try:
        record = json.loads(sidecar.read_text())
        if record["size"] == stat.st_size and record["mtime_ns"] == stat.st_mtime_ns:
            return record["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    value = file_hash(path)
    tmp = sidecar.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                               "sha256": value}))
    os.replace(tmp, sidecar)
    return value


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The weight files of a model folder, in a stable order."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def files_sha256(files: Iterable[Path], root: Path | None = None) -> str:
    """One sha256 over several files: each file's relative name and its own sha256."""
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(root).as_posix() if root else path.name
        digest.update(f"{name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def model_content_hash(folder: str | os.PathLike) -> str:
    """The content hash of a model folder: its weight files, by name and content."""
    folder = Path(folder)
    return files_sha256(weight_files(folder), folder)
