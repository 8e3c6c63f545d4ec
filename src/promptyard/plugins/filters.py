"""Built-in template filters, globals and value providers (all still rendered inside the sandbox).

Filters: ``json`` (JSON text of a value), ``truncate_words(n)``, ``bullets`` (one ``- item`` per line),
``numbered`` (``1. item`` per line). Global: ``labels_of(examples)`` (sorted distinct labels).
Value providers for *dynamic* templates: ``word_count`` (words in the input text) and ``today``
(the UTC date, ISO format; recorded, so a replayed render shows the same date).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from promptyard.core.errors import SandboxViolation
from promptyard.core.hookspecs import hookimpl
from promptyard.plugins.selectors import input_text

#: longest bullet marker and widest JSON indent: both are repeated on every line, so a huge one is a
#: memory bomb (``range(10000)|bullets('x' * 99999)`` builds 1 GB)
MAX_REPEATED = 100


def _check_repeated(what: str, size: int) -> None:
    if size > MAX_REPEATED:
        raise SandboxViolation(f"sandbox violation: {what} of {size} is larger than the limit of {MAX_REPEATED}",
                               hint="a marker or indent is repeated on every line")


def json_filter(value: Any, indent: int | None = None) -> str:
    """The value as JSON text (non-ASCII kept as is)."""
    if isinstance(indent, (int, str)) and not isinstance(indent, bool):
        _check_repeated("json indent", indent if isinstance(indent, int) else len(indent))
    return json.dumps(value, ensure_ascii=False, indent=indent)


def truncate_words(text: Any, n: int = 50, end: str = "…") -> str:
    """At most ``n`` words of the text, with ``end`` appended when something was cut."""
    words = str(text).split()
    if len(words) <= n:
        return " ".join(words)
    return " ".join(words[:max(n, 0)]) + end


def bullets(items: Iterable[Any], marker: str = "-") -> str:
    """One ``- item`` line per item."""
    _check_repeated("bullets marker length", len(str(marker)))
    return "\n".join(f"{marker} {item}" for item in items)


def numbered(items: Iterable[Any], start: int = 1) -> str:
    """One ``1. item`` line per item."""
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start))


def labels_of(examples: Iterable[Mapping[str, Any]], key: str = "label") -> list[str]:
    """The distinct labels of some examples, sorted."""
    return sorted({str(ex[key]) for ex in examples if isinstance(ex, Mapping) and key in ex})


def word_count(variables: Mapping[str, Any]) -> int:
    """Number of words in the input text (the ``text``/``input`` variable)."""
    return len(input_text(variables).split())


def today(variables: Mapping[str, Any]) -> str:
    """Today's date in UTC, ISO format."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).date().isoformat()


@hookimpl
def register_template_filters(register):
    register("json", json_filter)
    register("truncate_words", truncate_words)
    register("bullets", bullets)
    register("numbered", numbered)
    register("labels_of", labels_of, kind="global")


@hookimpl
def register_value_providers(register):
    register("word_count", word_count)
    register("today", today)
