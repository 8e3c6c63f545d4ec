"""Write operations shared by both item kinds: commit a version, move a label, roll back, archive.

One implementation for prompts and adapters; each function runs in ONE ``BEGIN IMMEDIATE`` transaction
(:meth:`Registry.write`) and returns what changed. Observers are called by the caller after commit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from promptyard.core.errors import RegistryError, UsageError
from promptyard.core.records import LabelMoveInfo, VersionInfo
from promptyard.core.refs import Ref, check_label, check_name, parse_ref
from promptyard.registry import queries
from promptyard.registry.tables import Artifact, Item, Label, LabelMove, Version, utcnow

if TYPE_CHECKING:
    from sqlmodel import Session



def raw(session: Session) -> Any:
    """The sqlite3 connection under a session, inside its open transaction (for plain-SQL reads)."""
    session.flush()
    return session.connection().connection.driver_connection


def check_meta(name: str, tags: Any, lineage: Any) -> None:
    """UsageError unless ``tags`` is a list of strings and ``lineage`` a mapping (None is fine for both)."""
    if tags is not None and (not isinstance(tags, (list, tuple, set)) or not all(isinstance(t, str) for t in tags)):
        raise UsageError("tags must be a list of strings", where=name, hint='e.g. tags=["sentiment"]')
    if lineage is not None and not isinstance(lineage, dict):
        raise UsageError("lineage must be a mapping", where=name)


def get_item(session: Session, kind: str, name: str, *, create: bool = False, **meta: Any) -> int:
    """The id of item ``(kind, name)``; created when ``create``; RegistryError when archived."""
    # a plain-SQL lookup: this runs on every commit and label move, and the ORM select costs ~10x more
    row = queries.item_row(raw(session), kind, name)
    if row is None:
        if not create:
            raise queries._unknown_item(raw(session), kind, name)
        check_name(name)
        item = Item(
            kind=kind,
            name=name,
            task_type=meta.get("task_type"),
            description=meta.get("description") or "",
            tags=json.dumps(sorted(set(meta.get("tags") or []))),
        )
        session.add(item)
        session.flush()
        return item.id
    if row[1]:
        raise RegistryError(
            f"{kind} {name!r} is archived",
            where=name,
            hint=f"`promptyard {kind} archive {name} --undo` brings it back",
        )
    return row[0]


def commit_version(
    session: Session,
    kind: str,
    name: str,
    content: dict[str, Any],
    content_hash: str,
    *,
    message: str = "",
    author: str = "",
    lineage: dict | None = None,
    contract: list | None = None,
    artifact: dict | None = None,
    meta: dict | None = None,
) -> tuple[VersionInfo, bool]:
    """Add a version unless ``content_hash`` equals the latest one's; returns (version, created)."""
    meta = {k: v for k, v in (meta or {}).items() if v is not None}
    check_meta(name, meta.get("tags"), lineage)
    item_id = get_item(session, kind, name, create=True, **meta)
    conn = raw(session)
    latest = conn.execute(
        "SELECT id, number, content_hash FROM versions WHERE item_id = ? ORDER BY number DESC LIMIT 1",
        (item_id,),
    ).fetchone()
    if latest is not None and latest[2] == content_hash:
        return queries.version_by_id(conn, latest[0]), False
    if latest is not None and meta:
        item = session.get(Item, item_id)
        for key in ("task_type", "description"):
            if key in meta:
                setattr(item, key, meta[key])
        if "tags" in meta:
            item.tags = json.dumps(sorted(set(meta["tags"])))
        session.add(item)
    if artifact is not None and session.get(Artifact, artifact["hash"]) is None:
        session.add(Artifact(**artifact))
    row = {
        "item_id": item_id,
        "number": (latest[1] + 1) if latest else 1,
        "content_hash": content_hash,
        "content": json.dumps(content, sort_keys=True, ensure_ascii=False),
        "message": message or "",
        "author": author,
        "created_at": utcnow(),
        "parent_id": latest[0] if latest else None,
        "lineage": json.dumps(lineage or {}, sort_keys=True, default=str),
        "contract": json.dumps(contract or [], default=str),
        "artifact_hash": artifact["hash"] if artifact else None,
    }
    # A Core insert into the SQLModel table: building the model object and flushing it through the unit
    # of work costs several times more (table models do not validate anyway), and nothing else in this
    # transaction needs the object tracked. Column types still apply (e.g. the UTC datetime check).
    result = session.execute(Version.__table__.insert(), [row])
    return queries.version_by_id(raw(session), result.inserted_primary_key[0]), True


