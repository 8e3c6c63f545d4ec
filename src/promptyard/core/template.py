"""The template model: one class for the four kinds, with a canonical form and a content hash.

- *single*: one Jinja2 text.
- *multi*: an ordered list of parts, each a role + text (chat messages, or sentences joined).
- *structured*: named sections (task, input, output_format) plus an optional JSON Schema for the reply.
- *dynamic*: a text rendered per input with few-shot examples chosen from a pool by a selector,
  conditional sections and values from registered providers.

Rendering lives in :mod:`promptyard.core.render`; this module only describes and hashes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.digest import sha256_hex
from promptyard.core.errors import ValidationError

KINDS = ("single", "multi", "structured", "dynamic")
VARIABLE_TYPES = ("str", "int", "float", "bool", "list", "dict")
STRUCTURED_SECTIONS = ("task", "input", "output_format")


def _typed(data: dict[str, Any], key: str, expected: type, default: Any, where: str) -> Any:
    """``data[key]`` if it is an ``expected`` (bool is not an int here), else ``default`` when absent or null."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
        return value
    # bool("false") is True: a quoted flag or a number in words must be refused, not coerced
    raise ValidationError(f"must be {'true or false' if expected is bool else 'a whole number'}, "
                          f"got {value!r:.40}", where=where)


@dataclass(frozen=True)
class Variable:
    """One entry of a version's variable contract."""

    name: str
    type: str = "str"
    required: bool = True
    default: Any = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required,
                "default": self.default, "description": self.description}


@dataclass(frozen=True)
class Part:
    """One message or sentence of a *multi* template."""

    role: str
    text: str


@dataclass
class Template:
    """A prompt template of any of the four kinds. Equal content gives an equal :meth:`content_hash`."""

    kind: str = "single"
    text: str = ""
    parts: list[Part] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    selector: str | None = None
    k: int = 0
    seed: int = 0
    variables: list[Variable] = field(default_factory=list)
    raw: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: only the fields that mean something for this kind, stable key order."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind in ("single", "dynamic"):
            data["text"] = self.text
        if self.kind == "multi":
            data["parts"] = [{"role": p.role, "text": p.text} for p in self.parts]
        if self.kind == "structured":
            data["sections"] = dict(self.sections)
            data["output_schema"] = self.output_schema
        if self.kind == "dynamic":
            data.update(examples=self.examples, selector=self.selector, k=self.k, seed=self.seed)
        data["variables"] = [v.to_dict() for v in self.variables]
        data["raw"] = self.raw
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON."""
        return sha256_hex(self.canonical_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "template") -> Template:
        """Build from a plain dict (a YAML/JSON file, a bundle, a database row); say what is wrong and where."""
        if not isinstance(data, dict):
            raise ValidationError(f"expected a mapping, got {type(data).__name__}", where=where)
        kind = data.get("kind", "single")
        if kind not in KINDS:
            raise ValidationError(f"unknown kind {kind!r}", where=f"{where}: kind", hint=f"one of {', '.join(KINDS)}")
        known = {"kind", "text", "parts", "sections", "output_schema", "examples", "selector", "k", "seed",
                 "variables", "raw", "name", "description", "task_type", "tags"}
        extra = sorted(set(data) - known)
        if extra:
            raise ValidationError(f"unknown key(s) {', '.join(extra)}", where=where,
                                  hint=f"known keys: {', '.join(sorted(known))}")
        try:
            parts = [Part(role=str(p.get("role", "user")), text=str(p["text"])) for p in data.get("parts") or []]
        except (KeyError, AttributeError, TypeError):
            raise ValidationError("each part needs a 'text' (and optionally a 'role')",
                                  where=f"{where}: parts") from None
        variables = []
        for i, v in enumerate(data.get("variables") or []):
            if isinstance(v, str):
                v = {"name": v}
            if not isinstance(v, dict) or "name" not in v:
                raise ValidationError("each variable needs a 'name'", where=f"{where}: variables[{i}]")
            vtype = v.get("type", "str")
            if vtype not in VARIABLE_TYPES:
                raise ValidationError(f"unknown type {vtype!r}", where=f"{where}: variables[{i}].type",
                                      hint=f"one of {', '.join(VARIABLE_TYPES)}")
            has_default = "default" in v and v["default"] is not None
            required = _typed(v, "required", bool, not has_default, f"{where}: variables[{i}].required")
            variables.append(Variable(name=str(v["name"]), type=vtype, required=required,
                                      default=v.get("default"), description=str(v.get("description", ""))))
        sections = data.get("sections") or {}
        if not isinstance(sections, dict):
            raise ValidationError("sections must be a mapping of section name to text", where=f"{where}: sections")
        text = data.get("text") or ""
        if isinstance(text, (list, dict)):
            raise ValidationError(f"must be a string, got {type(text).__name__}", where=f"{where}: text")
        return cls(kind=kind, text=str(text), parts=parts,
                   sections={str(k): str(v) for k, v in sections.items()},
                   output_schema=data.get("output_schema"), examples=list(data.get("examples") or []),
                   selector=data.get("selector"), k=_typed(data, "k", int, 0, f"{where}: k"),
                   seed=_typed(data, "seed", int, 0, f"{where}: seed"), variables=variables,
                   raw=_typed(data, "raw", bool, False, f"{where}: raw"))

    def sources(self) -> list[tuple[str, str]]:
        """Every Jinja2 source in the template as (location, text): what is parsed, checked and diffed."""
        if self.kind == "multi":
            return [(f"parts[{i}] ({p.role})", p.text) for i, p in enumerate(self.parts)]
        if self.kind == "structured":
            return [(f"sections.{name}", text) for name, text in self.sections.items()]
        return [("text", self.text)]

    def source_text(self) -> str:
        """A readable text of the whole template, used by ``diff``."""
        if self.kind == "single":
            return self.text
        chunks = [f"## {loc}\n{text}" for loc, text in self.sources()]
        if self.kind == "structured" and self.output_schema is not None:
            chunks.append("## output_schema\n" + json.dumps(self.output_schema, indent=2, sort_keys=True))
        if self.kind == "dynamic":
            chunks.append(f"## selector: {self.selector} k={self.k} seed={self.seed}, {len(self.examples)} examples")
        return "\n".join(chunks)
