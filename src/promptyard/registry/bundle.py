"""Portable bundles: export items (versions + labels + hashes) to JSON/YAML, import them back.

Import verifies every hash and merges without renumbering: a version number that exists with other
content is a conflict, and the whole import is refused (or goes under a new name with ``as_name``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptyard.core.adapter_files import pickled_files
from promptyard.core.errors import BundleError, PromptyardError, RegistryError, UsageError
from promptyard.core.records import content_hash_of
from promptyard.core.refs import check_label, check_name
from promptyard.core.render import check_template
from promptyard.core.template import Template
from promptyard.core.text_files import parse_json, read_text
from promptyard.core.yaml_files import load_yaml
from promptyard.registry import queries
from promptyard.registry.actors import default_author

FORMAT = "promptyard-bundle"
FORMAT_VERSION = 1


def export(
    self: Any,
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
    """Load a bundle from a file (JSON, or YAML for ``.yaml``/``.yml``) or take a dict; BundleError naming
    the file and line when it cannot be read or parsed (encoding, aliases, nesting)."""
    if not isinstance(source, str | os.PathLike):
        return source  # parsed data: validate_bundle says what is wrong with it
    path = Path(source)
    text = read_text(path, what="bundle", error=BundleError)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_yaml(text, source=str(path), error=BundleError).data
    return parse_json(text, where=str(path), error=BundleError)


def _fail(message: str, where: str, hint: str | None = None) -> BundleError:
    return BundleError(message, where=where, hint=hint)


def _string(value: Any, key: str, where: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _fail(f"{key} must be a string, got {type(value).__name__}", f"{where}.{key}")


def _created_at(value: Any, where: str) -> datetime | None:
    """An imported version's time: an ISO string (or a datetime from a dict bundle), never a number."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise _fail(f"created_at must be an ISO time string, got {type(value).__name__} {value!r:.40}",
                    f"{where}.created_at", hint="e.g. 2026-01-31T12:00:00+00:00")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"created_at {value!r:.40} is not an ISO time", f"{where}.created_at") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)  # a time without a zone is UTC, as stored


def _check_version(kind: str, v: Any, j: int, vat: str) -> None:
    if not isinstance(v, dict) or not isinstance(v.get("content"), dict):
        raise _fail("each version needs 'number', 'content_hash' and a 'content' mapping", vat)
    number = v.get("number")
    if isinstance(number, bool) or number != j + 1:
        raise _fail(f"version numbers must run 1, 2, 3 …; found {number!r}", f"{vat}.number")
    if not isinstance(v.get("content_hash"), str):
        raise _fail("content_hash must be a string", f"{vat}.content_hash")
    _created_at(v.get("created_at"), vat)
    for key in ("message", "author"):
        _string(v.get(key), key, vat)
    if not isinstance(v.get("lineage") or {}, dict):
        raise _fail("lineage must be a mapping", f"{vat}.lineage")
    contract = v.get("contract")
    if contract is not None and (not isinstance(contract, list)
                                 or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                            for c in contract)):
        raise _fail("contract must be a list of variables ({name, type, required, …})", f"{vat}.contract")
    if content_hash_of(v["content"]) != v["content_hash"]:
        raise _fail("content does not match its content_hash (edited or corrupt)", vat)
    artifact = v.get("artifact_hash")
    if kind == "adapter":
        content = v["content"]
        if content.get("kind") != "adapter" or not isinstance(content.get("artifact_hash"), str):
            raise _fail("an adapter version's content must be {kind: adapter, artifact_hash, files}",
                        f"{vat}.content")
        if artifact != content["artifact_hash"]:
            raise _fail("artifact_hash differs from the content's artifact_hash", f"{vat}.artifact_hash")
        if contract:
            raise _fail("an adapter version has no variable contract", f"{vat}.contract")
    elif artifact is not None:
        raise _fail("a prompt version has no artifact_hash", f"{vat}.artifact_hash")


