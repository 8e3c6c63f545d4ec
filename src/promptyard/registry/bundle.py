"""Portable bundles: export items (versions + labels + hashes) to JSON/YAML, import them back.

Import verifies every hash and merges without renumbering: a version number that exists with other
content is a conflict, and the whole import is refused (or goes under a new name with ``as_name``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptyard.core.errors import BundleError, RegistryError
from promptyard.core.refs import check_label, check_name
from promptyard.registry import queries
from promptyard.registry.records import content_hash_of

if TYPE_CHECKING:
    from promptyard.registry.api import Registry

FORMAT = "promptyard-bundle"
FORMAT_VERSION = 1


def export(
    self: Registry,
    names: list[str] | None = None,
    *,
    kind: str = "prompt",
    path: str | Path | None = None,
    fmt: str | None = None,
) -> dict[str, Any]:
    """A bundle of the named items (all items of ``kind`` when None), archived ones included when named.
    Written to ``path`` (JSON, or YAML for ``.yaml``/``.yml`` or ``fmt="yaml"``) when given."""
    conn = self._reader()
    conn.execute("BEGIN")  # one snapshot
    try:
        items = {i.name: i for i in queries.items(conn, kind)}
        if names is None:
            chosen = [i for i in items.values() if not i.archived]
        else:
            missing = [n for n in names if n not in items]
            if missing:
                raise queries._unknown_item(conn, kind, missing[0])
            chosen = [items[n] for n in names]
        out = []
        for item in chosen:
            out.append(
                {
                    "kind": kind,
                    "name": item.name,
                    "task_type": item.task_type,
                    "description": item.description,
                    "tags": item.tags,
                    "archived": item.archived,
                    "versions": [
                        {
                            "number": v.number,
                            "content_hash": v.content_hash,
                            "content": v.content,
                            "contract": v.contract,
                            "message": v.message,
                            "author": v.author,
                            "created_at": v.created_at.isoformat(),
                            "parent": v.parent,
                            "lineage": v.lineage,
                            "artifact_hash": v.artifact_hash,
                        }
                        for v in queries.versions(conn, kind, item.name)
                    ],
                    "labels": item.labels,
                    "label_history": [
                        {k: v for k, v in m.to_dict().items() if k not in ("kind", "name")}
                        for m in queries.moves(conn, kind, item.name)
                    ],
                }
            )
    finally:
        conn.execute("COMMIT")
    bundle = {"format": FORMAT, "format_version": FORMAT_VERSION, "items": out}
    if path is not None:
        write_bundle(bundle, Path(path), fmt)
    return bundle


def write_bundle(bundle: dict[str, Any], path: Path, fmt: str | None = None) -> None:
    fmt = fmt or ("yaml" if path.suffix in (".yaml", ".yml") else "json")
    if fmt == "yaml":
        import yaml

        text = yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"cannot write bundle: {exc.strerror}", where=str(path)) from None


def read_bundle(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """Load a bundle from a file (JSON or YAML) or take a dict; BundleError when it is not one."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"cannot read bundle: {exc.strerror}", where=str(path)) from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # JSON and YAML parsers raise different types
        mark = getattr(exc, "problem_mark", None)
        where = f"{path} line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or exc
        raise BundleError(
            f"not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: {problem}", where=where
        ) from None
    return data


def validate_bundle(bundle: Any, where: str = "bundle") -> list[dict[str, Any]]:
    """Check shape and every hash; return the items. BundleError naming the first problem."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"not a promptyard bundle (format must be {FORMAT!r})", where=where)
    if bundle.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"unsupported bundle format_version {bundle.get('format_version')!r}", where=where)
    items = bundle.get("items")
    if not isinstance(items, list):
        raise BundleError("'items' must be a list", where=where)
    for i, item in enumerate(items):
        at = f"{where}: items[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("versions"), list):
            raise BundleError("each item needs 'name', 'kind' and a 'versions' list", where=at)
        if item.get("kind") not in ("prompt", "adapter"):
            raise BundleError(f"unknown kind {item.get('kind')!r}", where=at)
        try:
            check_name(item.get("name"))
            for label in item.get("labels") or {}:
                check_label(label)
        except Exception as exc:
            raise BundleError(str(exc), where=at) from None
        tags = item.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BundleError("tags must be a list of strings", where=at)
        for key in ("task_type", "description"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise BundleError(f"{key} must be a string", where=at)
        for j, v in enumerate(item["versions"]):
            vat = f"{at}.versions[{j}]"
            if not isinstance(v, dict) or not isinstance(v.get("content"), dict):
                raise BundleError(
                    "each version needs 'number', 'content_hash' and a 'content' mapping", where=vat
                )
            if v.get("number") != j + 1:
                raise BundleError(f"version numbers must run 1, 2, 3 …; found {v.get('number')!r}", where=vat)
            if v.get("created_at") is not None:
                try:
                    datetime.fromisoformat(str(v["created_at"]))
                except ValueError:
                    raise BundleError(f"created_at {v['created_at']!r} is not an ISO time", where=vat) from None
            for key in ("message", "author"):
                if not isinstance(v.get(key, ""), str):
                    raise BundleError(f"{key} must be a string", where=vat)
            if not isinstance(v.get("lineage") or {}, dict):
                raise BundleError("lineage must be a mapping", where=vat)
            if content_hash_of(v["content"]) != v.get("content_hash"):
                raise BundleError("content does not match its content_hash (edited or corrupt)", where=vat)
        numbers = {v["number"] for v in item["versions"]}
        for label, number in (item.get("labels") or {}).items():
            if number not in numbers:
                raise BundleError(f"label {label!r} points to missing version {number!r}", where=at)
    return items


def import_bundle(
    self: Registry,
    source: str | Path | dict[str, Any],
    *,
    as_name: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Import a bundle (path or dict). Returns ``{"items": [{name, added, skipped, labels}]}``."""
    from promptyard.registry.api import default_author

    where = str(source) if not isinstance(source, dict) else "bundle"
    items = validate_bundle(read_bundle(source), where)
    if as_name is not None:
        check_name(as_name)
        if len(items) != 1:
            raise BundleError(
                f"--as needs a bundle with exactly one item, this one has {len(items)}", where=where
            )
    if any(i["kind"] == "prompt" for i in items):
        _check_templates(items)
    with self.write() as s:
        report = [
            _import_item(self, s, item, as_name or item["name"], actor or default_author()) for item in items
        ]
    return {"items": report}


