"""Tables of the ``optimize`` area: prompt optimisations and every candidate they considered (driver only)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promptyard.registry.tables import utcnow


class Optimization(SQLModel, table=True):
    """One ``promptyard optimize``: what was optimised, how, the budget and what it spent, the result."""

    __tablename__ = "optimizations"

    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default="running", max_length=20, index=True)  # running | finished | stopped | failed
    optimizer: str = Field(max_length=100)
    prompt: str = Field(max_length=300)
    prompt_version_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    model: str = Field(max_length=300)
    data: str = Field(max_length=1000)
    metric: str = Field(max_length=100)
    budget_calls: Optional[int] = Field(default=None)  # noqa: UP045
    budget_seconds: Optional[float] = Field(default=None)  # noqa: UP045
    calls_spent: int = 0  # model calls of the search (cache hits not counted)
    test_calls: int = 0  # model calls of the final scoring on the test split
    duration_s: float = 0.0
    spec: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: request, projection
    history: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON: rounds, pulls
    result: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: winner, test, comparison
    best_candidate: Optional[int] = Field(default=None)  # noqa: UP045
    committed_version_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    eval_run_id: Optional[int] = Field(default=None)  # noqa: UP045 - the stored test-split run
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: Optional[datetime] = Field(default=None)  # noqa: UP045


class OptimizationCandidate(SQLModel, table=True):
    """One candidate prompt: its template, where it came from, its scores per round, calls spent on it."""

    __tablename__ = "optimization_candidates"
    __table_args__ = (UniqueConstraint("optimization_id", "number", name="uq_optimization_candidates_number"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    optimization_id: str = Field(foreign_key="optimizations.id", index=True, max_length=40)
    number: int  # 0 is the starting prompt
    name: str = Field(max_length=200)
    origin: str = Field(max_length=40)  # start | pool | bootstrap | proposal
    parent: Optional[int] = Field(default=None)  # noqa: UP045 - the number of the candidate it came from
    status: str = Field(max_length=20)  # candidate | rejected
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    content_hash: str = Field(max_length=64)
    template: str = Field(sa_column=Column(Text, nullable=False))  # JSON: Template.to_dict()
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: demos, proposer output
    scores: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON: per round
    rewards: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON: validation position -> reward
    calls: int = 0


__all__ = ["Optimization", "OptimizationCandidate"]
