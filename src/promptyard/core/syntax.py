"""Turn Jinja2's syntax errors into promptyard's, with a line *and* a column.

Jinja2 reports only a line. The column comes from re-lexing that line and finding the token the
message names (``got 'y'``, ``unexpected '}'``, ``unknown tag 'foo'``); a lexer error (``unexpected
char '$' at 12``) carries an absolute offset. When nothing can be pinned down, the column is that of
the first ``{{``/``{%`` on the line, else 1.
"""

from __future__ import annotations

import re

import jinja2

from promptyard.core.errors import TemplateSyntaxError

#: ``{{ "key": ...`` or ``{{ {`` on the failing line: literal JSON, not a Jinja2 expression
_JSON_LIKE = re.compile(r"""\{\{\s*(?:[\[{]|["']?[\w-]+["']?\s*:)""")
_AT_OFFSET = re.compile(r" at (\d+)$")
_NAMED = re.compile(r"(?:got|unexpected|unknown tag|No filter named|No test named) '([^']+)'")
#: how Jinja2's messages describe tokens whose text is fixed
_DESCRIBED = {"end of print statement": "}}", "end of statement block": "%}",
              "begin of print statement": "{{"}


def _line_start(source: str, lineno: int) -> int:
    start = 0
    for _ in range(lineno - 1):
        nl = source.find("\n", start)
        if nl < 0:
            break
        start = nl + 1
    return start


def column_of(env: jinja2.Environment, source: str, lineno: int, message: str) -> int:
    """Best-effort 1-based column of a syntax error on ``lineno``."""
    start = _line_start(source, lineno)
    end = source.find("\n", start)
    line = source[start:] if end < 0 else source[start:end]
    at = _AT_OFFSET.search(message)
    if at and start <= int(at.group(1)) <= start + len(line):
        return int(at.group(1)) - start + 1
    if message.lower().startswith("unexpected end of template"):
        return len(line.rstrip()) + 1
    named = _NAMED.search(message)
    if named:
        target = _DESCRIBED.get(named.group(1), named.group(1))
        cursor = 0
        try:
            for tok_line, tok_type, value in env.lexer.tokeniter(source, None):
                if tok_line < lineno or tok_type == "whitespace":
                    continue
                if tok_line > lineno:
                    break
                first = value.split("\n", 1)[0]
                found = line.find(first, cursor) if first else -1
                if found >= 0:
                    if value == target:
                        return found + 1
                    cursor = found + len(first)
        except jinja2.TemplateSyntaxError:
            pass
        found = line.find(target)
        if found >= 0:
            return found + 1
    opening = [i for i in (line.find("{{"), line.find("{%")) if i >= 0]
    return min(opening) + 1 if opening else 1


def translate(env: jinja2.Environment, exc: jinja2.TemplateSyntaxError, source: str,
              location: str) -> TemplateSyntaxError:
    """A promptyard TemplateSyntaxError with ``where="<location> line L, column C"``."""
    lineno = exc.lineno or 1
    column = column_of(env, source, lineno, exc.message or "")
    line = source.splitlines()[lineno - 1] if 0 < lineno <= len(source.splitlines()) else ""
    hint = None
    if _JSON_LIKE.search(line) and not isinstance(exc, jinja2.TemplateAssertionError):
        hint = "for literal braces (JSON examples) set raw: true, or use {% raw %}...{% endraw %}"
    err = TemplateSyntaxError(f"{exc.message} near {line.strip()[:60]!r}",
                              where=f"{location} line {lineno}, column {column}", hint=hint)
    err.lineno, err.column, err.location = lineno, column, location  # type: ignore[attr-defined]
    return err


__all__ = ["column_of", "translate"]
