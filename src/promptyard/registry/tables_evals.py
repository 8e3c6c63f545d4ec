"""Evaluation results in the registry: runs, their cells, per-example outputs and metrics.

A cell row carries its lineage: the exact prompt version (id and content hash), adapter version,
data fingerprint, model content hash, decoding parameters, seed and package versions, so a run can be
reproduced (``promptyard reproduce RUN``) and compared example by example.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from promptyard.registry.tables import utcnow


class EvalRun(SQLModel, table=True):
    """One ``eval run`` (a suite, or a single cell from the command line)."""

    __tablename__ = "eval_runs"

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045 - SQLModel reads Optional
    name: str = Field(default="", max_length=200, index=True)
    kind: str = Field(default="run", max_length=20)  # run | gate | reproduce | search
    suite: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # the suite document (JSON)
    suite_path: str = Field(default="")
    seed: int = 0
    status: str = Field(default="finished", max_length=20)
    packages: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # package versions (JSON)
    duration_s: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    note: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class EvalCell(SQLModel, table=True):
    """One cell of a run with its lineage."""

    __tablename__ = "eval_cells"
    __table_args__ = (Index("ix_eval_cells_run", "run_id", "position"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    run_id: int = Field(foreign_key="eval_runs.id")
    position: int = 0
    spec: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # CellSpec.to_dict() (JSON)
    prompt_ref: str = Field(default="")
    prompt_version_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    prompt_hash: str = Field(default="", max_length=64, index=True)
    adapter_ref: Optional[str] = Field(default=None)  # noqa: UP045
    adapter_version_id: Optional[int] = Field(default=None, foreign_key="versions.id")  # noqa: UP045
    adapter_hash: Optional[str] = Field(default=None, max_length=64)  # noqa: UP045
    model_ref: str = Field(default="")
    model_hash: str = Field(default="", max_length=64)
    data_ref: str = Field(default="")
    data_fingerprint: str = Field(default="", max_length=64)
    split: str = Field(default="test", max_length=20)
    task: str = Field(default="", max_length=100)
    scoring: str = Field(default="", max_length=20)
    n_examples: int = 0
    duration_s: float = 0.0
    lineage: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # everything above and more


class EvalExample(SQLModel, table=True):
    """One example's output in one cell; ``example_index`` is its index in the data split."""

    __tablename__ = "eval_examples"
    __table_args__ = (Index("ix_eval_examples_cell", "cell_id", "example_index"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    cell_id: int = Field(foreign_key="eval_cells.id")
    example_index: int
    prompt_hash: str = Field(default="", max_length=64)  # of the rendered prompt
    output: str = Field(default="", sa_column=Column(Text, nullable=False))
    prediction: str = Field(default="", sa_column=Column(Text, nullable=False))
    reference: str = Field(default="", sa_column=Column(Text, nullable=False))
    scores: str = Field(default="null", sa_column=Column(Text, nullable=False))  # choice log-probs (JSON)
    latency_s: float = 0.0
    tokens: int = 0
    cached: bool = False
    render: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # dynamic selection record
    judged: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))  # judge scores


class EvalMetric(SQLModel, table=True):
    """One metric of one cell with its bootstrap 95% interval."""

    __tablename__ = "eval_metrics"
    __table_args__ = (Index("ix_eval_metrics_cell", "cell_id", "name"),)

    id: Optional[int] = Field(default=None, primary_key=True)  # noqa: UP045
    cell_id: int = Field(foreign_key="eval_cells.id")
    name: str = Field(max_length=100)
    # NULL where undefined (NaN: an empty sample); SQLite cannot store NaN
    value: Optional[float] = None  # noqa: UP045
    ci_low: Optional[float] = None  # noqa: UP045
    ci_high: Optional[float] = None  # noqa: UP045
    higher_is_better: bool = True
    scores: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # every score returned (JSON)


__all__ = ["EvalCell", "EvalExample", "EvalMetric", "EvalRun"]
