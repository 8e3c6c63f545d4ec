"""Alembic environment for the registry, run programmatically by :mod:`promptyard.registry.schema`.

The caller passes an open connection in ``config.attributes["connection"]``; for the ``alembic`` command
line, ``sqlalchemy.url`` from the config is used instead.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from promptyard.registry.engine import load_table_modules, make_engine

load_table_modules()
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from pathlib import Path

        url = context.config.get_main_option("sqlalchemy.url") or ""
        engine = make_engine(Path(url.removeprefix("sqlite:///")))
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("promptyard registry migrations run online only")
run_migrations_online()
