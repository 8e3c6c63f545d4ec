"""Plain-SQL reads shared by the fast read path (stdlib ``sqlite3``) and by write transactions.

Every function takes a DB-API connection: the registry's own ``sqlite3`` reader, or the raw connection
under a write session (then the read sees the write transaction's snapshot, so a reference resolved
while writing cannot change before the write commits).
"""

from __future__ import annotations

import json
from typing import Any

from promptyard.core.errors import AmbiguousRefError, UnknownRefError
from promptyard.core.records import ItemInfo, LabelMoveInfo, VersionInfo, as_time
from promptyard.core.refs import DEFAULT_LABEL, Ref

VERSION_COLUMNS = (
    "v.id, i.kind, i.name, v.number, v.content_hash, v.content, v.message, v.author, v.created_at, "
    "(SELECT p.number FROM versions p WHERE p.id = v.parent_id), v.lineage, v.artifact_hash, v.contract"
)
_FROM = "FROM versions v JOIN items i ON i.id = v.item_id WHERE i.kind = ? AND i.name = ?"
MOVE_COLUMNS = (
    "i.kind, i.name, m.label, (SELECT number FROM versions WHERE id = m.from_version_id), "
    "(SELECT number FROM versions WHERE id = m.to_version_id), m.action, m.actor, m.reason, m.created_at"
)
DEFAULT_PROTECTED = ("production",)


def item_row(conn: Any, kind: str, name: str) -> tuple | None:
    """(id, archived) of an item, or None."""
    return conn.execute("SELECT id, archived FROM items WHERE kind = ? AND name = ?", (kind, name)).fetchone()


def _unknown_item(conn: Any, kind: str, name: str) -> UnknownRefError:
    other = "adapter" if kind == "prompt" else "prompt"
    hint = f"`promptyard {kind} list` shows what exists"
    if item_row(conn, other, name):
        hint = f"{name!r} is an {other}" if other == "adapter" else f"{name!r} is a {other}"
    return UnknownRefError(f"unknown {kind} {name!r}", hint=hint)


def version_by_id(conn: Any, version_id: int) -> VersionInfo:
    row = conn.execute(
        f"SELECT {VERSION_COLUMNS} FROM versions v JOIN items i ON i.id = v.item_id WHERE v.id = ?",
        (version_id,),
    ).fetchone()
    return VersionInfo.from_row(row)


def resolve(conn: Any, kind: str, ref: Ref) -> VersionInfo:
    """The version ``ref`` names; UnknownRefError / AmbiguousRefError saying why not."""
    key = (kind, ref.name)
    if ref.number is not None:
        row = conn.execute(
            f"SELECT {VERSION_COLUMNS} {_FROM} AND v.number = ?", (*key, ref.number)
        ).fetchone()
    elif ref.hash_prefix is not None:
        # a range on the (item_id, content_hash) index instead of LIKE, which SQLite would scan
        rows = conn.execute(
            f"SELECT {VERSION_COLUMNS} {_FROM} AND v.content_hash >= ? AND v.content_hash < ? "
            "ORDER BY v.number LIMIT 10",
            (*key, ref.hash_prefix, ref.hash_prefix + "g"),
        ).fetchall()
        if len(rows) > 1:
            numbers = ", ".join(str(r[3]) for r in rows)
            raise AmbiguousRefError(
                f"hash prefix {ref.hash_prefix!r} matches versions {numbers} of {ref.name!r}",
                where=str(ref),
                hint="give more hex digits",
            )
        row = rows[0] if rows else None
    elif ref.latest:
        row = conn.execute(f"SELECT {VERSION_COLUMNS} {_FROM} ORDER BY v.number DESC LIMIT 1", key).fetchone()
    else:
        label = ref.label or DEFAULT_LABEL
        row = conn.execute(
            f"SELECT {VERSION_COLUMNS} FROM labels l JOIN versions v ON v.id = l.version_id "
            "JOIN items i ON i.id = v.item_id WHERE i.kind = ? AND i.name = ? AND l.name = ?",
            (*key, label),
        ).fetchone()
        if row is None and ref.is_bare:
            row = conn.execute(
                f"SELECT {VERSION_COLUMNS} {_FROM} ORDER BY v.number DESC LIMIT 1", key
            ).fetchone()
    if row is not None:
        return VersionInfo.from_row(row)
    raise _not_found(conn, kind, ref)


def _not_found(conn: Any, kind: str, ref: Ref) -> UnknownRefError:
    item = item_row(conn, kind, ref.name)
    if item is None:
        return _unknown_item(conn, kind, ref.name)
    latest = conn.execute("SELECT max(number) FROM versions WHERE item_id = ?", (item[0],)).fetchone()[0]
    if ref.number is not None:
        return UnknownRefError(
            f"{kind} {ref.name!r} has no version {ref.number}",
            where=str(ref),
            hint=f"versions 1 to {latest}" if latest else "it has no versions",
        )
    if ref.hash_prefix is not None:
        return UnknownRefError(
            f"no version of {ref.name!r} has a hash starting {ref.hash_prefix!r}", where=str(ref)
        )
    if ref.label is not None:
        names = [
            r[0] for r in conn.execute("SELECT name FROM labels WHERE item_id = ? ORDER BY name", (item[0],))
        ]
        return UnknownRefError(
            f"{kind} {ref.name!r} has no label {ref.label!r}",
            where=str(ref),
            hint=f"labels: {', '.join(names)}" if names else "it has no labels yet",
        )
    return UnknownRefError(f"{kind} {ref.name!r} has no versions", where=str(ref))


