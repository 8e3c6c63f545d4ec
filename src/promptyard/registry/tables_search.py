"""Tables of the ``ray`` area: hyper-parameter searches and their trials (written by the driver only)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promptyard.registry.tables import utcnow


class Search(SQLModel, table=True):
    """One ``tune search``: what was searched, how, and which adapter version it produced."""

    __tablename__ = "searches"

    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default="running", max_length=20, index=True)  # running | finished | failed
    method: str = Field(default="", max_length=100)
    adapter_name: str = Field(default="", max_length=200)
    scheduler: str = Field(default="asha", max_length=20)
    search_alg: str = Field(default="random", max_length=20)
    metric: str = Field(default="val_metric", max_length=100)
    mode: str = Field(default="max", max_length=3)
    trials_requested: int = 0
    spec: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: refs, space, resources
    storage_path: str = Field(default="", max_length=1000)
    plot_path: str = Field(default="", max_length=1000)
    best_trial_id: Optional[str] = Field(default=None, max_length=100)  # noqa: UP045 - SQLModel reads Optional
    best_metric: Optional[float] = Field(default=None)  # noqa: UP045
    adapter_version_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    resumed: int = 0
    #: JSON: objectives, Pareto front, best trial per method, extensions (written when the search finishes)
    summary: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: Optional[datetime] = Field(default=None)  # noqa: UP045


class SearchTrial(SQLModel, table=True):
    """One trial of a search: parameters, status, metric history and error."""

    __tablename__ = "search_trials"
    __table_args__ = (UniqueConstraint("search_id", "trial_id", name="uq_search_trials_search_trial"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    search_id: str = Field(foreign_key="searches.id", index=True, max_length=40)
    trial_id: str = Field(max_length=100)
    status: str = Field(max_length=20)  # completed | stopped | error
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    iterations: int = 0
    best_metric: Optional[float] = Field(default=None)  # noqa: UP045
    last_metric: Optional[float] = Field(default=None)  # noqa: UP045
    history: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


__all__ = ["Search", "SearchTrial"]
