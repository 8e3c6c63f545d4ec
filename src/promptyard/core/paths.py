"""Where promptyard keeps its registry, caches and work files."""

from __future__ import annotations

import os
import re
from pathlib import Path

from promptyard.core.errors import UsageError

REGISTRY_DIRNAME = ".promptyard"
REGISTRY_FILENAME = "registry.db"


def find_registry(start: Path | None = None) -> Path | None:
    """Return ``.promptyard/registry.db`` found upward from ``start`` (like git), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / REGISTRY_DIRNAME / REGISTRY_FILENAME
        if candidate.exists():
            return candidate
    return None


def registry_path(explicit: str | os.PathLike | None = None) -> Path:
    """The registry file: ``explicit`` (``--registry``), else ``PROMPTYARD_REGISTRY``, else found upward,
    else ``./.promptyard/registry.db`` (which ``promptyard init`` creates)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("PROMPTYARD_REGISTRY")
    if env:
        return Path(env).expanduser().resolve()
    return find_registry() or (Path.cwd() / REGISTRY_DIRNAME / REGISTRY_FILENAME).resolve()


def home_dir() -> Path:
    """promptyard's per-user directory (``PROMPTYARD_HOME``, else ``~/.cache/promptyard``)."""
    env = os.environ.get("PROMPTYARD_HOME")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "promptyard"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """A cache folder of one kind (``models``, ``responses`` …) under ``PROMPTYARD_CACHE`` or the home dir."""
    env = os.environ.get("PROMPTYARD_CACHE")
    root = Path(env).expanduser() if env else home_dir() / "cache"
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def work_dir() -> Path:
    """Scratch space for runs (Ray temp and results, checkpoints): ``PROMPTYARD_WORKDIR`` or the home dir."""
    env = os.environ.get("PROMPTYARD_WORKDIR")
    path = Path(env).expanduser() if env else home_dir() / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_id(value: object, *, what: str = "id") -> str:
    """``value`` when it can name a folder of promptyard's own (a search id, a run id): letters, digits,
    ``.``, ``_``, ``-``; no separator, no ``..``, nothing absolute. UsageError otherwise, before any path
    is built from it."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise UsageError(f"invalid {what} {value!r:.80}", where=what,
                         hint="letters, digits, '.', '_' and '-' only (no '/', no '..')")
    return value


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that it resolves inside ``folder`` (no symlink leads out)."""
    path = folder / name
    root = folder.resolve()
    if path.resolve().parent != root:
        raise UsageError(f"{name!r} leads outside {root}", where=str(path))
    return path
