"""The one YAML loader of the project: safe types, no aliases, and the line of every key.

PyYAML's ``safe_load`` expands aliases, so a 700-byte "billion laughs" document becomes billions of
objects; this loader refuses any alias (``*name``, also the ``<<: *name`` merge key) before anything is
built. Timestamps stay strings (``created_at: 2024-01-01`` is the text ``"2024-01-01"``), so a reader
validates one type. Each mapping key and list item keeps its line, so a reader's error can say
``file line 12, key 'items[0].labels'``. ``.json`` files are parsed as JSON by :func:`load_data_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError
from promptyard.core.text_files import check_depth, parse_json, read_text

Path_ = tuple[str | int, ...]


class _AliasError(Exception):
    def __init__(self, mark: Any):
        self.mark = mark


@lru_cache(maxsize=1)
def _loader_class() -> type:
    """SafeLoader that refuses aliases while composing (nothing has been expanded yet) and keeps
    timestamps as strings. Built on first use: ``prompt render`` never imports PyYAML."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise _AliasError(self.peek_event().start_mark)
            return super().compose_node(parent, index)

    NoAliasLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return NoAliasLoader


@dataclass
class Document:
    """A parsed YAML or JSON file: its data and the line of each key path (``("items", 0, "name")``)."""

    data: Any
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def where(self, *path: str | int) -> str:
        """``source line N, key 'a.b[0]'`` for the deepest part of ``path`` that has a known line."""
        return located(self.source, path, lambda part: self.lines.get(tuple(part)))


def located(source: str, path: Path_, line_of: Callable[[Path_], int | None]) -> str:
    """``source line N, key 'a.b[0]'``: the line ``line_of`` gives for the deepest part of ``path`` that has one
    (``source: key 'a.b[0]'`` when none has)."""
    key = format_key(path)
    for n in range(len(path), 0, -1):
        line = line_of(path[:n])
        if line is not None:
            return f"{source} line {line}" + (f", key '{key}'" if key else "")
    return f"{source}: key '{key}'" if key else source


def format_key(path: Path_ | list) -> str:
    """``items[0].labels`` for ``("items", 0, "labels")``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _mark_where(source: str, mark: Any) -> str:
    return f"{source} line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source


def load_yaml(text: str, *, source: str, error: type[PromptyardError] = ValidationError) -> Document:
    """Parse one YAML document; ``error`` naming ``source`` and the line for bad YAML, an alias, several
    documents or nesting deeper than :data:`promptyard.core.text_files.MAX_DEPTH`."""
    import yaml

    loader = None
    try:
        loader = _loader_class()(text)  # the reader refuses control characters already here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _AliasError as exc:
        raise error("YAML aliases (*name) are not accepted", where=_mark_where(source, exc.mark),
                    hint="write the value out in full") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split("\n")[0].split())
        raise error(f"invalid YAML: {problem}", where=_mark_where(source, mark)) from None
    except RecursionError:
        raise error("invalid YAML: nested too deeply", where=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    check_depth(data, where=source, error=error)
    doc = Document(data, source)
    if node is not None:
        _collect_lines(node, (), doc.lines)
    return doc


def _collect_lines(node: Any, path: Path_, out: dict[Path_, int]) -> None:
    import yaml

    stack = [(node, path)]
    while stack:
        current, at = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                child = (*at, str(key_node.value))
                out.setdefault(child, key_node.start_mark.line + 1)
                stack.append((value_node, child))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                child = (*at, i)
                out.setdefault(child, item.start_mark.line + 1)
                stack.append((item, child))


def load_data_file(path: str | Path, *, what: str = "file", error: type[PromptyardError] = ValidationError,
                   allow_empty: bool = False) -> Document:
    """Read a ``.json`` file as JSON and anything else as YAML, with the checks of :func:`load_yaml`."""
    path = Path(path)
    text = read_text(path, what=what, error=error, allow_empty=allow_empty)
    if path.suffix.lower() == ".json":
        return Document(parse_json(text, where=str(path), error=error), str(path))
    return load_yaml(text, source=str(path), error=error)


def compose(text: str) -> Any:
    """The node tree of a YAML text that :func:`load_yaml` accepted (scalar styles and marks), or None."""
    import yaml

    try:
        loader = _loader_class()(text)
    except yaml.YAMLError:
        return None
    try:
        return loader.get_single_node()
    except (_AliasError, yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()


def yaml_scalar(text: str, *, source: str, error: type[PromptyardError] = ValidationError) -> Any:
    """A ``--set key=value`` value read as a YAML scalar (``3e-4`` a float, ``true`` a bool)."""
    return load_yaml(text, source=source, error=error).data


__all__ = ["Document", "compose", "format_key", "load_data_file", "load_yaml", "located", "yaml_scalar"]
