"""The search pages: every hyper-parameter search, and one with its trial table, a plot of the trials,
the best trial and the adapter version it became."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

import promptyard.server.pages.charts as charts
import promptyard.server.pages.web as web
from promptyard.core.errors import PromptyardError, UnknownRefError
from promptyard.registry import search_records
from promptyard.server.auth import context

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)


@router.get("/searches")
async def list_page(request: Request) -> Response:
    token = web.signed_in(request)
    rows = [r for r in search_records.list_searches(context(request).registry())
            if token.allows(r["adapter_name"])]
    return web.page(request, "searches.html", section="searches", title="Searches", rows=rows)


@router.get("/searches/{search_id}")
async def search_page(request: Request, search_id: str) -> Response:
    token = web.signed_in(request)
    reg = context(request).registry()
    row = search_records.get_search(reg, search_id)
    if not token.allows(row["adapter_name"]):
        raise UnknownRefError(f"no search '{search_id}'", where=search_id, hint="see `promptyard tune searches`")
    metric = row["metric"]
    series = [(f"trial {t['trial_id']}", charts.trial_points(t["history"], metric)) for t in row["trials"]]
    plot = charts.lines(f"validation {metric} per trial", series, x_label="step", y_label=metric)
    params = sorted({k for t in row["trials"] for k in t["params"]})
    adapter = None
    if row.get("adapter_version_id"):
        try:
            adapter = next((v for v in reg.versions(row["adapter_name"], kind="adapter")
                            if v.id == row["adapter_version_id"]), None)
        except PromptyardError:
            adapter = None
    return web.page(request, "search.html", section="searches", title=f"Search {search_id}", row=row, plot=plot,
                    params=params, adapter=adapter, metric=metric)
