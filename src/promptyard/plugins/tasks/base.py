"""What the built-in task types share: a data row's template variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def example_variables(row: Mapping[str, Any], required: Sequence[str], options: Mapping[str, Any] | None,
                      skip: Sequence[str] = ("label", "target")) -> dict[str, Any]:
    """The template variables of a row: the required ones plus any listed in ``options["variables"]``."""
    wanted = list(required) + list((options or {}).get("variables") or [])
    return {k: row[k] for k in dict.fromkeys(wanted) if k in row and k not in skip}
