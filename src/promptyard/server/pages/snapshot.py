"""Item lists for the list pages, kept while the registry file does not change.

Listing every item is one registry read over the whole table (a few hundred milliseconds for 5,000 prompts
on a busy 2-core machine), and people page, sort and filter the same list. The answers of
``Registry.list`` and ``Registry.last_changes`` are kept per registry state: the key includes the
server's change counter (SQLite's ``PRAGMA data_version`` through the server's
:class:`~promptyard.server.watch.ChangeWatcher`), which moves on any commit by any process, so a label
moved by the CLI shows on the next page load. Only used from the event loop's thread.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from promptyard.server.context import ServerContext

MAX_ENTRIES = 32


class Snapshot:
    """Computed values for one registry state; all of them dropped as soon as the state moves on."""

    def __init__(self) -> None:
        self.token: int | None = None
        self.entries: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, ctx: ServerContext, key: tuple, compute: Callable[[], Any]) -> Any:
        token = ctx.watcher.token()  # before computing: a change during it only makes the next call recompute
        if token != self.token:
            self.entries.clear()
            self.token = token
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = self.entries[key] = compute()
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popitem(last=False)
        return value


_SNAPSHOTS: weakref.WeakKeyDictionary[ServerContext, Snapshot] = weakref.WeakKeyDictionary()


def cached(ctx: ServerContext, key: tuple, compute: Callable[[], Any]) -> Any:
    snapshot = _SNAPSHOTS.get(ctx)
    if snapshot is None:
        snapshot = _SNAPSHOTS[ctx] = Snapshot()
    return snapshot.get(ctx, key, compute)