def labels_of(conn: Any, item_id: int) -> dict[str, int]:
    """Current labels of an item: label -> version number."""
    rows = conn.execute(
        "SELECT l.name, v.number FROM labels l JOIN versions v ON v.id = l.version_id "
        "WHERE l.item_id = ? ORDER BY l.name",
        (item_id,),
    )
    return dict(rows.fetchall())


def label_target(conn: Any, item_id: int, label: str) -> tuple[int, int] | None:
    """(version id, number) a label points to, or None."""
    return conn.execute(
        "SELECT v.id, v.number FROM labels l JOIN versions v ON v.id = l.version_id "
        "WHERE l.item_id = ? AND l.name = ?",
        (item_id, label),
    ).fetchone()


def moves(conn: Any, kind: str, name: str, label: str | None = None) -> list[LabelMoveInfo]:
    """A label history (all labels of the item when ``label`` is None), oldest first."""
    sql = (
        f"SELECT {MOVE_COLUMNS} FROM label_moves m JOIN items i ON i.id = m.item_id "
        "WHERE i.kind = ? AND i.name = ?"
    )
    params: tuple = (kind, name)
    if label is not None:
        sql, params = sql + " AND m.label = ?", (*params, label)
    return [LabelMoveInfo.from_row(r) for r in conn.execute(sql + " ORDER BY m.id", params)]


def versions(conn: Any, kind: str, name: str) -> list[VersionInfo]:
    rows = conn.execute(f"SELECT {VERSION_COLUMNS} {_FROM} ORDER BY v.number", (kind, name))
    return [VersionInfo.from_row(r) for r in rows]


def protected_labels(conn: Any) -> tuple[str, ...]:
    row = conn.execute("SELECT value FROM settings WHERE key = 'protected_labels'").fetchone()
    return tuple(json.loads(row[0])) if row else DEFAULT_PROTECTED


def items(conn: Any, kind: str | None = None, name: str | None = None) -> list[ItemInfo]:
    """Every item (archived too) with latest version, template kind of the latest, and labels; only the one
    called ``name`` when it is given (with ``kind``)."""
    sql = (
        "SELECT i.id, i.kind, i.name, i.task_type, i.description, i.tags, i.archived, i.created_at, "
        "v.number, json_extract(v.content, '$.kind') FROM items i LEFT JOIN versions v ON v.item_id = i.id "
        "AND v.number = (SELECT max(number) FROM versions WHERE item_id = i.id)"
    )
    params: tuple = ()
    label_sql = "SELECT l.item_id, l.name, v.number FROM labels l JOIN versions v ON v.id = l.version_id"
    label_params: tuple = ()
    if kind is not None and name is not None:
        sql, params = sql + " WHERE i.kind = ? AND i.name = ?", (kind, name)
        label_sql += " JOIN items i ON i.id = l.item_id WHERE i.kind = ? AND i.name = ?"
        label_params = (kind, name)
    elif kind is not None:
        sql, params = sql + " WHERE i.kind = ?", (kind,)
    labels: dict[int, dict[str, int]] = {}
    for item_id, label, number in conn.execute(label_sql, label_params):
        labels.setdefault(item_id, {})[label] = number
    out = []
    for (
        item_id,
        k,
        name,
        task_type,
        description,
        tags,
        archived,
        created_at,
        latest,
        template_kind,
    ) in conn.execute(sql + " ORDER BY i.kind, i.name", params):
        out.append(
            ItemInfo(
                kind=k,
                name=name,
                task_type=task_type,
                description=description or "",
                tags=json.loads(tags or "[]"),
                archived=bool(archived),
                created_at=as_time(created_at),
                latest=latest,
                template_kind=template_kind if k == "prompt" else None,
                labels=labels.get(item_id, {}),
            )
        )
    return out


def last_changes(conn: Any, kind: str, names: list[str] | None = None) -> dict[str, Any]:
    """name -> time of the item's newest version or label move (its creation when it has neither); only for
    ``names`` when given."""
    sql = (
        "SELECT i.name, max(i.created_at, coalesce((SELECT max(created_at) FROM versions WHERE item_id = i.id), ''), "
        "coalesce((SELECT max(created_at) FROM label_moves WHERE item_id = i.id), '')) FROM items i WHERE i.kind = ?"
    )
    params: tuple = (kind,)
    if names is not None:
        sql += f" AND i.name IN ({', '.join('?' * len(names))})"
        params += tuple(names)
    return {name: as_time(stamp) for name, stamp in conn.execute(sql, params)}
