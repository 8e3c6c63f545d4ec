"""Load a template from a file: ``.j2``/``.jinja``/``.txt`` (a *single* text) or ``.yaml``/``.yml``/``.json``.

A YAML or JSON file is a mapping with a ``kind`` key (default ``single``) and that kind's fields (see
docs/templates.md); ``name``, ``description``, ``task_type`` and ``tags`` go into the returned ``meta``.
The template is checked (:func:`promptyard.core.render.check_template`) before it is returned, so a
syntax error names the file, the source (``text``, ``parts[1] (user)`` …), line and column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError
from promptyard.core.template import Template
from promptyard.core.text_files import parse_json, read_text
from promptyard.core.yaml_files import compose, load_yaml

TEXT_SUFFIXES = (".j2", ".jinja", ".jinja2", ".txt")
DATA_SUFFIXES = (".yaml", ".yml", ".json")
#: every suffix a template file may have (compared in lower case); the one list training and evals use too
TEMPLATE_SUFFIXES = TEXT_SUFFIXES + DATA_SUFFIXES
META_KEYS = ("name", "description", "task_type", "tags")


def _read(path: Path) -> str:
    return read_text(path, what="template file", allow_empty=True)


def _parse_data(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        return parse_json(text, where=str(path))
    return load_yaml(text, source=str(path)).data


def _meta(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    meta = {key: data[key] for key in META_KEYS if data.get(key) is not None}
    for key in ("name", "description", "task_type"):
        if key in meta and not isinstance(meta[key], str):
            raise ValidationError(f"{key} must be a string, got {type(meta[key]).__name__}",
                                  where=f"{path}: {key}")
    if "tags" in meta:
        tags = meta["tags"]
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValidationError("tags must be a list of strings", where=f"{path}: tags")
        meta["tags"] = tags
    return meta


def template_from_data(data: Any, *, where: str,
                       yaml_text: str | None = None) -> tuple[Template, dict[str, Any]]:
    """A checked Template and its meta from an already parsed mapping; errors say ``where``.

    With ``yaml_text`` (the file the data came from), a template error also names the file line.
    """
    path = Path(where)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ValidationError(f"expected a mapping with a 'kind' key, got {got}", where=where)
    try:
        template = Template.from_dict(data, where=where)
    except PromptyardError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:  # e.g. k: "three"
        raise ValidationError(f"bad template field: {exc}", where=where) from None
    return _checked(template, where, yaml_text), _meta(path, data)


def _checked(template: Template, where: str, yaml_text: str | None = None, *,
             text_file: bool = False) -> Template:
    from promptyard.core.render import check_template

    try:
        check_template(template)
    except PromptyardError as exc:
        prefix = where
        if yaml_text is not None and exc.where:
            prefix = _yaml_position(yaml_text, exc.where, where) or where
        elif text_file and (exc.where or "").startswith("text line "):
            # a text file: the template's lines are the file's lines
            exc.where = exc.where[len("text "):]
        exc.where = f"{prefix}: {exc.where}" if exc.where else where
        raise
    return template


_SOURCE_WHERE = re.compile(r"^(text|parts\[(\d+)\][^:]*?|sections\.(\w+)) line (\d+)(?:, column (\d+))?")


def _yaml_position(yaml_text: str, source_where: str, where: str) -> str | None:
    """``file line N, column C`` of a template error inside a YAML file, where the scalar allows it."""
    import yaml

    match = _SOURCE_WHERE.match(source_where)
    if not match:
        return None
    try:
        root = compose(yaml_text)
        node = _child(root, "parts") if match.group(2) is not None else root
        if match.group(2) is not None:
            node = node.value[int(match.group(2))] if node is not None else None
        key = "text" if match.group(3) is None else match.group(3)
        if match.group(3) is not None:
            node = _child(root, "sections")
        value = _child(node, key)
    except (IndexError, AttributeError, TypeError):
        return None
    if not isinstance(value, yaml.ScalarNode):
        return None
    line, column = int(match.group(4)), int(match.group(5) or 0)
    if value.style == "|":  # literal block: content starts on the next line, lines map one to one
        file_line = value.start_mark.line + 1 + line
        text_line = yaml_text.splitlines()[file_line - 1] if file_line <= len(yaml_text.splitlines()) else ""
        indent = len(text_line) - len(text_line.lstrip(" "))
        return f"{where} line {file_line}" + (f", column {indent + column}" if column else "")
    if value.start_mark.line == value.end_mark.line and line == 1:  # a one-line scalar
        offset = value.start_mark.column + (1 if value.style in ("'", '"') else 0)
        return f"{where} line {value.start_mark.line + 1}" + (f", column {offset + column}" if column else "")
    return None


def _child(node: Any, key: str) -> Any:
    if node is None or not hasattr(node, "value") or not isinstance(node.value, list):
        return None
    for k, v in node.value:
        if getattr(k, "value", None) == key:
            return v
    return None


def is_template_file(path: str | Path) -> bool:
    """An existing file with a template suffix (any case): a prompt reference that names a file."""
    path = Path(path)
    return path.suffix.lower() in TEMPLATE_SUFFIXES and path.is_file()


def load_template_file(path: str | Path) -> tuple[Template, dict[str, Any]]:
    """(Template, meta) from a template file; ValidationError naming the file (and line) if it is bad."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEMPLATE_SUFFIXES:
        raise ValidationError(f"unknown template file type {suffix or '(none)'!r}", where=str(path),
                              hint=f"use one of {', '.join(TEMPLATE_SUFFIXES)}")
    text = _read(path)
    if suffix in TEXT_SUFFIXES:
        return _checked(Template(kind="single", text=text), str(path), text_file=True), {}
    is_yaml = suffix in (".yaml", ".yml")
    return template_from_data(_parse_data(path, text), where=str(path), yaml_text=text if is_yaml else None)


__all__ = ["DATA_SUFFIXES", "META_KEYS", "TEMPLATE_SUFFIXES", "TEXT_SUFFIXES", "is_template_file", "load_template_file",
           "template_from_data"]
