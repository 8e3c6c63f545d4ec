"""Test helpers: a dump of every row, to show that a refused operation changed nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def dump(path: Path) -> list[str]:
    """Every schema statement and row of the registry file, in order."""
    conn = sqlite3.connect(str(path))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
