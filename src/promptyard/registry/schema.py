"""Schema revisions: a cheap check on every open, Alembic upgrades (with a backup first) when needed.

Opening a registry must stay fast, so the check does not import Alembic: it reads the revision ids and
``down_revision`` of the files in ``migrations/versions/`` with a regex, computes the heads, and compares
them with the ``alembic_version`` rows. Only a mismatch imports Alembic and upgrades to ``heads`` (so any
chain or branch of revisions the project ends up with works).
"""

from __future__ import annotations

import ast
import re
import sqlite3
import stat
import time
from functools import lru_cache
from pathlib import Path

from promptyard.core.errors import RegistryError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]+)?=\s*(.+?)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def revision_graph() -> dict[str, tuple[str, ...]]:
    """Map each revision id in ``migrations/versions`` to its down revisions."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        if path.name.startswith("__"):
            continue
        found = dict(m.groups() for m in _ASSIGN.finditer(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        rev = ast.literal_eval(found["revision"])
        down = ast.literal_eval(found.get("down_revision", "None"))
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        graph[rev] = downs
    return graph


def head_revisions() -> frozenset[str]:
    """The revisions no other revision builds on."""
    graph = revision_graph()
    below = {d for downs in graph.values() for d in downs}
    return frozenset(r for r in graph if r not in below)


def ancestors(revisions: frozenset[str] | set[str]) -> set[str]:
    """Every revision at or below ``revisions``."""
    graph, seen, todo = revision_graph(), set(), list(revisions)
    while todo:
        rev = todo.pop()
        if rev not in seen:
            seen.add(rev)
            todo.extend(graph.get(rev, ()))
    return seen


def current_revisions(conn: sqlite3.Connection) -> frozenset[str] | None:
    """The revisions recorded in the database, or None when it has no ``alembic_version`` table."""
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError:
        return None
    return frozenset(r[0] for r in rows)


#: tables every command reads; opening checks that they exist (``registry check`` compares every column)
CORE_TABLES = ("items", "versions", "labels", "label_moves", "settings", "artifacts")
_RESTORE = "restore it from a backup (registry.db.bak-*), or `promptyard init` a new registry elsewhere"


def check_file(path: Path) -> None:
    """RegistryError unless ``path`` is a non-empty regular file. Nothing is written: a file that is not a
    registry is never turned into one. Only ``stat`` is used: opening and closing another descriptor on a
    database this process has open would drop SQLite's POSIX locks on it (SQLite's own header check, at
    the first query, finds a file that is not SQLite: see :func:`not_sqlite`)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise RegistryError(f"cannot read the registry: {exc.strerror or exc}", where=str(path)) from None
    if stat.S_ISDIR(info.st_mode):
        raise RegistryError("not a registry: is a directory", where=str(path),
                            hint="pass the registry file, e.g. .promptyard/registry.db")
    if not stat.S_ISREG(info.st_mode):
        raise RegistryError("not a registry: not a regular file", where=str(path))
    if info.st_size == 0:
        raise RegistryError("not a registry: the file is empty", where=str(path),
                            hint="`promptyard init` creates a registry; delete the empty file first")


def not_sqlite(exc: sqlite3.DatabaseError, path: Path) -> RegistryError:
    """The error for a file SQLite could not read at open: not SQLite at all, or damaged."""
    if "not a database" in str(exc):
        return RegistryError("not a registry: not an SQLite database", where=str(path),
                             hint="check --registry / PROMPTYARD_REGISTRY")
    return RegistryError(f"damaged registry: {exc}", where=str(path), hint=_RESTORE)


def check_core_tables(conn: sqlite3.Connection, path: Path) -> None:
    """RegistryError naming the first core table that is missing (a dropped table, a damaged file)."""
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in CORE_TABLES if t not in present]
    if missing:
        raise RegistryError(f"damaged registry: table {', '.join(missing)} is missing", where=str(path),
                            hint=_RESTORE)


def needs_upgrade(conn: sqlite3.Connection, path: Path, *, new: bool = False, check_tables: bool = True) -> bool:
    """True when the database is behind the code; RegistryError when it is ahead, damaged or not a
    registry. An empty database gets its schema only when this process just created the file (``new``)."""
    current = current_revisions(conn)
    heads = head_revisions()
    if current is None:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        if tables:
            raise RegistryError("not a promptyard registry (no schema revision table)", where=str(path))
        if not new:
            raise RegistryError("not a registry: an SQLite database without promptyard's tables",
                                where=str(path), hint="`promptyard init` creates a registry in a new file")
        return True
    if current == heads:
        if check_tables:
            check_core_tables(conn, path)
        return False
    unknown = current - set(revision_graph())
    if unknown:
        raise RegistryError(
            f"registry schema {', '.join(sorted(unknown))} is newer than this promptyard",
            where=str(path),
            hint="upgrade promptyard",
        )
    return bool(heads - ancestors(current)) or bool(redundant(current))


def redundant(current: frozenset[str]) -> set[str]:
    """Recorded revisions that another recorded revision already builds on. This happens when revisions
    that were separate branches (all on 0001) are later chained: Alembic refuses such overlapping rows."""
    return {rev for rev in current if any(rev in ancestors({other}) - {other} for other in current)}


def _drop_redundant(path: Path) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for rev in redundant(current_revisions(conn) or frozenset()):
            conn.execute("DELETE FROM alembic_version WHERE version_num = ?", (rev,))
        conn.execute("COMMIT")
    finally:
        conn.close()


def backup(path: Path, current: frozenset[str] | None) -> Path:
    """Copy the registry (WAL content included) to ``registry.db.bak-<rev>-<timestamp>`` next to it."""
    rev = "+".join(sorted(current)) if current else "empty"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time() % 1:.6f}"[1:].replace(".", "-")
    target = path.with_name(f"{path.name}.bak-{rev}-{stamp}")
    src = sqlite3.connect(str(path))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)  # the backup API copies a consistent snapshot, unlike copying the file
    finally:
        dst.close()
        src.close()
    return target


def upgrade(path: Path, *, revision: str = "heads", make_backup: bool = True) -> dict:
    """Upgrade the registry at ``path`` to ``revision``; returns what happened (from, to, backup)."""
    conn = sqlite3.connect(str(path))
    try:
        before = current_revisions(conn)
        has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    finally:
        conn.close()
    backup_path = backup(path, before) if make_backup and has_tables else None
    _drop_redundant(path)
    run_alembic(path, revision)
    conn = sqlite3.connect(str(path))
    try:
        after = current_revisions(conn)
    finally:
        conn.close()
    return {
        "from": sorted(before or []),
        "to": sorted(after or []),
        "backup": str(backup_path) if backup_path else None,
    }


def run_alembic(path: Path, revision: str = "heads") -> None:
    """Run ``alembic upgrade REVISION`` on ``path`` programmatically (no alembic.ini needed)."""
    from alembic import command
    from alembic.config import Config

    from promptyard.registry.engine import make_engine

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_engine(path)
    try:
        # BEGIN IMMEDIATE: two processes opening an old registry at once upgrade it one after the other;
        # the second finds it current inside its transaction and does nothing.
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()
