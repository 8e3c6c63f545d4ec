"""*structured* templates: sections under headings, and parsing a model's JSON reply.

The sections are ``task``, ``input`` and ``output_format``, rendered in that order under the headings
``## Task``, ``## Input`` and ``## Output format``. When the template has an ``output_schema`` and no
(or an empty) ``output_format`` text, the output-format section asks for JSON matching the schema.

:func:`parse_output` finds the JSON in a reply (a fenced ```json block, the whole reply, or the first
``{...}``/``[...]`` that parses, trailing text ignored) and validates it against the schema, saying
precisely what is wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

from promptyard.core.errors import OutputParseError, ValidationError
from promptyard.core.template import STRUCTURED_SECTIONS, Template

HEADINGS = {"task": "Task", "input": "Input", "output_format": "Output format"}
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)```", re.DOTALL)
_MAX_CANDIDATES = 200


def check_structured(t: Template) -> None:
    """Section names are known, at least one section is given, and the schema is a valid JSON Schema."""
    unknown = [name for name in t.sections if name not in STRUCTURED_SECTIONS]
    if unknown:
        raise ValidationError(f"unknown section(s) {', '.join(map(repr, unknown))}", where="sections",
                              hint=f"sections are {', '.join(STRUCTURED_SECTIONS)}")
    if not t.sections and t.output_schema is None:
        raise ValidationError("a structured template needs at least one section", where="sections",
                              hint=f"sections are {', '.join(STRUCTURED_SECTIONS)}")
    if t.output_schema is not None:
        if not isinstance(t.output_schema, dict):
            raise ValidationError("output_schema must be a JSON Schema object (a mapping)",
                                  where="output_schema")
        import jsonschema  # only structured templates pay for it

        try:
            jsonschema.validators.validator_for(t.output_schema).check_schema(t.output_schema)
        except jsonschema.SchemaError as exc:
            path = "".join(f"[{p!r}]" for p in exc.path)
            raise ValidationError(f"not a valid JSON Schema: {exc.message}",
                                  where=f"output_schema{path}") from None


def schema_instructions(schema: dict[str, Any]) -> str:
    """The default output-format text when a schema is given and no custom text."""
    return ("Reply with JSON only, matching this JSON Schema:\n```json\n"
            + json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n```")


def compose(t: Template, rendered: dict[str, str]) -> str:
    """Join rendered sections under their headings, in the canonical order; empty sections are left out."""
    chunks = []
    for name in STRUCTURED_SECTIONS:
        text = rendered.get(name, "").strip()
        if name == "output_format" and not text and t.output_schema is not None:
            text = schema_instructions(t.output_schema)
        if text:
            chunks.append(f"## {HEADINGS[name]}\n{text}")
    return "\n\n".join(chunks)


# --------------------------------------------------------------------------------------------------
# parse_output
# --------------------------------------------------------------------------------------------------

def _position(reply: str, offset: int) -> str:
    line = reply.count("\n", 0, offset) + 1
    column = offset - (reply.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _decode_at(reply: str, start: int, end: int | None = None) -> Any:
    """Decode the JSON value at ``start``; JSONDecodeError positions are made relative to ``reply``."""
    decoder = json.JSONDecoder()
    text = reply[:end] if end is not None else reply
    value, stop = decoder.raw_decode(text, start)
    if end is not None and text[stop:].strip():
        raise json.JSONDecodeError("Extra data", text, stop)
    return value


def extract_json(reply: str, prefer: type | None = None) -> Any:
    """The JSON value in a model reply; OutputParseError naming the position when it does not parse.

    ``prefer`` (dict or list, from the schema's ``type``) skips earlier values of the other shape, so
    ``see [1] below: {...}`` yields the object when an object is expected.
    """
    if not isinstance(reply, str):
        raise OutputParseError(f"the reply must be text, got {type(reply).__name__}", where="reply")
    first_error: json.JSONDecodeError | None = None
    fences = list(_FENCE.finditer(reply))
    # a fence labelled json wins over unlabelled ones; a non-json label (```python) is not a candidate
    fences.sort(key=lambda m: m.group(1).lower() != "json")
    for fence in fences:
        if fence.group(1).lower() not in ("json", ""):
            continue
        body_start, body_end = fence.start(2), fence.end(2)
        stripped = len(reply[body_start:body_end]) - len(reply[body_start:body_end].lstrip())
        try:
            return _decode_at(reply, body_start + stripped, body_end)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
    if first_error is not None:
        _raise_decode(reply, first_error, "in the fenced code block")
    stripped = reply.strip()
    if not stripped:
        raise OutputParseError("the reply is empty; expected JSON", where="reply")
    tried = 0
    fallback: list[Any] = []
    skip_until = 0
    for match in re.finditer(r"[\[{]", reply):
        if match.start() < skip_until:
            continue  # nested inside a value that failed to parse: its error is the one to report
        tried += 1
        if tried > _MAX_CANDIDATES:
            break
        try:
            value = _decode_at(reply, match.start())
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
            skip_until = exc.pos
            continue
        if prefer is None or isinstance(value, prefer):
            return value
        fallback = fallback or [value]
    if fallback:
        return fallback[0]
    if first_error is None:
        raise OutputParseError("no JSON object or array found in the reply", where="reply",
                               hint=f"reply starts with {stripped[:60]!r}")
    _raise_decode(reply, first_error, "")


def _raise_decode(reply: str, exc: json.JSONDecodeError, context: str) -> None:
    where = f"reply {_position(reply, exc.pos)} (char {exc.pos})"
    near = reply[max(0, exc.pos - 20):exc.pos + 20].replace("\n", "\\n")
    raise OutputParseError(f"invalid JSON{' ' + context if context else ''}: {exc.msg}", where=where,
                           hint=f"near {near!r}") from None


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_output(schema: dict[str, Any], value: Any) -> None:
    """Validate against ``schema``; one OutputParseError listing every violation by JSON path."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        problems = [f"at {_json_path(e.absolute_path)}: {e.message}" for e in errors]
        raise OutputParseError("the reply's JSON does not match the output schema: " + "; ".join(problems),
                               where="reply", hint=f"{len(problems)} problem(s)")


def parse_output(t: Template, reply: str) -> Any:
    """Extract the JSON value from ``reply`` and validate it against ``t.output_schema`` (if any)."""
    schema_type = (t.output_schema or {}).get("type")
    value = extract_json(reply, prefer={"object": dict, "array": list}.get(schema_type) if isinstance(
        schema_type, str) else None)
    if t.output_schema is not None:
        validate_output(t.output_schema, value)
    return value


__all__ = ["HEADINGS", "check_structured", "compose", "extract_json", "parse_output", "schema_instructions",
           "validate_output"]
