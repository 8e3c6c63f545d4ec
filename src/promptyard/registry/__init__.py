"""The registry: the only code that talks to the database (SQLite via SQLModel, Alembic migrations).

Import :class:`promptyard.Registry` (from :mod:`promptyard.registry.api`); this package itself stays
free of SQLAlchemy imports so that the read path starts fast.
"""
