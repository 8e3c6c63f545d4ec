"""Reading the files a user points promptyard at: text that must be UTF-8, JSON that must stay shallow.

Every reader of a user's file (bundles, suites, data sets, variables, search spaces, variant lists) goes
through :func:`read_text` and :func:`parse_json` (or :mod:`promptyard.core.yaml_files`), so a wrong
encoding, a folder, an empty file or a document nested a thousand levels deep is one error that names the
file and line, never a ``UnicodeDecodeError`` or a ``RecursionError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError

#: deepest nesting of lists and mappings accepted in a data file (a prompt or a suite needs a handful)
MAX_DEPTH = 64


def read_text(path: str | Path, *, what: str = "file", error: type[PromptyardError] = ValidationError,
              allow_empty: bool = False) -> str:
    """The UTF-8 text of ``path``; ``error`` naming the file when it is missing, a folder, unreadable,
    not UTF-8 or (unless ``allow_empty``) empty."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"cannot read {what}: no such file", where=str(path)) from None
    except IsADirectoryError:
        raise error(f"cannot read {what}: is a directory", where=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", where=str(path)) from None
    return decode(data, where=str(path), what=what, error=error, allow_empty=allow_empty)


def decode(data: bytes, *, where: str, what: str = "file", error: type[PromptyardError] = ValidationError,
           allow_empty: bool = False) -> str:
    """``data`` as UTF-8 text (a leading BOM dropped); ``error`` naming line and column of a bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                    where=f"{where} line {line}, column {column}",
                    hint="save it as UTF-8") from None
    text = text.removeprefix("\ufeff")
    if not allow_empty and not text.strip():
        raise error(f"empty {what}", where=where)
    return text


def check_depth(data: Any, *, where: str, error: type[PromptyardError] = ValidationError,
                limit: int = MAX_DEPTH) -> Any:
    """``data`` unchanged, or ``error`` when lists/mappings nest deeper than ``limit`` (checked without
    recursion, so it cannot itself overflow)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                raise error(f"nested deeper than {limit} levels", where=where)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return data


def parse_json(text: str, *, where: str, error: type[PromptyardError] = ValidationError,
               line: str | None = None) -> Any:
    """Parse JSON; ``error`` naming line and column when it is invalid or nested too deeply.

    ``line`` is where the text sits when it is one line of a bigger file (``data.jsonl: line 7``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"{line}, column {exc.colno}" if line else f"{where} line {exc.lineno}, column {exc.colno}"
        raise error(f"invalid JSON: {exc.msg}", where=at) from None
    except RecursionError:
        raise error(f"invalid JSON: nested deeper than {MAX_DEPTH} levels", where=line or where) from None
    return check_depth(data, where=line or where, error=error)


__all__ = ["MAX_DEPTH", "check_depth", "decode", "parse_json", "read_text"]
