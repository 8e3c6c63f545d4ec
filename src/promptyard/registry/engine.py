"""SQLAlchemy engine for the registry: WAL, busy timeout, foreign keys, and real transactions.

pysqlite (Python's ``sqlite3``) starts transactions lazily, only before a write, so a read-then-write
in one SQLAlchemy transaction is not atomic and ``BEGIN IMMEDIATE`` is impossible. SQLAlchemy's
documented recipe: switch pysqlite's own transaction handling off in a ``connect`` event and emit BEGIN
ourselves in a ``begin`` event. Engines built here emit ``BEGIN IMMEDIATE`` when the execution option
``sqlite_immediate`` is set (writers: the write lock is taken before the first read, so version
numbers cannot race) and a plain deferred ``BEGIN`` otherwise (readers: a consistent snapshot).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

import promptyard.registry as package
from promptyard.registry.connection import BUSY_TIMEOUT_MS, configure_connection


def make_engine(path: Path) -> Engine:
    """An engine on the registry file ``path`` with the PRAGMAs and BEGIN handling described above."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not BEGIN on its own
        configure_connection(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def load_table_modules() -> list[str]:
    """Import every ``promptyard.registry.tables*`` module so that ``SQLModel.metadata`` knows all tables."""

    names = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("tables"):
            importlib.import_module(f"promptyard.registry.{info.name}")
            names.append(info.name)
    return sorted(names)