def validate_bundle(bundle: Any, where: str = "bundle") -> list[dict[str, Any]]:
    """Check shape, types, names, labels and every hash, as strictly as a commit; return the items.
    BundleError naming the first problem (its key path, e.g. ``items[0].versions[1].created_at``)."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"not a promptyard bundle (format must be {FORMAT!r})", where=where)
    if bundle.get("format_version") != FORMAT_VERSION or isinstance(bundle.get("format_version"), bool):
        raise BundleError(f"unsupported bundle format_version {bundle.get('format_version')!r}", where=where)
    items = bundle.get("items")
    if not isinstance(items, list):
        raise BundleError("'items' must be a list", where=f"{where}: items")
    seen: set[tuple[Any, Any]] = set()
    for i, item in enumerate(items):
        at = f"{where}: items[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("versions"), list) or not item["versions"]:
            raise _fail("each item needs 'name', 'kind' and a non-empty 'versions' list", at)
        kind = item.get("kind")
        if kind not in ("prompt", "adapter"):
            raise _fail(f"unknown kind {kind!r}", f"{at}.kind", hint="prompt or adapter")
        try:
            check_name(item.get("name"))
        except UsageError as exc:
            raise _fail(exc.message, f"{at}.name", exc.hint) from None
        if (kind, item["name"]) in seen:
            raise _fail(f"{kind} {item['name']!r} appears twice", f"{at}.name")
        seen.add((kind, item["name"]))
        tags = item.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise _fail("tags must be a list of strings", f"{at}.tags")
        for key in ("task_type", "description"):
            _string(item.get(key), key, at)
        if not isinstance(item.get("archived", False), bool):
            raise _fail("archived must be true or false", f"{at}.archived")
        for j, v in enumerate(item["versions"]):
            _check_version(kind, v, j, f"{at}.versions[{j}]")
        labels = item.get("labels") or {}
        if not isinstance(labels, dict):
            raise _fail(f"labels must be a mapping of label to version number, got {type(labels).__name__}",
                        f"{at}.labels", hint="e.g. labels: {production: 2}")
        for label, number in labels.items():
            try:
                check_label(label)
            except UsageError as exc:
                raise _fail(exc.message, f"{at}.labels", exc.hint) from None
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(item["versions"]):
                raise _fail(f"label {label!r} points to missing version {number!r}", f"{at}.labels.{label}")
    return items


def import_bundle(
    self: Any,
    source: str | Path | dict[str, Any],
    *,
    as_name: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Import a bundle (path or dict). Returns ``{"items": [{name, added, skipped, labels}]}``."""
    where = str(source) if isinstance(source, str | os.PathLike) else "bundle"
    items = validate_bundle(read_bundle(source), where)
    if as_name is not None:
        check_name(as_name)
        if len(items) != 1:
            raise BundleError(
                f"--as needs a bundle with exactly one item, this one has {len(items)}", where=where
            )
    contracts = _check_contents(items, where)
    with self.write() as s:
        report = [
            _import_item(self, s, item, as_name or item["name"], actor or default_author(), contracts[i])
            for i, item in enumerate(items)
        ]
    return {"items": report}


def _check_contents(items: list[dict[str, Any]], where: str) -> list[list[Any]]:
    """Per item, the contract of each version as a commit would compute it; BundleError when a prompt's
    content is not a canonical template, its template does not compile, or a given contract differs."""
    out = []
    for i, item in enumerate(items):
        contracts = []
        for j, v in enumerate(item["versions"]):
            vat = f"{where}: items[{i}].versions[{j}]"
            if item["kind"] != "prompt":
                contracts.append([])
                continue
            try:
                template = Template.from_dict(v["content"], where=f"{vat}.content")
                if template.content_hash() != v["content_hash"]:
                    raise _fail("content is not a template in canonical form", f"{vat}.content",
                                hint="export it again with `promptyard prompt export`")
                contract = [var.to_dict() for var in check_template(template)]
            except BundleError:
                raise
            except PromptyardError as exc:
                raise _fail(exc.message, f"{vat}.content" + (f": {exc.where}" if exc.where else ""),
                            exc.hint) from None
            except (TypeError, ValueError, AttributeError) as exc:
                raise _fail(f"bad template field: {exc}", f"{vat}.content") from None
            given = v.get("contract")
            if given is not None and given != contract:
                raise _fail("contract does not match the template's variables", f"{vat}.contract",
                            hint="leave 'contract' out: it is computed from the template")
            contracts.append(contract)
        out.append(contracts)
    return out


def _import_item(self: Any, s: Any, item: dict[str, Any], name: str, actor: str,
                 contracts: list[Any]) -> dict[str, Any]:
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
        stored = (conn.execute("SELECT manifest FROM artifacts WHERE hash = ?", (v["artifact_hash"],)).fetchone()
                  if v.get("artifact_hash") else None)
        if v.get("artifact_hash") and stored is None:
            raise BundleError(
                f"adapter artifact {v['artifact_hash'][:12]} is not in this registry's store",
                where=f"{name}@{v['number']}",
                hint="bundles carry metadata, not adapter files",
            )
        if stored is not None and pickled_files(json.loads(stored[0] or "{}")):
            raise BundleError("the stored adapter holds pickled weights; only safetensors are accepted",
                              where=f"{name}@{v['number']}")
        version = Version(
            item_id=item_id,
            number=v["number"],
            content_hash=v["content_hash"],
            content=json.dumps(v["content"], sort_keys=True, ensure_ascii=False),
            contract=json.dumps(contracts[v["number"] - 1]),
            message=v.get("message") or "",
            author=v.get("author") or "",
            parent_id=ids.get(v["number"] - 1),
            created_at=_created_at(v.get("created_at"), name) or utcnow(),
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
