"""CLI tests share the registry tests' fixtures."""

from tests.registry.conftest import registry  # noqa: F401
