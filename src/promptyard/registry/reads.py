"""Read methods of :class:`promptyard.registry.api.Registry`: versions, labels, history, log, list, diff.

All of them use the registry's stdlib ``sqlite3`` connection (see :mod:`promptyard.registry.queries`).
"""

from __future__ import annotations

import builtins
import fnmatch
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from promptyard.core.records import ItemInfo, LabelMoveInfo, VersionInfo
from promptyard.core.refs import Ref, check_label
from promptyard.registry import queries

if TYPE_CHECKING:
    import sqlite3


class RegistryReads:
    """Mixed into :class:`~promptyard.registry.api.Registry`."""

    def _reader(self) -> sqlite3.Connection:  # provided by Registry
        raise NotImplementedError

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
        return queries.items(self._reader(), kind, name)[0]

    def last_changes(self, names: builtins.list[str] | None = None, *, kind: str = "prompt") -> dict[str, datetime]:
        """name -> when each item (or each of ``names``) last changed: its newest version or label move."""
        return queries.last_changes(self._reader(), kind, names)

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
        from promptyard.registry.history import diff_versions  # difflib: for diffs, not on the render path

        return diff_versions(self.resolve(a), self.resolve(b))

