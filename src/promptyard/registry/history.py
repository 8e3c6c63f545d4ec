"""Comparing versions: unified diffs of template text and variable contract."""

from __future__ import annotations

import difflib
import json
from typing import Any

from promptyard.core.records import VersionInfo


def contract_lines(contract: list[dict[str, Any]]) -> list[str]:
    """One readable line per variable: ``name: type, required|default=…  # description``."""
    lines = []
    for var in sorted(contract, key=lambda v: v.get("name", "")):
        need = "required" if var.get("required", True) else f"default={json.dumps(var.get('default'))}"
        line = f"{var.get('name')}: {var.get('type', 'str')}, {need}"
        if var.get("description"):
            line += f"  # {var['description']}"
        lines.append(line + "\n")
    return lines


def _source(v: VersionInfo) -> list[str]:
    if v.kind == "prompt":
        text = v.template.source_text()
    else:
        text = json.dumps({"content": v.content, "lineage": v.lineage}, indent=2, sort_keys=True, default=str)
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines()]


def diff_versions(a: VersionInfo, b: VersionInfo) -> dict[str, Any]:
    """``{"a", "b", "same", "text", "contract"}``: unified diffs (empty strings when equal)."""
    text = "".join(difflib.unified_diff(_source(a), _source(b), fromfile=a.ref, tofile=b.ref))
    contract = "".join(
        difflib.unified_diff(
            contract_lines(a.contract),
            contract_lines(b.contract),
            fromfile=f"{a.ref} variables",
            tofile=f"{b.ref} variables",
        )
    )
    return {
        "a": a.ref,
        "b": b.ref,
        "same": a.content_hash == b.content_hash,
        "text": text,
        "contract": contract,
    }
