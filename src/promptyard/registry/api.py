"""``promptyard.Registry``: the Python API over the registry (the CLI is a thin layer over this).

Reads go through the stdlib ``sqlite3`` module (importing SQLAlchemy costs more than a whole cold
``prompt render`` may take); writes go through SQLModel in one ``BEGIN IMMEDIATE`` transaction each.
Resolved references are cached per Registry object and the cache is checked against SQLite's
``PRAGMA data_version`` before every use, so a label moved by another process is seen by the next call.
"""

from __future__ import annotations

import builtins
import contextlib
import fnmatch
import getpass
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.errors import RegistryError, UsageError
from promptyard.core.paths import registry_path
from promptyard.core.refs import Ref, check_label, check_name, parse_ref
from promptyard.registry import queries, schema
from promptyard.registry.models import ItemInfo, LabelMoveInfo, VersionInfo

if TYPE_CHECKING:
    from sqlmodel import Session

    from promptyard.core.template import Template

_render = None


def default_author() -> str:
    """``PROMPTYARD_AUTHOR``, else the login name."""
    try:
        return os.environ.get("PROMPTYARD_AUTHOR") or getpass.getuser()
    except Exception:  # getuser raises when no login name is known (containers)
        return "unknown"


class Registry:
    """A registry file: prompts and adapters, their versions, labels and history."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._engine: Any = None
        self._write_engine: Any = None
        self._data_version: int | None = None
        self._resolved: dict[tuple[str, str], VersionInfo] = {}
        self._templates: dict[str, Template] = {}

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | os.PathLike | None = None, *, create: bool = False, upgrade: bool = True
    ) -> Registry:
        """Open the registry at ``path`` (else ``PROMPTYARD_REGISTRY``, else found upward, else
        ``./.promptyard/registry.db``); ``create`` makes it when missing. An older schema is upgraded
        (after a backup copy) unless ``upgrade=False``."""
        file = registry_path(path)
        if not file.exists():
            if not create:
                raise RegistryError(
                    "no registry here",
                    where=str(file),
                    hint="run `promptyard init`, or pass --registry PATH / set PROMPTYARD_REGISTRY",
                )
            file.parent.mkdir(parents=True, exist_ok=True)
        reg = cls(file)
        if schema.needs_upgrade(reg._reader(), file):
            if not upgrade:
                raise RegistryError(
                    "the registry schema is older than this promptyard",
                    where=str(file),
                    hint="run `promptyard registry upgrade`",
                )
            reg._close_reader()
            schema.upgrade(file)
        return reg

    @property
    def root(self) -> Path:
        """The folder that holds the registry file and its artifact store."""
        return self.path.parent

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute(f"PRAGMA busy_timeout={schema.BUSY_TIMEOUT_MS}")
            self._conn = conn
        return self._conn

    def _close_reader(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close connections (the object can be used again; it reopens lazily)."""
        self._close_reader()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = self._write_engine = None

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    # ---------------------------------------------------------------- sessions
    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            from promptyard.registry.engine import load_table_modules, make_engine

            load_table_modules()
            self._engine = make_engine(self.path)
            self._write_engine = self._engine.execution_options(sqlite_immediate=True)
        return self._engine

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A SQLModel session for reads: one consistent snapshot (deferred BEGIN)."""
        from sqlmodel import Session

        with Session(self.engine) as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A SQLModel session in ONE ``BEGIN IMMEDIATE`` transaction, committed when the block ends
        (rolled back when it raises). Other areas write their own tables through this."""
        from sqlmodel import Session

        self.engine  # noqa: B018 - creates the write engine
        with Session(self._write_engine, expire_on_commit=False) as session:
            session.connection()  # BEGIN IMMEDIATE now, before the first read
            yield session
            session.commit()
        self._invalidate()

    def _invalidate(self) -> None:
        with self._lock:
            self._resolved.clear()
            self._data_version = None

    def _observe(self, hook: str, **kw: Any) -> None:
        from promptyard.core.plugins import get_host

        get_host().call_observers(hook, registry=self, **kw)

    # ---------------------------------------------------------------- resolving and rendering
    def resolve(self, ref: str | Ref, *, kind: str = "prompt") -> VersionInfo:
        """The version ``ref`` names (``name``, ``name@3``, ``name@latest``, ``name@label``,
        ``name@sha:1a2b``). Never stale: the cache is dropped when any process changed the file."""
        key = (kind, str(ref))
        with self._lock:
            conn = self._reader()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._resolved.clear()
                self._data_version = version
            found = self._resolved.get(key)
            if found is None:
                found = queries.resolve(conn, kind, parse_ref(ref))
                self._resolved[key] = found
            return found

    def _template(self, info: VersionInfo) -> Template:
        # content is immutable per hash, so this cache never goes stale
        t = self._templates.get(info.content_hash)
        if t is None:
            t = self._templates[info.content_hash] = info.template
        return t

    def get_template(self, ref: str | Ref) -> Template:
        """The template of a prompt version (a fresh object the caller may change)."""
        return self.resolve(ref).template

    def render(
        self, ref: str | Ref, variables: Mapping[str, Any] | None = None, *, seed: int | None = None
    ) -> Any:
        """Resolve ``ref`` and render it with ``variables`` (see :func:`promptyard.core.render.render`)."""
        global _render
        if _render is None:
            from promptyard.core.render import render as _render_fn

            _render = _render_fn
        return _render(self._template(self.resolve(ref)), variables or {}, seed=seed)

    # ---------------------------------------------------------------- reads
    def _item(self, name: str, kind: str) -> tuple:
        row = queries.item_row(self._reader(), kind, name)
        if row is None:
            raise queries._unknown_item(self._reader(), kind, name)
        return row

    def versions(self, name: str, *, kind: str = "prompt") -> builtins.list[VersionInfo]:
        """Every version of an item, oldest first."""
        self._item(name, kind)
        return queries.versions(self._reader(), kind, name)

    def labels(self, name: str, *, kind: str = "prompt") -> dict[str, int]:
        """Current labels: label -> version number."""
        return queries.labels_of(self._reader(), self._item(name, kind)[0])

    def label_history(
        self, name: str, label: str | None = None, *, kind: str = "prompt"
    ) -> builtins.list[LabelMoveInfo]:
        """The append-only history of one label (or all labels), oldest first."""
        self._item(name, kind)
        return queries.moves(self._reader(), kind, name, label)

    def log(self, name: str, *, kind: str = "prompt") -> builtins.list[dict[str, Any]]:
        """Versions and label moves of an item interleaved in time order (oldest first)."""
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for both queries
        try:
            self._item(name, kind)
            events = [
                {
                    "type": "version",
                    "time": v.created_at,
                    **{k: getattr(v, k) for k in ("number", "content_hash", "message", "author", "parent")},
                }
                for v in queries.versions(conn, kind, name)
            ]
            events += [
                {
                    "type": "label",
                    "time": m.created_at,
                    "label": m.label,
                    "from": m.from_number,
                    "to": m.to_number,
                    "action": m.action,
                    "actor": m.actor,
                    "reason": m.reason,
                }
                for m in queries.moves(conn, kind, name)
            ]
        finally:
            conn.execute("COMMIT")
        events.sort(key=lambda e: (e["time"], e["type"] != "version"))
        return events

    def list(
        self,
        pattern: str | None = None,
        *,
        kind: str = "prompt",
        tag: str | None = None,
        template_kind: str | None = None,
        task_type: str | None = None,
        label: str | None = None,
        archived: bool = False,
    ) -> builtins.list[ItemInfo]:
        """Items whose name matches the glob ``pattern`` and every filter given; archived ones only when
        ``archived`` is true."""
        out = []
        for item in queries.items(self._reader(), kind):
            if item.archived and not archived:
                continue
            if pattern and not fnmatch.fnmatchcase(item.name, pattern) and pattern not in item.name:
                continue
            if tag and tag not in item.tags:
                continue
            if template_kind and item.template_kind != template_kind:
                continue
            if task_type and item.task_type != task_type:
                continue
            if label and label not in item.labels:
                continue
            out.append(item)
        return out

    def item(self, name: str, *, kind: str = "prompt") -> ItemInfo:
        """One item with its metadata and labels."""
        self._item(name, kind)
        return next(i for i in queries.items(self._reader(), kind) if i.name == name)

    @property
    def protected_labels(self) -> tuple[str, ...]:
        """Labels that move only with ``force=True`` (default: ``production``)."""
        return queries.protected_labels(self._reader())

    def set_protected_labels(self, labels: builtins.list[str]) -> None:
        """Replace the set of protected labels (registry-wide)."""
        from promptyard.registry.tables import Setting

        for label in labels:
            check_label(label)
        with self.write() as s:
            s.merge(Setting(key="protected_labels", value=json.dumps(sorted(set(labels)))))

    def diff(self, a: str | Ref, b: str | Ref) -> dict[str, Any]:
        """Unified diffs of the template text and of the variable contract between two references."""
        from promptyard.registry.history import diff_versions

        return diff_versions(self.resolve(a), self.resolve(b))

    # ---------------------------------------------------------------- prompt writes
    def commit(
        self,
        name: str,
        template: Template | Mapping[str, Any],
        message: str = "",
        *,
        author: str | None = None,
        task_type: str | None = None,
        tags: builtins.list[str] | None = None,
        description: str | None = None,
        lineage: dict[str, Any] | None = None,
    ) -> VersionInfo | None:
        """Add a version of prompt ``name`` (created if new). Returns None, writing nothing, when the
        content equals the latest version. Template syntax errors raise before anything is written."""
        from promptyard.core.render import check_template
        from promptyard.core.template import Template
        from promptyard.registry.versioning import commit_version

        check_name(name)
        if not isinstance(template, Template):
            template = Template.from_dict(dict(template), where=name)
        contract = [v.to_dict() for v in check_template(template)]
        with self.write() as s:
            info, created = commit_version(
                self,
                s,
                "prompt",
                name,
                template.to_dict(),
                template.content_hash(),
                message=message,
                author=author or default_author(),
                lineage=lineage,
                contract=contract,
                meta={"task_type": task_type, "tags": tags, "description": description},
            )
        if not created:
            return None
        self._observe("on_version_committed", version=info)
        return info

    def label(
        self,
        ref: str | Ref,
        label: str,
        *,
        force: bool = False,
        reason: str = "",
        actor: str | None = None,
        kind: str = "prompt",
    ) -> LabelMoveInfo | None:
        """Point ``label`` at ``ref``'s version and record the move; None when it already points there.
        Protected labels need ``force=True``."""
        from promptyard.registry.versioning import move_label

        with self.write() as s:
            move = move_label(
                s, kind, ref, label, force=force, reason=reason, actor=actor or default_author()
            )
        if move is not None:
            self._observe("on_label_moved", move=move)
        return move

    def rollback(
        self,
        name: str,
        label: str = "production",
        to: int | None = None,
        *,
        reason: str = "",
        actor: str | None = None,
        kind: str = "prompt",
    ) -> LabelMoveInfo:
        """Move ``label`` back to its previous version (or version ``to``) and record it."""
        from promptyard.registry.versioning import rollback_label

        with self.write() as s:
            move = rollback_label(s, kind, name, label, to, reason=reason, actor=actor or default_author())
        self._observe("on_label_moved", move=move)
        return move

    def archive(self, name: str, *, undo: bool = False, kind: str = "prompt") -> bool:
        """Soft-delete an item (hidden from ``list``; refuses new versions and label moves). Nothing is
        destroyed; ``undo=True`` brings it back. Returns whether anything changed."""
        from promptyard.registry.versioning import set_archived

        with self.write() as s:
            return set_archived(s, kind, name, not undo)

    # ---------------------------------------------------------------- adapters, bundles, integrity
    from promptyard.registry.adapters import (  # noqa: E402 - methods shared with the adapters module
        adapter_path,
        check_integrity,
        label_adapter,
        register_adapter,
        resolve_adapter,
        rollback_adapter,
    )
    from promptyard.registry.bundle import export, import_bundle  # noqa: E402

    def upgrade(self) -> dict[str, Any]:
        """Upgrade the schema to the newest revision (backup first); returns from/to/backup."""
        self.close()
        if not schema.needs_upgrade(self._reader(), self.path):
            return {
                "from": sorted(schema.current_revisions(self._reader()) or []),
                "to": None,
                "backup": None,
            }
        self._close_reader()
        return schema.upgrade(self.path)


def _check_kind(kind: str) -> None:
    if kind not in ("prompt", "adapter"):
        raise UsageError(f"unknown item kind {kind!r}", hint="prompt or adapter")
