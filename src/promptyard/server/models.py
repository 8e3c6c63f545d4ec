"""Request and response bodies of the API: the OpenAPI schema at ``/openapi.json`` is built from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$"


class Strict(BaseModel):
    """Request bodies refuse keys they do not know (a typo must not be ignored silently)."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- records
class Variable(BaseModel):
    name: str
    type: str = "str"
    required: bool = True
    default: Any = None
    description: str = ""


class Version(BaseModel):
    """One immutable version of a prompt or adapter (``VersionInfo.to_dict()``), with its labels."""

    id: int
    kind: str
    name: str
    number: int
    ref: str
    content_hash: str
    content: dict[str, Any]
    message: str
    author: str
    created_at: str | None
    parent: int | None
    lineage: dict[str, Any]
    artifact_hash: str | None
    contract: list[dict[str, Any]]
    labels: list[str] = Field(description="labels that point at this version")
    item_labels: dict[str, int] = Field(description="every label of the item: label -> version number")
    etag: str


class Item(BaseModel):
    """A prompt or adapter with its latest version and labels (``ItemInfo.to_dict()``)."""

    kind: str
    name: str
    task_type: str | None
    description: str
    tags: list[str]
    archived: bool
    created_at: str
    latest: int | None
    template_kind: str | None
    labels: dict[str, int]


class Page(BaseModel):
    total: int
    offset: int
    limit: int


class ItemPage(Page):
    items: list[Item]


class LabelMove(BaseModel):
    kind: str
    name: str
    label: str
    from_number: int | None
    to_number: int
    action: str
    actor: str
    reason: str
    created_at: str


class LogEvent(BaseModel):
    """A version (number, content_hash, message, author, parent) or a label move (label, from, to, …)."""

    type: Literal["version", "label"]
    time: str
    number: int | None = None
    content_hash: str | None = None
    message: str | None = None
    author: str | None = None
    parent: int | None = None
    label: str | None = None
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None
    action: str | None = None
    actor: str | None = None
    reason: str | None = None

    model_config = ConfigDict(populate_by_name=True)


class Labels(BaseModel):
    labels: dict[str, int]
    protected: list[str]
    history: list[LabelMove]


class Diff(BaseModel):
    a: str
    b: str
    same: bool
    text: str
    contract: str


class Rendered(BaseModel):
    """The rendered prompt: ``text`` always, ``messages`` for *multi*, ``record`` for *dynamic*."""

    ref: str
    content_hash: str
    kind: str
    text: str
    messages: list[dict[str, str]] | None
    record: dict[str, Any]


class MoveResult(LabelMove):
    """What a label move or rollback did; ``moved`` is false (and nothing recorded) when the label already
    pointed there."""

    moved: bool


class CommitResult(BaseModel):
    created: bool
    version: Version


class Archived(BaseModel):
    name: str
    archived: bool
    changed: bool


# ---------------------------------------------------------------- requests
class RenderRequest(Strict):
    variables: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None


class CommitRequest(Strict):
    template: dict[str, Any] = Field(description="a template as in a .yaml/.json template file (kind, text, …)")
    message: str = ""
    author: str | None = Field(default=None, description="recorded as given; default: the token's name")
    task_type: str | None = None
    tags: list[str] | None = None
    description: str | None = None


class LabelRequest(Strict):
    version: int | None = Field(default=None, ge=1, description="version number (or give ref)")
    ref: str | None = Field(default=None, description="a reference of the same item: @3, @staging, @sha:1a2b")
    force: bool = Field(default=False, description="confirm moving a protected label (admin tokens only)")
    reason: str = ""


class RollbackRequest(Strict):
    label: str = "production"
    to: int | None = Field(default=None, ge=1)
    reason: str = ""


class ArchiveRequest(Strict):
    undo: bool = False


class WatchEntry(Strict):
    ref: str
    etag: str | None = None


class WatchRequest(Strict):
    refs: list[WatchEntry]
    timeout: float = Field(default=30.0, gt=0)
    kind: Literal["prompt", "adapter"] = "prompt"


class WatchChange(BaseModel):
    ref: str
    etag: str | None
    version: Version | None
    error: dict[str, Any] | None = Field(default=None, description="{message, where, hint} when it no longer "
                                                                   "resolves")


class WatchResult(BaseModel):
    changed: list[WatchChange]


# ---------------------------------------------------------------- tokens
class TokenRequest(Strict):
    name: str
    scope: Literal["read", "write", "admin"]
    prompts: str | None = Field(default=None, description="glob of the names it may see, e.g. team/*")


class Token(BaseModel):
    name: str
    scope: str
    prompts: str | None
    created_at: str
    revoked_at: str | None


class NewToken(Token):
    token: str = Field(description="the secret: shown once, only its hash is stored")


# ---------------------------------------------------------------- evals and searches
class EvalRunSummary(BaseModel):
    id: int
    name: str
    kind: str
    created_at: str
    cells: int
    duration_s: float
    cache_hits: int
    cache_misses: int
    note: str


class EvalRun(BaseModel):
    """A run with its cells, lineage and metrics (each with its 95% interval ``low``..``high``)."""

    id: int
    name: str
    kind: str
    created_at: str
    suite: dict[str, Any]
    suite_path: str
    seed: int
    packages: dict[str, Any]
    duration_s: float
    cache_hits: int
    cache_misses: int
    note: str
    cells: list[dict[str, Any]]


class ExamplePage(Page):
    cell: int
    examples: list[dict[str, Any]]


class Comparison(BaseModel):
    comparisons: list[dict[str, Any]]


class SearchSummary(BaseModel):
    id: str
    status: str
    method: str
    adapter_name: str
    metric: str
    mode: str
    trials_requested: int
    best_trial_id: str | None
    best_metric: float | None
    created_at: str | None
    finished_at: str | None

    model_config = ConfigDict(extra="allow")


class Search(SearchSummary):
    spec: dict[str, Any]
    trials: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    schema_revisions: list[str] | None = None