def _check_templates(items: list[dict[str, Any]]) -> None:
    from promptyard.core.render import check_template
    from promptyard.core.template import Template

    for item in items:
        for v in item["versions"]:
            if item["kind"] == "prompt":
                check_template(Template.from_dict(v["content"], where=f"{item['name']}@{v['number']}"))


def _import_item(self: Registry, s: Any, item: dict[str, Any], name: str, actor: str) -> dict[str, Any]:
    from promptyard.registry.tables import Item, Label, LabelMove, Version, utcnow
    from promptyard.registry.versioning import raw

    kind = item["kind"]
    conn = raw(s)
    row = queries.item_row(conn, kind, name)
    if row is not None and row[1]:
        raise RegistryError(f"{kind} {name!r} is archived", where=name,
                            hint=f"`promptyard {kind} archive {name} --undo` first, or import with --as NEWNAME")
    existing = {} if row is None else {v.number: v for v in queries.versions(conn, kind, name)}
    for number, v in existing.items():
        theirs = item["versions"][number - 1]["content_hash"] if number <= len(item["versions"]) else None
        if theirs is not None and theirs != v.content_hash:
            raise RegistryError(
                f"{kind} {name!r} version {number} differs from the bundle's",
                where=name,
                hint="import under another name with --as NEWNAME",
            )
    if row is None:
        new = Item(
            kind=kind,
            name=name,
            task_type=item.get("task_type"),
            description=item.get("description") or "",
            tags=json.dumps(sorted(set(item.get("tags") or []))),
            archived=bool(item.get("archived")),
        )
        s.add(new)
        s.flush()
        item_id = new.id
    else:
        item_id = row[0]
    ids = {n: v.id for n, v in existing.items()}
    added = []
    for v in item["versions"][len(existing) :]:
        if (
            v.get("artifact_hash")
            and conn.execute("SELECT 1 FROM artifacts WHERE hash = ?", (v["artifact_hash"],)).fetchone()
            is None
        ):
            raise BundleError(
                f"adapter artifact {v['artifact_hash'][:12]} is not in this registry's store",
                where=f"{name}@{v['number']}",
                hint="bundles carry metadata, not adapter files",
            )
        version = Version(
            item_id=item_id,
            number=v["number"],
            content_hash=v["content_hash"],
            content=json.dumps(v["content"], sort_keys=True, ensure_ascii=False),
            contract=json.dumps(v.get("contract") or []),
            message=v.get("message") or "",
            author=v.get("author") or "",
            parent_id=ids.get(v["number"] - 1),
            created_at=datetime.fromisoformat(v["created_at"]) if v.get("created_at") else utcnow(),
            lineage=json.dumps(v.get("lineage") or {}, sort_keys=True),
            artifact_hash=v.get("artifact_hash"),
        )
        s.add(version)
        s.flush()
        ids[v["number"]] = version.id
        added.append(v["number"])
    current = queries.labels_of(conn, item_id)
    labels, kept = {}, {}
    for label, number in (item.get("labels") or {}).items():
        if label in current:
            if current[label] != number:
                kept[label] = current[label]  # never move a local label behind the user's back
            continue
        s.add(Label(item_id=item_id, name=label, version_id=ids[number]))
        s.add(
            LabelMove(
                item_id=item_id,
                label=label,
                from_version_id=None,
                to_version_id=ids[number],
                action="import",
                actor=actor,
                reason=f"imported from bundle ({item['name']})",
            )
        )
        labels[label] = number
    s.flush()
    return {
        "kind": kind,
        "name": name,
        "added": added,
        "skipped": sorted(set(existing) & set(ids)),
        "labels": labels,
        "labels_kept": kept,
    }
