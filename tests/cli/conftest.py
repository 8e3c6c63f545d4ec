"""CLI tests share the registry tests' fixtures (and, until the templates area lands, its render shim)."""

from tests.registry.conftest import registry  # noqa: F401
