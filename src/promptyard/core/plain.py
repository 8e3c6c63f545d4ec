"""Plain templates, rendered without Jinja2: literal text and ``{{ name }}`` placeholders only.

Most prompts are text with a few variables in it. Importing Jinja2's compiler and building the sandbox
costs more than the rest of a cold ``prompt render``, so a source that is *only* literal text and
``{{ name }}`` placeholders is split into pieces once and rendered by substitution, printing exactly
what the sandbox prints:

- the text as Jinja2's lexer leaves it: ``\\r\\n`` and ``\\r`` become ``\\n``, and one trailing newline
  of the source is dropped (``keep_trailing_newline=False``);
- a ``str`` value as itself, any other value as :func:`promptyard.core.text_size.printed` prints it
  (what ``PromptSandbox.to_text`` calls), sized and reserved first;
- the rendered text charged to the render's budget by :func:`promptyard.core.sandbox_limits.take_output`,
  the very code the Jinja path runs, so every sandbox limit gives the same error at the same place.

Anything else goes to the Jinja path: any other tag (``{%``, ``{#``, ``{{-``, filters, attributes,
expressions), a name that is a Jinja keyword or special name or a sandbox global, a placeholder with
other whitespace than spaces and tabs, a template near the size limits, a *dynamic* template. So does a
render whose context lacks a printed name (Jinja2 reports it, in its own words). ``tests/core/test_plain.py``
checks the equivalence on generated templates and values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from promptyard.core.errors import PromptyardError
from promptyard.core.sandbox_limits import current_limits, take_output
from promptyard.core.template import Variable
from promptyard.core.text_size import printed

#: a placeholder the plain path renders: ``{{ name }}``, spaces or tabs inside
PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z][A-Za-z0-9_]*)[ \t]*\}\}")
#: where Jinja2's lexer starts a tag (overlapping: ``{{{`` starts one at each of its first two braces)
_TAG_START = re.compile(r"(?=\{[{%#])")
_NEWLINE = re.compile(r"\r\n|\r|\n")
#: names Jinja2 reads as something else than a variable (constants, operators, special names)
JINJA_WORDS = frozenset({
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "self", "loop", "caller", "varargs", "kwargs", "super", "block", "for", "endfor", "with", "recursive",
    "import", "from", "as", "set", "macro", "call", "filter", "raw", "include", "extends", "elif", "endif",
})
#: the globals of Jinja2's stock environment, which every sandbox has (``range`` and ``lipsum`` bounded)
JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
#: the globals the built-in plugins add (``promptyard.plugins.filters``); tests/core/test_plain.py checks
#: both sets against a real sandbox
BUILTIN_PLUGIN_GLOBALS = frozenset({"labels_of"})
BUILTIN_GLOBALS = JINJA_GLOBALS | BUILTIN_PLUGIN_GLOBALS

#: one piece of a source: literal text (``name`` None) or a placeholder (``name``, its line)
Piece = tuple[str | None, str, int]


def lexed(source: str) -> str:
    """``source`` with newlines as Jinja2's lexer leaves them (``keep_trailing_newline=False``)."""
    lines = _NEWLINE.split(source)
    if lines[-1] == "":
        del lines[-1]
    return "\n".join(lines)


def plain_pieces(source: str) -> list[Piece] | None:
    """The pieces of a plain source, or None when it is anything else."""
    text = lexed(source)
    found = list(PLACEHOLDER.finditer(text))
    starts = {m.start() for m in found}
    if any(m.start() not in starts for m in _TAG_START.finditer(text)):
        return None
    pieces: list[Piece] = []
    at, line = 0, 1
    for m in found:
        name = m.group(1)
        if name in JINJA_WORDS:
            return None
        if m.start() > at:
            pieces.append((None, text[at:m.start()], line))
            line += text.count("\n", at, m.start())
        pieces.append((name, "", line))
        at = m.end()
    if at < len(text):
        pieces.append((None, text[at:], line))
    return pieces


def plain_sources(sources: list[tuple[str, str]], reserved: frozenset[str]) -> list[list[Piece]] | None:
    """The pieces of every source when all are plain, use no ``reserved`` name and sit well inside the
    size limits (near them, the Jinja path decides, with its exact count); else None."""
    limits = current_limits()
    if sum(len(source) for _, source in sources) > limits.max_template_chars:
        return None
    out = []
    tokens = 0
    for _, source in sources:
        pieces = plain_pieces(source)
        if pieces is None or any(name in reserved for name, _, _ in pieces if name is not None):
            return None
        tokens += 4 * len(pieces) + 1  # Jinja2 counts at most 3 per placeholder and 1 per text
        out.append(pieces)
    if tokens > limits.max_template_tokens:
        return None
    return out


def plain_contract(located: list[tuple[str, list[Piece]]]) -> tuple[list[Variable], dict[str, str]]:
    """What :func:`promptyard.core.inference.infer` gives for these sources: each name once, in order of
    first use, a required ``str``; and where each is first used."""
    where: dict[str, str] = {}
    for location, pieces in located:
        for name, _, line in pieces:
            if name is not None and name not in where:
                where[name] = f"{location} line {line}"
    return [Variable(name=n, type="str", required=True, description="inferred") for n in where], where


def plain_unit(location: str, pieces: list[Piece]) -> Callable[[dict[str, Any]], str]:
    """The render function of one plain source (every printed name is in the context: the caller checks)."""

    def emit(context: dict[str, Any]) -> Iterator[str]:
        for name, text, line in pieces:
            if name is None:
                yield text
                continue
            value = context[name]
            if type(value) is str:
                yield value
                continue
            try:
                yield printed(value)
            except PromptyardError as exc:  # as run_unit places an error raised in a template's code
                if exc.where is None:
                    exc.where = f"{location} line {line}"
                raise

    def render(context: dict[str, Any]) -> str:
        try:
            return "".join(take_output(emit(context)))
        except PromptyardError as exc:
            if exc.where is None:  # charging the output: no template line, as on the Jinja path
                exc.where = location
            raise

    return render


def printed_names(pieces: list[list[Piece]]) -> frozenset[str]:
    """Every name the sources print."""
    return frozenset(name for source in pieces for name, _, _ in source if name is not None)


__all__ = ["BUILTIN_GLOBALS", "BUILTIN_PLUGIN_GLOBALS", "JINJA_GLOBALS", "PLACEHOLDER", "lexed", "plain_contract",
           "plain_pieces", "plain_sources", "plain_unit", "printed_names"]
