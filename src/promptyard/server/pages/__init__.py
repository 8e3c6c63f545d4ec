"""The web UI of ``promptyard serve``: server-rendered pages at ``/`` over the same registry and tokens as
the JSON API (``/api/v1``). Templates and static files ship in this package; nothing loads from outside."""

from __future__ import annotations

from fastapi import APIRouter

import promptyard.server.pages.adapters as adapters
import promptyard.server.pages.evals as evals
import promptyard.server.pages.prompts as prompts
import promptyard.server.pages.searches as searches
import promptyard.server.pages.session as session

#: every page route, for ``promptyard.server.app.ROUTERS`` (after the API routers: none of them overlap)
router = APIRouter(include_in_schema=False)
for part in (session.router, prompts.router, adapters.router, evals.router, searches.router):
    router.include_router(part)
