"""``RemoteRegistry``: the registry over HTTP, with the read, render and label methods of the local
:class:`promptyard.registry.api.Registry`.

Never stale, cheap, surviving an outage:

- every resolved reference is kept in memory with its ETag; the next ``resolve`` sends ``If-None-Match``
  and a 304 costs one small round trip (no body);
- with ``watch=True`` a background thread long-polls the server's watch endpoint for every cached
  reference; while that poll is up, a cached reference is served with no request at all, and a label
  move reaches the cache as soon as the server notices it (tens of milliseconds); ``on_change(ref,
  version)`` is called from that thread for each change;
- every good answer is also written to disk; when the server cannot be reached (connection refused,
  timeout, 502/503/504 from a proxy) the client serves the copy in memory, else the one on disk, else the
  ``fallback`` template given for that reference, with a :class:`StaleWarning`, instead of failing the
  application. The next successful request brings the new state back.

Rendering happens here, in the caller's process, with the same core renderer and sandbox as the local
registry: a cached template renders without the server.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import logging
import os
import tarfile
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from promptyard.core.errors import (
    AuthError,
    ForbiddenError,
    IntegrityError,
    PromptyardError,
    RegistryError,
    ServerUnreachable,
    TooLargeError,
    UnknownRefError,
    UsageError,
    ValidationError,
)
from promptyard.core.paths import home_dir
from promptyard.core.records import ItemInfo, LabelMoveInfo, VersionInfo, parse_time
from promptyard.core.refs import parse_ref
from promptyard.core.render import Rendered, render
from promptyard.core.template import Template
from promptyard.remote.disk import DiskCache

log = logging.getLogger(__name__)

API = "/api/v1"
UNREACHABLE_STATUS = (502, 503, 504)
WATCH_POLL_S = 10.0
_LOG_KEYS = {"version": ("type", "time", "number", "content_hash", "message", "author", "parent"),
             "label": ("type", "time", "label", "from", "to", "action", "actor", "reason")}
_STATUS_ERRORS: dict[int, type[PromptyardError]] = {400: UsageError, 401: AuthError, 403: ForbiddenError,
                                                    404: UnknownRefError, 409: RegistryError, 413: TooLargeError,
                                                    422: ValidationError}


class RemoteUnsupported(UsageError, AttributeError):
    """A Registry feature that needs the file itself (sessions, artifact paths, integrity scans)."""


class StaleWarning(UserWarning):
    """The server could not be reached; a cached (possibly old) copy or a fallback was served instead."""


class _Entry:
    __slots__ = ("etag", "version", "fresh")

    def __init__(self, etag: str, version: VersionInfo):
        self.etag, self.version, self.fresh = etag, version, False


def _q(ref: str) -> str:
    return quote(str(ref), safe="/@:")


class RemoteRegistry:
    """A registry served by ``promptyard serve`` at ``url`` (see the module docstring)."""

    def __init__(self, url: str, token: str | None = None, *, watch: bool = False, timeout: float = 10.0,
                 cache_dir: str | os.PathLike | None = None,
                 fallback: Mapping[str, Template | Mapping[str, Any] | str] | None = None,
                 on_change: Callable[[str, VersionInfo | None], None] | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get("PROMPTYARD_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self._watch_http: httpx.Client | None = None
        self._headers = headers
        self._transport = transport
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._disk = DiskCache(Path(cache_dir) if cache_dir else home_dir() / "remote", self.url)
        self._fallback = dict(fallback or {})
        self._on_change = on_change
        self._templates: dict[str, Template] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._watcher: threading.Thread | None = None
        self.watching = watch
        self.offline = False
        self._warned = False
        if watch:
            self._watch_http = httpx.Client(base_url=self.url, headers=headers, transport=transport,
                                            timeout=httpx.Timeout(timeout, read=WATCH_POLL_S + timeout))
            self._watcher = threading.Thread(target=self._watch_loop, name="promptyard-watch", daemon=True)
            self._watcher.start()

    # ---------------------------------------------------------------- plumbing
    @property
    def path(self) -> str:
        return self.url

    def __getattr__(self, name: str) -> Any:
        # a local Registry attribute the client does not offer: one clear error (also for the CLI), and
        # hasattr() still answers False
        if name.startswith("_"):
            raise AttributeError(name)
        raise RemoteUnsupported(f"{name!r} needs the registry file and is not available over HTTP", where=self.url,
                                hint="run it where the file is, with --registry PATH")

    def __repr__(self) -> str:
        return f"RemoteRegistry({self.url!r})"

    def close(self) -> None:
        """Stop the watcher and close the connections."""
        self._stop.set()
        self._wake.set()
        if self._watch_http is not None:
            self._watch_http.close()  # ends the poll in flight, so the thread need not wait for its timeout
        if self._watcher is not None:
            self._watcher.join(timeout=2.0)
            self._watcher = None
        self._http.close()

    def __enter__(self) -> RemoteRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, response: httpx.Response, unprocessable: type[PromptyardError] = ValidationError,
               conflict: type[PromptyardError] = RegistryError) -> PromptyardError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict) or "message" not in body:
            body = {"message": f"the server answered {response.status_code}", "where": str(response.url)}
        cls = {422: unprocessable, 409: conflict}.get(response.status_code) or _STATUS_ERRORS.get(
            response.status_code, PromptyardError)
        return cls(body["message"], where=body.get("where"), hint=body.get("hint"))

    def _request(self, method: str, path: str, *, unprocessable: type[PromptyardError] = ValidationError,
                 conflict: type[PromptyardError] = RegistryError, **kw: Any) -> httpx.Response:
        """Send a request; PromptyardError for an error answer, ServerUnreachable when nothing answers."""
        try:
            response = self._http.request(method, API + path, **kw)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach the registry server: {exc}", where=self.url,
                                    hint="is `promptyard serve` running there?") from None
        if response.status_code in UNREACHABLE_STATUS:
            raise ServerUnreachable(f"the registry server answered {response.status_code}", where=self.url,
                                    hint="the server (or the proxy in front of it) is down")
        if response.status_code >= 400:
            raise self._error(response, unprocessable, conflict)
        self.offline = self._warned = False
        return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self._request(method, path, **kw).json()

    # ---------------------------------------------------------------- resolving (cached, never stale)
    def resolve(self, ref: str, *, kind: str = "prompt") -> VersionInfo:
        """The version ``ref`` names, validated with the server (one 304) or kept fresh by the watcher;
        the last good copy, with a StaleWarning, when the server cannot be reached."""
        key = (kind, str(ref))
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.fresh and self._watching_ok():
                return entry.version
        headers = {"If-None-Match": entry.etag} if entry else {}
        try:
            response = self._request("GET", f"/{kind}s/{_q(ref)}", headers=headers)
        except ServerUnreachable as exc:
            return self._stale(key, exc)
        if response.status_code == 304 and entry is not None:
            return entry.version
        data = response.json()
        return self._store(key, data["etag"], data)

    def _store(self, key: tuple[str, str], etag: str, data: dict[str, Any]) -> VersionInfo:
        version = VersionInfo.from_json(data)
        with self._lock:
            new = key not in self._cache
            self._cache[key] = _Entry(etag, version)
        self._disk.put(key[0], key[1], {"etag": etag, "version": version.to_dict()})
        if new:
            self._wake.set()
        return version

    def _stale(self, key: tuple[str, str], exc: ServerUnreachable) -> VersionInfo:
        self.offline = True
        kind, ref = key
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None:
            source, version = "the copy in memory", entry.version
        else:
            saved = self._disk.get(kind, ref)
            if saved is None:
                raise exc
            version = VersionInfo.from_json(saved["version"])
            with self._lock:
                self._cache[key] = _Entry(saved["etag"], version)
            source = "the copy on disk"
        if not self._warned:  # once per outage, not on every call while it lasts
            self._warned = True
            warnings.warn(StaleWarning(f"{exc.message}; serving {source} of {ref} ({version.ref}), which may be "
                                       "old"), stacklevel=3)
        return version

    def _watching_ok(self) -> bool:
        return self._watcher is not None and not self.offline

    def get_template(self, ref: str) -> Template:
        return self.resolve(ref).template

    def render(self, ref: str, variables: Mapping[str, Any] | None = None, *, seed: int | None = None,
               fallback: Template | Mapping[str, Any] | str | None = None) -> Rendered:
        """Resolve ``ref`` and render it here (same renderer and sandbox as the local registry). When the
        server is unreachable and no copy of ``ref`` was ever kept, ``fallback`` (or the client's
        ``fallback[ref]``) is rendered instead, with a StaleWarning."""
        try:
            version = self.resolve(ref)
            template = self._templates.get(version.content_hash)
            if template is None:  # content is immutable per hash: this cache never goes stale
                template = self._templates[version.content_hash] = version.template
        except ServerUnreachable as exc:
            chosen = fallback if fallback is not None else self._fallback.get(str(ref))
            if chosen is None:
                raise
            template = chosen if isinstance(chosen, Template) else (
                Template(kind="single", text=chosen) if isinstance(chosen, str)
                else Template.from_dict(dict(chosen), where=f"fallback for {ref}"))
            warnings.warn(StaleWarning(f"{exc.message}; rendering the fallback given for {ref}"), stacklevel=2)
        return render(template, variables or {}, seed=seed)

    # ---------------------------------------------------------------- watch
    def _watch_loop(self) -> None:
        backoff = 0.2
        assert self._watch_http is not None
        while not self._stop.is_set():
            with self._lock:
                entries = {key: e for key, e in self._cache.items() if key[0] == "prompt"}
            if not entries:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            body = {"refs": [{"ref": ref, "etag": e.etag} for (_, ref), e in entries.items()],
                    "timeout": WATCH_POLL_S}
            with self._lock:
                # covered while this poll is out: it returns as soon as one of them changes on the server
                for e in entries.values():
                    e.fresh = True
            try:
                sent = self._watch_http.post(f"{API}/prompts/-/watch", json=body, headers=self._headers)
                if sent.status_code != 200:
                    raise httpx.TransportError(f"watch answered {sent.status_code}")
                changed = {c["ref"]: c for c in sent.json()["changed"]}
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:  # RuntimeError: closed client
                if self._stop.is_set():
                    return
                with self._lock:
                    for e in self._cache.values():
                        e.fresh = False
                log.info("watch of %s failed (%s); retrying in %.1f s", self.url, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            with self._lock:
                for (kind, ref), e in entries.items():
                    change = changed.get(ref)
                    if change is None:
                        continue
                    e.fresh = False
                    if self._cache.get((kind, ref)) is not e:
                        continue  # replaced by a direct read meanwhile
                    if change["version"] is None:
                        self._cache.pop((kind, ref), None)
                    else:
                        self._cache[(kind, ref)] = _Entry(change["etag"], VersionInfo.from_json(change["version"]))
            for ref, change in changed.items():
                if change["version"] is not None:
                    self._disk.put("prompt", ref, {"etag": change["etag"], "version": change["version"]})
                if self._on_change is not None:
                    version = VersionInfo.from_json(change["version"]) if change["version"] else None
                    try:
                        self._on_change(ref, version)
                    except Exception:  # the application's callback must not stop the watcher
                        log.exception("on_change callback failed for %s", ref)

    # ---------------------------------------------------------------- reads
    def versions(self, name: str, *, kind: str = "prompt") -> builtins.list[VersionInfo]:
        return [VersionInfo.from_json(v) for v in self._json("GET", f"/{kind}s/{_q(name)}/-/versions")]

    def _labels(self, name: str, kind: str) -> dict[str, Any]:
        return self._json("GET", f"/{kind}s/{_q(name)}/-/labels")

    def labels(self, name: str, *, kind: str = "prompt") -> dict[str, int]:
        return self._labels(name, kind)["labels"]

    def label_history(self, name: str, label: str | None = None, *, kind: str = "prompt"
                      ) -> builtins.list[LabelMoveInfo]:
        moves = [LabelMoveInfo.from_json(m) for m in self._labels(name, kind)["history"]]
        return [m for m in moves if label is None or m.label == label]

    def log(self, name: str, *, kind: str = "prompt") -> builtins.list[dict[str, Any]]:
        events = []
        for e in self._json("GET", f"/{kind}s/{_q(name)}/-/log"):
            event = {k: e.get(k) for k in _LOG_KEYS[e["type"]]}
            event["time"] = parse_time(event["time"])
            events.append(event)
        return events

    def list(self, pattern: str | None = None, *, kind: str = "prompt", tag: str | None = None,
             template_kind: str | None = None, task_type: str | None = None, label: str | None = None,
             archived: bool = False) -> builtins.list[ItemInfo]:
        params = {k: v for k, v in {"pattern": pattern, "tag": tag, "task_type": task_type, "label": label,
                                    "archived": archived}.items() if v is not None}
        if template_kind is not None:
            params["kind"] = template_kind
        out, offset = [], 0
        while True:
            page = self._json("GET", f"/{kind}s", params={**params, "offset": offset, "limit": 500})
            out += [ItemInfo.from_json(i) for i in page["items"]]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return out

    def item(self, name: str, *, kind: str = "prompt") -> ItemInfo:
        found = [i for i in self.list(name, kind=kind, archived=True) if i.name == name]
        if not found:
            raise UnknownRefError(f"unknown {kind} {name!r}", hint=f"`promptyard {kind} list` shows what exists")
        return found[0]

    @property
    def protected_labels(self) -> tuple[str, ...]:
        """Labels that only an admin token (with force) may move."""
        return tuple(self._json("GET", "/prompts/-/protected"))

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return self._json("GET", "/prompts/-/diff", params={"a": a, "b": b})

    # ---------------------------------------------------------------- writes
    def commit(self, name: str, template: Template | Mapping[str, Any], message: str = "", *,
               author: str | None = None, task_type: str | None = None, tags: builtins.list[str] | None = None,
               description: str | None = None, lineage: dict[str, Any] | None = None) -> VersionInfo | None:
        """Add a version (None, writing nothing, when it equals the latest). The server records the token's
        name as the author."""
        if lineage:
            raise UsageError("lineage cannot be sent to a remote registry", where="commit")
        content = template.to_dict() if isinstance(template, Template) else dict(template)
        body = {"template": content, "message": message, "author": author, "task_type": task_type, "tags": tags,
                "description": description}
        data = self._json("POST", f"/prompts/{_q(name)}/-/versions", json=body)
        return VersionInfo.from_json(data["version"]) if data["created"] else None

    def label(self, ref: str, label: str, *, force: bool = False, reason: str = "", actor: str | None = None,
              kind: str = "prompt") -> LabelMoveInfo | None:
        """Point ``label`` at ``ref``'s version (None when it already points there). The server records the
        token's name as the actor."""
        parsed = parse_ref(ref)
        target = {"version": parsed.number} if parsed.number is not None else {"ref": str(ref)}
        data = self._json("PUT", f"/{kind}s/{_q(parsed.name)}/-/labels/{quote(label, safe='')}",
                          json={**target, "force": force, "reason": reason})
        return LabelMoveInfo.from_json(data) if data["moved"] else None

    def rollback(self, name: str, label: str = "production", to: int | None = None, *, reason: str = "",
                 actor: str | None = None, kind: str = "prompt") -> LabelMoveInfo:
        data = self._json("POST", f"/{kind}s/{_q(name)}/-/rollback", json={"label": label, "to": to, "reason": reason})
        return LabelMoveInfo.from_json(data)

    def archive(self, name: str, *, undo: bool = False, kind: str = "prompt") -> bool:
        if kind != "prompt":
            raise UsageError("only prompts can be archived over the API", where="archive")
        return self._json("POST", f"/prompts/{_q(name)}/-/archive", json={"undo": undo})["changed"]

    # ---------------------------------------------------------------- adapters
    def resolve_adapter(self, ref: str) -> VersionInfo:
        return self.resolve(ref, kind="adapter")

    def label_adapter(self, ref: str, label: str, *, force: bool = False, reason: str = "",
                      actor: str | None = None) -> LabelMoveInfo | None:
        return self.label(ref, label, force=force, reason=reason, kind="adapter")

    def rollback_adapter(self, name: str, label: str = "production", to: int | None = None, *, reason: str = "",
                         actor: str | None = None) -> LabelMoveInfo:
        return self.rollback(name, label, to, reason=reason, kind="adapter")

    def adapter_manifest(self, ref: str) -> dict[str, str]:
        return self._json("GET", f"/adapters/{_q(ref)}/-/manifest")

    def download_adapter(self, ref: str, folder: str | os.PathLike) -> Path:
        """Write adapter version ``ref``'s PEFT folder to ``folder`` (new or empty), after checking every
        file against the hashes recorded at registration (IntegrityError naming the file otherwise)."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise UsageError(f"{folder} exists and is not empty", hint="choose a new folder")
        version = self.resolve(ref, kind="adapter")
        manifest = self.adapter_manifest(version.ref)
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        if digest != version.artifact_hash:
            raise IntegrityError("the manifest does not match the artifact hash", where=version.ref)
        archive = self._request("GET", f"/adapters/{_q(version.ref)}/-/download", conflict=IntegrityError).content
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            names = sorted(m.name for m in members)
            if names != sorted(manifest):
                raise IntegrityError("the archive's files differ from the recorded ones", where=version.ref)
            for member in members:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if hashlib.sha256(data).hexdigest() != manifest[member.name]:
                    raise IntegrityError(f"{member.name} does not match its recorded hash", where=version.ref)
                target = folder / member.name
                if folder.resolve() not in target.resolve().parents:
                    raise IntegrityError(f"unsafe path in the archive: {member.name}", where=version.ref)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return folder

    # ---------------------------------------------------------------- evals, searches
    def eval_runs(self, limit: int = 50) -> builtins.list[dict[str, Any]]:
        return self._json("GET", "/evals", params={"limit": limit})

    def eval_run(self, run_id: int) -> dict[str, Any]:
        return self._json("GET", f"/evals/{int(run_id)}")

    def eval_examples(self, run_id: int, cell: int = 0, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return self._json("GET", f"/evals/{int(run_id)}/examples",
                          params={"cell": cell, "offset": offset, "limit": limit})

    def compare_runs(self, a: int, b: int, metrics: builtins.list[str] | None = None) -> builtins.list[dict]:
        params: dict[str, Any] = {"a": a, "b": b}
        if metrics:
            params["metric"] = metrics
        return self._json("GET", "/evals/compare", params=params)["comparisons"]

    def searches(self) -> builtins.list[dict[str, Any]]:
        return self._json("GET", "/searches")

    def search(self, search_id: str) -> dict[str, Any]:
        return self._json("GET", f"/searches/{quote(search_id, safe='')}")

    # ---------------------------------------------------------------- tokens (admin)
    def token_functions(self) -> Any:
        """The token functions of :mod:`promptyard.registry.tokens`, over the API (``promptyard token …``)."""
        return _RemoteTokens()


class _RemoteTokens:
    """``create_token``/``list_tokens``/``revoke_token`` with the local module's signatures."""

    @staticmethod
    def create_token(reg: RemoteRegistry, name: str, scope: str, prompts: str | None = None) -> tuple[Any, str]:
        data = reg._json("POST", "/tokens", json={"name": name, "scope": scope, "prompts": prompts})
        return _TokenView(data), data["token"]

    @staticmethod
    def list_tokens(reg: RemoteRegistry) -> builtins.list[Any]:
        return [_TokenView(t) for t in reg._json("GET", "/tokens")]

    @staticmethod
    def revoke_token(reg: RemoteRegistry, name: str) -> bool:
        before = {t.name: t.revoked_at for t in _RemoteTokens.list_tokens(reg)}
        reg._json("DELETE", f"/tokens/{quote(name, safe='')}")
        return before.get(name) is None


class _TokenView:
    def __init__(self, data: dict[str, Any]):
        self.name, self.scope, self.prompts = data["name"], data["scope"], data["prompts"]
        self.created_at, self.revoked_at = parse_time(data["created_at"]), parse_time(data["revoked_at"])
        self._data = {k: data[k] for k in ("name", "scope", "prompts", "created_at", "revoked_at")}

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

