"""``promptyard.Registry``: the Python API over the registry (the CLI is a thin layer over this).

Reads go through the stdlib ``sqlite3`` module (importing SQLAlchemy costs more than a whole cold
``prompt render`` may take); writes go through SQLModel in one ``BEGIN IMMEDIATE`` transaction each.
Resolved references are cached per Registry object and the cache is checked against SQLite's
``PRAGMA data_version`` before every use, so a label moved by another process is seen by the next call.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.errors import RegistryError
from promptyard.core.paths import registry_path
from promptyard.core.records import LabelMoveInfo, VersionInfo
from promptyard.core.refs import Ref, check_name, parse_ref
from promptyard.core.template import Template
from promptyard.registry import queries, schema
from promptyard.registry.actors import default_author
from promptyard.registry.connection import BUSY_TIMEOUT_MS
from promptyard.registry.reads import RegistryReads

if TYPE_CHECKING:
    from sqlmodel import Session

    from promptyard.core.template import Template

_render = None


#: entry-point group of the functions that open a registry URL, by scheme (``http = "promptyard.remote:connect"``)
OPENERS_GROUP = "promptyard.registry_openers"


def open_url(url: str) -> Any:
    """The registry at ``url``, through the opener installed for its scheme (an entry point, so the
    registry layer does not depend on the HTTP client)."""
    from importlib.metadata import entry_points

    scheme = url.partition("://")[0].lower()
    found = [ep for ep in entry_points(group=OPENERS_GROUP) if ep.name == scheme]
    if not found:
        raise RegistryError(f"no way to open a {scheme!r} registry", where=url,
                            hint="install promptyard[server] for http(s) registries")
    return found[0].load()(url)


class Registry(RegistryReads):
    """A registry file: prompts and adapters, their versions, labels and history."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self._engine: Any = None
        self._write_engine: Any = None
        self._data_version: int | None = None
        self._resolved: dict[tuple[str, str], VersionInfo] = {}
        self._templates: dict[str, Template] = {}

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | os.PathLike | None = None, *, create: bool = False, upgrade: bool = True,
        damaged_ok: bool = False,
    ) -> Registry:
        """Open the registry at ``path`` (else ``PROMPTYARD_REGISTRY``, else found upward, else
        ``./.promptyard/registry.db``); ``create`` makes it when missing. An older schema is upgraded
        (after a backup copy) unless ``upgrade=False``. A file that is not a registry (empty, a folder,
        not SQLite, unreadable) is a RegistryError and is left as it is; so is a registry missing one of
        its tables, unless ``damaged_ok`` (``registry check`` opens it to say what is wrong). A URL
        (``http://host:8470``) opens the registry served there instead: the opener registered for its scheme
        (``promptyard.remote.connect``) returns a client with the same read, render and label methods,
        using ``PROMPTYARD_TOKEN``."""
        target = os.fspath(path) if path is not None else os.environ.get("PROMPTYARD_REGISTRY")
        if isinstance(target, str) and "://" in target:
            return open_url(target)
        file = registry_path(path)
        new = False
        if not file.exists():
            if not create:
                raise RegistryError(
                    "no registry here",
                    where=str(file),
                    hint="run `promptyard init`, or pass --registry PATH / set PROMPTYARD_REGISTRY",
                )
            file.parent.mkdir(parents=True, exist_ok=True)
            new = True
        else:
            schema.check_file(file)  # an empty file or a folder is refused, never overwritten
        reg = cls(file)
        try:
            upgrade_needed = schema.needs_upgrade(reg._reader(), file, new=new, check_tables=not damaged_ok)
        except sqlite3.DatabaseError as exc:  # not SQLite, truncated or corrupt: SQLite cannot read its schema
            reg._close_reader()
            raise schema.not_sqlite(exc, file) from None
        except RegistryError:
            reg._close_reader()
            raise
        if upgrade_needed:
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

    def _after_fork(self) -> None:
        # SQLite connections must not cross fork(): a child drops (never closes) what it inherited
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._conn, self._engine, self._write_engine = None, None, None
            self._resolved.clear()
            self._data_version = None

    def __reduce__(self) -> tuple:
        """Pickles as its path (for worker processes); connections reopen on first use there."""
        return (type(self), (self.path,))

    def _reader(self) -> sqlite3.Connection:
        self._after_fork()
        if self._conn is None:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
        self._after_fork()
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

        if getattr(self._local, "writing", False):
            # a second connection would wait for the lock this thread already holds: fail now, not in 60 s
            raise RegistryError("a registry write is already open in this thread",
                                hint="do all the writing inside the one `with registry.write()` block")
        self.engine  # noqa: B018 - creates the write engine
        self._local.writing = True
        try:
            with Session(self._write_engine, expire_on_commit=False) as session:
                session.connection()  # BEGIN IMMEDIATE now, before the first read
                yield session
                session.commit()
        finally:
            self._local.writing = False
        self._invalidate()

    def _invalidate(self) -> None:
        with self._lock:
            self._resolved.clear()
            self._data_version = None

    def _observe(self, hook: str, **kw: Any) -> None:
        from promptyard.core.host import get_host  # pluggy and the plugins: writes only, never a render

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
        from promptyard.registry.versioning import commit_version

        check_name(name)
        if not isinstance(template, Template):
            template = Template.from_dict(dict(template), where=name)
        contract = [v.to_dict() for v in check_template(template)]
        with self.write() as s:
            info, created = commit_version(
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
    # Thin wrappers: the implementations import the artifact store and YAML, which `prompt render` never needs.
    def register_adapter(self, name: str, adapter_dir: str | Path, lineage: dict[str, Any] | None = None,
                         message: str = "", **meta: Any) -> VersionInfo:
        """Copy a saved PEFT adapter folder into the artifact store and record it as a new version of adapter
        ``name`` (``meta``: author, task_type, tags, description). The same bytes as the latest version
        return that version unchanged."""

        from promptyard.registry import adapters

        return adapters.register_adapter(self, name, adapter_dir, lineage, message, **meta)

    def resolve_adapter(self, ref: str | Ref) -> VersionInfo:
        """The adapter version ``ref`` names (same grammar as prompts)."""
        return self.resolve(ref, kind="adapter")

    def adapter_path(self, ref: str | Ref, *, verify: bool = True) -> Path:
        """The stored folder of an adapter version, after checking its bytes (IntegrityError if changed)."""

        from promptyard.registry import adapters

        return adapters.adapter_path(self, ref, verify=verify)

    def adapter_manifest(self, ref: str | Ref) -> dict[str, str]:
        """Relative path -> sha256 of each file of an adapter version, as recorded at registration."""
        from promptyard.registry import adapters

        return adapters.adapter_manifest(self, ref)

    def label_adapter(self, ref: str | Ref, label: str, *, force: bool = False, reason: str = "",
                      actor: str | None = None) -> LabelMoveInfo | None:
        """:meth:`label` for adapters."""
        return self.label(ref, label, force=force, reason=reason, actor=actor, kind="adapter")

    def rollback_adapter(self, name: str, label: str = "production", to: int | None = None, *, reason: str = "",
                         actor: str | None = None) -> LabelMoveInfo:
        """:meth:`rollback` for adapters."""
        return self.rollback(name, label, to, reason=reason, actor=actor, kind="adapter")

    def check_integrity(self, *, remove_orphans: bool = False) -> dict[str, builtins.list[dict[str, str]]]:
        """SQLite's integrity and foreign-key checks, missing tables or columns, versions whose content no
        longer matches its hash (or whose contract is damaged), damaged or missing artifacts, and orphaned
        folders (removed with ``remove_orphans``). ``registry check`` and ``doctor`` print this."""
        from promptyard.registry import integrity

        return integrity.check_integrity(self, remove_orphans=remove_orphans)

    def export(self, names: builtins.list[str] | None = None, *, kind: str = "prompt", path: str | Path | None = None,
               fmt: str | None = None) -> dict[str, Any]:
        """A bundle (versions, labels, hashes) of the named items, or all active ones; written to ``path``
        (JSON, or YAML for .yaml/.yml or ``fmt="yaml"``) when given."""
        from promptyard.registry import bundle

        return bundle.export(self, names, kind=kind, path=path, fmt=fmt)

    def import_bundle(self, source: str | Path | dict[str, Any], *, as_name: str | None = None,
                      actor: str | None = None) -> dict[str, Any]:
        """Import a bundle after checking every hash; refuses conflicting version numbers (or use
        ``as_name``). Returns what was added per item."""
        from promptyard.registry import bundle

        return bundle.import_bundle(self, source, as_name=as_name, actor=actor)

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

