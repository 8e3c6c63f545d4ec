"""``registry check``: everything that can be wrong with a registry file and its artifact store.

SQLite's own ``PRAGMA integrity_check`` and ``foreign_key_check``; every table and column the code expects;
every version's content against its hash and its stored contract and lineage against their shape; every
artifact's bytes against its hash; and orphans (folders nobody records, temp folders left by a kill).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from promptyard.core.errors import IntegrityError
from promptyard.core.records import check_stored_contract, content_hash_of
from promptyard.core.render import check_template
from promptyard.core.template import Template
from promptyard.registry.engine import load_table_modules
from promptyard.registry.store import ArtifactStore

#: report sections; every one but ``orphans`` is damage (``orphans`` are leftovers ``--remove-orphans`` deletes)
SECTIONS = ("database", "schema", "versions", "mismatched", "missing", "orphans")
MAX_SQLITE_MESSAGES = 20


def check_integrity(self: Any, *, remove_orphans: bool = False) -> dict[str, list[dict[str, str]]]:
    """Scan for damage; the report maps each of :data:`SECTIONS` to a list of problems (empty: fine).
    ``remove_orphans`` deletes the orphans it lists."""
    conn = self._reader()
    report: dict[str, list[dict[str, str]]] = {key: [] for key in SECTIONS}
    report["database"] = _sqlite_checks(conn)
    report["schema"] = _schema_problems(conn)
    if report["database"] and not _readable(conn):
        return report  # the pages are unreadable: reading rows would only repeat SQLite's complaint
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if {"versions", "items"} <= present:
        report["versions"] = _version_problems(conn)
    if "artifacts" in present:
        _artifact_problems(self, conn, report, remove_orphans)
    return report


def has_damage(report: dict[str, list[Any]], *, orphans_removed: bool = False) -> bool:
    """Whether the report found anything (orphans count unless they were just removed)."""
    return any(rows for key, rows in report.items() if key != "orphans" or not orphans_removed)


def _sqlite_checks(conn: sqlite3.Connection) -> list[dict[str, str]]:
    out = []
    try:
        rows = conn.execute(f"PRAGMA integrity_check({MAX_SQLITE_MESSAGES})").fetchall()
        out += [{"problem": row[0], "check": "integrity_check"} for row in rows if row[0] != "ok"]
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check").fetchall():
            out.append({"problem": f"{table} row {rowid} points to a missing {parent} row",
                        "check": "foreign_key_check"})
    except sqlite3.DatabaseError as exc:
        out.append({"problem": str(exc), "check": "integrity_check"})
    return out


def _readable(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT count(*) FROM versions").fetchone()
        conn.execute("SELECT count(*) FROM items").fetchone()
    except sqlite3.DatabaseError:
        return False
    return True


def _schema_problems(conn: sqlite3.Connection) -> list[dict[str, str]]:
    """Every table and column of the code's table models that the file lacks."""
    from sqlmodel import SQLModel


    load_table_modules()
    out = []
    try:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in present:
                out.append({"table": table.name, "problem": "table is missing"})
                continue
            columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table.name}")')}
            for column in table.columns:
                if column.name not in columns:
                    out.append({"table": table.name, "problem": f"column {column.name} is missing"})
    except sqlite3.DatabaseError as exc:
        out.append({"table": "sqlite_master", "problem": str(exc)})
    return out


def _version_problems(conn: sqlite3.Connection) -> list[dict[str, str]]:
    out = []
    try:
        rows = conn.execute(
            "SELECT i.kind, i.name, v.number, v.content_hash, v.content, v.contract, v.lineage FROM versions v "
            "JOIN items i ON i.id = v.item_id ORDER BY i.kind, i.name, v.number").fetchall()
    except sqlite3.DatabaseError as exc:
        return [{"ref": "versions", "kind": "", "problem": str(exc)}]
    for kind, name, number, content_hash, content, contract, lineage in rows:
        ref = f"{name}@{number}"
        problem = None
        try:
            data = json.loads(content)
            stored_contract = json.loads(contract or "[]")
            if not isinstance(json.loads(lineage or "{}"), dict):
                problem = "stored lineage is not a mapping"
        except (TypeError, ValueError, RecursionError):
            out.append({"ref": ref, "kind": kind, "problem": "stored JSON is damaged"})
            continue
        if not isinstance(data, dict) or content_hash_of(data) != content_hash:
            problem = "content hash mismatch"
        elif not isinstance(stored_contract, list):
            problem = "stored contract is not a list of variables"
        elif kind == "prompt":
            try:
                check_stored_contract(stored_contract, ref)
                expected = [v.to_dict() for v in check_template(Template.from_dict(data, where=ref))]
                if stored_contract != expected:
                    problem = "stored contract does not match the template's variables"
            except IntegrityError as exc:
                problem = exc.message
            except Exception as exc:  # a template that no longer loads or compiles is damage to report
                problem = f"template does not load: {' '.join(str(exc).split())[:200]}"
        if problem:
            out.append({"ref": ref, "kind": kind, "problem": problem})
    return out


def _artifact_problems(self: Any, conn: sqlite3.Connection, report: dict[str, list[dict[str, str]]],
                       remove_orphans: bool) -> None:
    store = ArtifactStore(self.artifacts_dir)
    recorded = {}
    for digest, manifest in conn.execute("SELECT hash, manifest FROM artifacts"):
        try:
            recorded[digest] = json.loads(manifest)
        except (TypeError, ValueError):
            recorded[digest] = None
    for digest, manifest in recorded.items():
        try:
            store.verify(digest, manifest if isinstance(manifest, dict) else None)
        except IntegrityError as exc:
            key = "missing" if "missing" in exc.message else "mismatched"
            report[key].append({"hash": digest, "path": str(store.path_of(digest)), "problem": exc.message})
    orphans = [store.path_of(h) for h in store.stored() if h not in recorded] + store.leftovers()
    for path in orphans:
        report["orphans"].append({"path": str(path), "problem": "not recorded in the registry"})
        if remove_orphans:
            store.remove(path)
