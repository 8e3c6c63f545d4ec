"""What the registry and its remote client hand out: plain, immutable records (no database session attached),
built from a database row (``from_row``) or from the server's JSON of one (``from_json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptyard.core.digest import sha256_hex
from promptyard.core.errors import IntegrityError
from promptyard.core.template import Template


def content_hash_of(content: dict[str, Any]) -> str:
    """sha256 of canonical JSON; for a prompt equal to ``Template.content_hash()`` of its ``to_dict()``."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text)


def _stored_json(text: Any, ref: str, column: str, expected: type) -> Any:
    """A JSON column of a stored version; IntegrityError when it is not JSON of the expected type."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        value = None
    if not isinstance(value, expected):
        raise IntegrityError(f"stored {column} is damaged (not a JSON {expected.__name__})", where=ref,
                             hint="`promptyard registry check` lists every damaged version")
    return value


def check_stored_contract(contract: list, ref: str) -> list:
    """``contract`` unchanged when every entry is a variable mapping with a name; else IntegrityError."""
    if not all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in contract):
        raise IntegrityError("stored contract is damaged (not a list of variables)", where=ref,
                             hint="`promptyard registry check` lists every damaged version")
    return contract


def as_time(value: Any) -> datetime:
    """A stored or sent time (a datetime or ISO text) as an aware datetime (UTC when it has no zone)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """:func:`as_time`, with None for no time."""
    return None if value is None else as_time(value)


def _from_json(cls: Any, data: dict[str, Any]) -> Any:
    """A record from the server's JSON of it (``to_dict``'s output): its own fields, times parsed."""
    values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
    values["created_at"] = parse_time(values.get("created_at"))
    return cls(**values)


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version of a prompt or adapter."""

    id: int
    kind: str
    name: str
    number: int
    content_hash: str
    content: dict[str, Any]
    message: str = ""
    author: str = ""
    created_at: datetime | None = None
    parent: int | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    artifact_hash: str | None = None
    contract: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The exact reference ``name@N``."""
        return f"{self.name}@{self.number}"

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    @property
    def template(self) -> Any:
        """The prompt's :class:`~promptyard.core.template.Template` (prompts only)."""

        if self.kind != "prompt":
            raise TypeError(f"{self.ref} is an {self.kind}, not a prompt")
        return Template.from_dict(self.content, where=self.ref)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        data["ref"] = self.ref
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionInfo:
        """From the JSON of one that the server sent (what the remote client hands out)."""
        return _from_json(cls, data)

    @classmethod
    def from_row(cls, row: tuple) -> VersionInfo:
        """Build from a row of :data:`promptyard.registry.queries.VERSION_COLUMNS`; IntegrityError when the
        stored content no longer matches its hash, or a stored field is not what promptyard wrote."""
        (
            vid,
            kind,
            name,
            number,
            content_hash,
            content,
            message,
            author,
            created_at,
            parent,
            lineage,
            artifact_hash,
            contract,
        ) = row
        ref = f"{name}@{number}"
        content = _stored_json(content, ref, "content", dict)
        if content_hash_of(content) != content_hash:
            raise IntegrityError("stored content does not match its hash (edited or corrupt)", where=ref,
                                 hint="`promptyard registry check` lists every damaged version")
        try:
            created = as_time(created_at)
        except (TypeError, ValueError):
            raise IntegrityError("stored created_at is not a time", where=ref) from None
        return cls(
            id=vid,
            kind=kind,
            name=name,
            number=number,
            content_hash=content_hash,
            content=content,
            message=message,
            author=author,
            created_at=created,
            parent=parent,
            lineage=_stored_json(lineage or "{}", ref, "lineage", dict),
            artifact_hash=artifact_hash,
            contract=check_stored_contract(_stored_json(contract or "[]", ref, "contract", list), ref),
        )


@dataclass(frozen=True)
class LabelMoveInfo:
    """One entry of a label's append-only history."""

    kind: str
    name: str
    label: str
    from_number: int | None
    to_number: int
    action: str
    actor: str
    reason: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelMoveInfo:
        """From the JSON of one that the server sent (what the remote client hands out)."""
        return _from_json(cls, data)

    @classmethod
    def from_row(cls, row: tuple) -> LabelMoveInfo:
        """Build from a row of :data:`promptyard.registry.queries.MOVE_COLUMNS`."""
        kind, name, label, from_number, to_number, action, actor, reason, created_at = row
        return cls(
            kind=kind,
            name=name,
            label=label,
            from_number=from_number,
            to_number=to_number,
            action=action,
            actor=actor,
            reason=reason,
            created_at=as_time(created_at),
        )


@dataclass(frozen=True)
class ItemInfo:
    """A prompt or adapter with its metadata, latest version and current labels."""

    kind: str
    name: str
    task_type: str | None
    description: str
    tags: list[str]
    archived: bool
    created_at: datetime
    latest: int | None
    template_kind: str | None
    labels: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemInfo:
        """From the JSON of one that the server sent (what the remote client hands out)."""
        return _from_json(cls, data)
