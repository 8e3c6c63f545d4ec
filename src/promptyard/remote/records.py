"""What the remote client hands out: the same fields, properties and ``to_dict()`` as the local registry's
records (:mod:`promptyard.registry.records`), built from the server's JSON. The client imports only core
and httpx, so it keeps its own copy of these plain records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptyard.core.template import Template


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    stamp = datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RemoteVersion:
    """One immutable version of a prompt or adapter, as the server resolved it."""

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
        return f"{self.name}@{self.number}"

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    @property
    def template(self) -> Template:
        if self.kind != "prompt":
            raise TypeError(f"{self.ref} is an {self.kind}, not a prompt")
        return Template.from_dict(self.content, where=self.ref)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        data["ref"] = self.ref
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteVersion:
        names = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in names}
        values["created_at"] = parse_time(values.get("created_at"))
        return cls(**values)


@dataclass(frozen=True)
class RemoteLabelMove:
    """One entry of a label's history."""

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
    def from_json(cls, data: dict[str, Any]) -> RemoteLabelMove:
        values = {k: data[k] for k in cls.__dataclass_fields__}
        values["created_at"] = parse_time(values["created_at"])
        return cls(**values)


@dataclass(frozen=True)
class RemoteItem:
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
    def from_json(cls, data: dict[str, Any]) -> RemoteItem:
        values = {k: data[k] for k in cls.__dataclass_fields__}
        values["created_at"] = parse_time(values["created_at"])
        return cls(**values)
