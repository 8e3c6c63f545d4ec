"""What the render path needs to know about plugins without building the plugin host.

Building the host (:mod:`promptyard.core.host`) imports pluggy and every built-in plugin module: about a
fifth of a cold ``prompt render``. A plain template needs none of it unless a plugin could change what the
template means, so this module answers, cheaply: which ``promptyard`` entry points are installed (cached
in a file, see :func:`discover_entry_points`), whether a host built now would load or report any external
plugin (:func:`external_plugins_wanted`), and whether this process has built a host already
(:func:`host_needed`). It imports nothing of the host, so the host can import it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from promptyard.core.digest import sha256_hex
from promptyard.core.paths import cache_dir

ENTRY_POINT_GROUP = "promptyard"
#: what ``PROMPTYARD_PLUGINS`` lists: an allow-list of external plugins, ``none`` (or empty) for none
PLUGINS_ENV = "PROMPTYARD_PLUGINS"


def normalise(name: str) -> str:
    """A plugin or distribution name as ``PROMPTYARD_PLUGINS`` compares it."""
    return name.strip().lower().replace("_", "-")


def allowed_plugins() -> set[str] | None:
    """The external plugins ``PROMPTYARD_PLUGINS`` allows (normalised), None when it is not set."""
    raw = os.environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    names = {normalise(n) for n in raw.split(",") if n.strip()}
    return set() if names <= {"none"} else names


def _stamp(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _path_fingerprint() -> list[list]:
    """What ``importlib.metadata`` would read on each ``sys.path`` entry, as names and mtimes.

    Distributions are the ``*.dist-info`` / ``*.egg-info`` entries of each folder: an install or removal
    adds or removes one (names change), a reinstall recreates it and rewrites its ``entry_points.txt``
    (mtimes change). Nothing else in the folder counts, so writing files in the current folder (the
    ``''`` entry) keeps the cache valid. A zip file on the path counts by its own mtime.
    """
    out: list[list] = []
    for entry in sys.path:
        folder = entry or "."
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info")))
        except OSError:  # a zip file, or a folder that does not exist (yet)
            out.append([entry, _stamp(folder)])
            continue
        stamps = [f"{n}:{_stamp(os.path.join(folder, n))}:{_stamp(os.path.join(folder, n, 'entry_points.txt'))}"
                  for n in names]
        out.append([entry, sha256_hex("\0".join(stamps), "surrogateescape")])
    return out


_discovered: tuple[list[list], list[tuple[Any, ...]]] | None = None


def discover_entry_points() -> list[tuple[str, str, str | None, str | None]]:
    """The ``promptyard`` entry points as (name, value, distribution, version), sorted by name.

    Scanning every installed distribution costs 20-60 ms, most of the plugin host's share of a cold
    ``prompt render`` (importing ``importlib.metadata`` alone is 20 ms), so the result is cached in a file
    keyed by :func:`_path_fingerprint`: any install, upgrade or removal changes it and the scan runs again.
    Each ``sys.path`` (``python -m`` and a console script differ in the first entry) has its own file.
    Within one process the last answer is reused while the fingerprint is unchanged.
    """
    global _discovered
    fingerprint = _path_fingerprint()
    if _discovered is not None and _discovered[0] == fingerprint:
        return list(_discovered[1])
    cache_file = None
    found: list[tuple[Any, ...]] | None = None
    try:
        key = sha256_hex("\0".join(sys.path), "surrogateescape")[:16]
        cache_file = cache_dir("plugins") / f"entry-points-{key}.json"
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if cached.get("fingerprint") == fingerprint:
            found = [tuple(row) for row in cached["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if found is None:
        found = _scan()
        if cache_file is not None:
            try:
                tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"fingerprint": fingerprint, "entry_points": found}), encoding="utf-8")
                os.replace(tmp, cache_file)  # atomic: concurrent CLI starts never read half a file
            except OSError:
                pass  # a read-only cache folder only costs speed
    _discovered = (fingerprint, found)
    return list(found)  # type: ignore[arg-type]


def _scan() -> list[tuple[Any, ...]]:
    from importlib import metadata  # on a cache miss only: importing it costs 20 ms of a cold start

    return sorted(
        (ep.name, ep.value, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None)
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
    )


_wanted: dict[tuple[str | None, tuple[str, ...]], bool] = {}


def external_plugins_wanted() -> bool:
    """Whether a plugin host built now would load, or report on, any external plugin.

    True when an installed ``promptyard`` entry point is allowed, or when ``PROMPTYARD_PLUGINS`` names
    plugins (a name that matches none is reported as a failure, so that host is needed too). Answered once
    per ``sys.path`` and ``PROMPTYARD_PLUGINS`` in a process, as the host itself is built once: a plugin
    installed while a process runs is seen by the next process.
    """
    key = (os.environ.get(PLUGINS_ENV), tuple(sys.path))
    wanted = _wanted.get(key)
    if wanted is None:
        allowed = allowed_plugins()
        wanted = _wanted[key] = bool(allowed) if allowed is not None else bool(discover_entry_points())
    return wanted


def built_host() -> Any:
    """The plugin host this process built, else None (never builds one)."""
    host_module = sys.modules.get("promptyard.core.host")  # not imported: no host can exist
    return None if host_module is None else host_module.current_host()


def host_needed() -> bool:
    """Whether code that can do without the plugin host must use it: this process built one already
    (plugins may have been registered on it at run time), or external plugins would be loaded."""
    return built_host() is not None or external_plugins_wanted()


__all__ = ["ENTRY_POINT_GROUP", "PLUGINS_ENV", "allowed_plugins", "built_host", "discover_entry_points",
           "external_plugins_wanted", "host_needed", "normalise"]
