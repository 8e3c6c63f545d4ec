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


_OPENING_TAGS = frozenset({"for", "if", "macro", "call", "filter", "with", "autoescape", "block"})
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
_OPERATORS = frozenset({"+", "-", "*", "/", "//", "**", "%", "~", "|", ".", ","})


def deepest_line(env: jinja2.Environment, source: str) -> int:
    """The line where blocks, brackets and operator chains nest deepest (lexed, so no recursion)."""
    blocks = brackets = chain = 0
    best, best_line, after_block_begin = -1, 1, False
    try:
        for lineno, tok_type, value in env.lexer.tokeniter(source, None):
            if tok_type in ("block_begin", "variable_begin"):
                chain, after_block_begin = 0, tok_type == "block_begin"
                continue
            if after_block_begin and tok_type == "name":
                if value in _OPENING_TAGS:
                    blocks += 1
                elif value.startswith("end") and value[3:] in _OPENING_TAGS:
                    blocks = max(blocks - 1, 0)
            after_block_begin = False
            if tok_type == "operator":
                brackets += (value in _OPEN) - (value in _CLOSE)
                chain += value in _OPERATORS
            if blocks + brackets + chain > best:
                best, best_line = blocks + brackets + chain, lineno
    except jinja2.TemplateSyntaxError:
        pass
    return best_line


def too_deep(env: jinja2.Environment, exc: BaseException, source: str, location: str) -> TemplateSyntaxError:
    """Python's RecursionError, SyntaxError or MemoryError from compiling a deeply nested template, as ours."""
    lineno = deepest_line(env, source)
    detail = {"RecursionError": "recursion limit", "MemoryError": "memory"}.get(
        type(exc).__name__, str(getattr(exc, "msg", "")) or type(exc).__name__)
    err = TemplateSyntaxError(f"the template nests too deeply to compile ({detail})",
                              where=f"{location} line {lineno}",
                              hint="fewer nested blocks (Python allows 20), brackets or chained operators; "
                                   "split it with {% set %} or macros")
    err.lineno, err.column, err.location = lineno, None, location  # type: ignore[attr-defined]
    return err


__all__ = ["column_of", "deepest_line", "too_deep", "translate"]
