"""Prompt references made concrete, for training and evaluation alike: a template file or a registry version.

One rule for both wings: a reference that names an existing file with a template suffix
(:data:`promptyard.core.template_files.TEMPLATE_SUFFIXES`, any case, ``.jinja2`` included) is that file;
a ``.json`` file holding ``{"template": {...}, "task_type": ...}`` (what prompt search writes for its
variants) is read as that wrapper. Anything else is a registry reference (``name@label``, ``name@N``).
File templates are checked when loaded, so a syntax error names the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError
from promptyard.core.template_files import is_template_file, load_template_file, template_from_data
from promptyard.core.text_files import parse_json, read_text


@dataclass
class ResolvedPrompt:
    """A prompt reference made concrete: template, exact version, hash, task type."""

    ref: str
    template: Any
    content_hash: str
    resolved: str  # name@N, or the file path
    version_id: int | None = None
    task_type: str | None = None

    def identity(self) -> dict[str, Any]:
        """What lineage records about the prompt: the reference, what it resolved to, the content hash."""
        return {"ref": self.ref, "resolved": self.resolved, "hash": self.content_hash}


def _from_file(ref: str, path: Path) -> ResolvedPrompt:
    data = None
    if path.suffix.lower() == ".json":
        try:
            data = parse_json(read_text(path, what="prompt file"), where=str(path))
        except PromptyardError:
            data = None  # the loader below says what is wrong, with the line
    if isinstance(data, dict) and isinstance(data.get("template"), dict):
        template, _ = template_from_data(data["template"], where=str(path))
        task_type = data.get("task_type")
    else:
        template, meta = load_template_file(path)
        task_type = meta.get("task_type")
    return ResolvedPrompt(ref, template, template.content_hash(), str(path.resolve()), task_type=task_type)


def resolve_prompt(ref: str, registry: Any = None, *, registry_path: str | None = None) -> ResolvedPrompt:
    """A template file path, or a registry reference resolved in ``registry`` (else the registry at
    ``registry_path``, else the default one; opened only when the reference is not a file)."""
    path = Path(ref)
    if is_template_file(path):
        return _from_file(ref, path)
    if registry is None:
        from promptyard.registry.api import Registry

        with Registry.open(registry_path) as opened:
            return _from_registry(ref, opened)
    return _from_registry(ref, registry)


def _from_registry(ref: str, registry: Any) -> ResolvedPrompt:
    info = registry.resolve(ref)
    try:
        task_type = registry.item(info.name).task_type
    except PromptyardError:
        task_type = None
    return ResolvedPrompt(ref, registry.get_template(info.ref), info.content_hash, info.ref, info.id, task_type)