def _record_move(
    session: Session,
    item_id: int,
    label: str,
    current: tuple | None,
    target: VersionInfo,
    *,
    action: str,
    actor: str,
    reason: str,
) -> None:
    row = session.exec(select(Label).where(Label.item_id == item_id, Label.name == label)).first()
    if row is None:
        row = Label(item_id=item_id, name=label, version_id=target.id)
    row.version_id, row.updated_at = target.id, utcnow()
    session.add(row)
    session.add(
        LabelMove(
            item_id=item_id,
            label=label,
            from_version_id=current[0] if current else None,
            to_version_id=target.id,
            action=action,
            actor=actor,
            reason=reason or "",
        )
    )
    session.flush()


def _last_move(session: Session, kind: str, name: str, label: str) -> LabelMoveInfo:
    return queries.moves(raw(session), kind, name, label)[-1]


def move_label(
    session: Session,
    kind: str,
    ref: str | Ref,
    label: str,
    *,
    force: bool,
    reason: str,
    actor: str,
    action: str = "move",
) -> LabelMoveInfo | None:
    """Point ``label`` at the version ``ref`` names; None when it already points there."""
    check_label(label)
    conn = raw(session)
    target = queries.resolve(conn, kind, parse_ref(ref))
    item_id = get_item(session, kind, target.name)
    current = queries.label_target(conn, item_id, label)
    if current is not None and current[0] == target.id:
        return None
    if label in queries.protected_labels(conn) and not force:
        where = f"{target.name}@{label}"
        raise RegistryError(
            f"label {label!r} is protected", where=where, hint="pass force=True (CLI: --force) to move it"
        )
    _record_move(session, item_id, label, current, target, action=action, actor=actor, reason=reason)
    return _last_move(session, kind, target.name, label)


def rollback_label(
    session: Session, kind: str, name: str, label: str, to: int | None, *, reason: str, actor: str
) -> LabelMoveInfo:
    """Move ``label`` back to the version it pointed to before its current one (or to version ``to``)."""
    check_label(label)
    conn = raw(session)
    item_id = get_item(session, kind, name)
    current = queries.label_target(conn, item_id, label)
    if current is None:
        raise RegistryError(f"{kind} {name!r} has no label {label!r} to roll back", where=f"{name}@{label}")
    if to is not None:
        target = queries.resolve(conn, kind, Ref(name, number=to))
    else:
        # the move that brought the label to its current version, ignoring rollbacks: so repeated
        # rollbacks keep walking back through the history instead of toggling between two versions
        row = conn.execute(
            "SELECT from_version_id FROM label_moves WHERE item_id = ? AND label = ? "
            "AND to_version_id = ? AND action != 'rollback' ORDER BY id DESC LIMIT 1",
            (item_id, label, current[0]),
        ).fetchone()
        if row is None or row[0] is None:
            raise RegistryError(
                f"{name}@{label} has no earlier version to roll back to",
                where=f"{name}@{label}",
                hint="name one with --to N",
            )
        target = queries.version_by_id(conn, row[0])
    if target.id == current[0]:
        raise RegistryError(
            f"{name}@{label} already points to version {target.number}", where=f"{name}@{label}"
        )
    _record_move(
        session,
        item_id,
        label,
        current,
        target,
        action="rollback",
        actor=actor,
        reason=reason or f"rollback from {current[1]}",
    )
    return _last_move(session, kind, name, label)


def set_archived(session: Session, kind: str, name: str, archived: bool) -> bool:
    """Archive (or bring back) an item; returns whether anything changed. Versions are kept."""
    item = session.exec(select(Item).where(Item.kind == kind, Item.name == name)).first()
    if item is None:
        raise queries._unknown_item(raw(session), kind, name)
    if bool(item.archived) == archived:
        return False
    item.archived = archived
    session.add(item)
    return True
