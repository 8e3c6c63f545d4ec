"""'Install' a plugin distribution into the ``site`` fixture's folder (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from promptyard.testing import write_distribution


def install(site: Path, dist: str, plugin: str, module: str, source: str, version: str = "1.2.3") -> None:
    """A distribution ``dist`` whose entry point ``plugin`` is the module ``module`` holding ``source``."""
    write_distribution(site, dist, version=version, entry_points={plugin: module},
                       files={f"{module}.py": source})
