"""The adapter pages: the list, and one adapter with its lineage (base model and hash, the prompt version
it was trained with, data fingerprint, method and settings, metrics, training curves), versions and labels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

import promptyard.server.pages.charts as charts
import promptyard.server.pages.labels as labels
import promptyard.server.pages.prompts as prompts
import promptyard.server.pages.web as web
from promptyard.core.errors import PromptyardError
from promptyard.core.records import VersionInfo
from promptyard.registry import search_records
from promptyard.registry.api import Registry
from promptyard.server.auth import context

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)
KIND = "adapter"


@router.get("/adapters")
async def list_page(request: Request) -> Response:
    token = web.signed_in(request)
    query = dict(request.query_params)
    data = prompts.filtered(context(request), token, KIND, query)
    return web.page(request, "adapters.html", section="adapters", title="Adapters",
                    links=prompts.page_links(query, data["pages"]), **data)


def _prompt_link(reg: Registry, lineage: dict[str, Any]) -> dict[str, Any] | None:
    """The prompt version an adapter was trained with: a link when it is a registry version."""
    prompt = lineage.get("prompt") or {}
    resolved = prompt.get("resolved")
    if not resolved:
        return {"ref": prompt.get("ref"), "hash": prompt.get("hash"), "url": None} if prompt else None
    name, _, number = resolved.rpartition("@")
    return {"ref": resolved, "hash": prompt.get("hash"), "url": f"/prompts/{web._path(name)}/-/template?v={number}"}


def curves(reg: Registry, version: VersionInfo) -> list[Any]:
    """Training curves: a search's best trial history (from the search record), or curves in the lineage."""
    lineage = version.lineage
    out = []
    search = lineage.get("search") or {}
    if search.get("id"):
        try:
            row = search_records.get_search(reg, search["id"])
        except PromptyardError:
            row = None
        trial = next((t for t in (row or {}).get("trials", []) if t["trial_id"] == search.get("trial_id")), None)
        if trial and trial["history"]:
            metric = row["metric"]
            out.append(charts.lines(f"validation {metric} of trial {trial['trial_id']}",
                                    [(metric, charts.trial_points(trial["history"], metric))],
                                    x_label="step", y_label=metric))
    train, evals = lineage.get("curves", {}).get("train"), lineage.get("curves", {}).get("eval")
    if train or evals:
        series = [("train loss", [(s["step"], s["loss"]) for s in train or []]),
                  ("validation loss", [(e["step"], e["val_loss"]) for e in evals or []])]
        out.append(charts.lines("loss", series, x_label="step", y_label="loss"))
    return out


def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for key, inner in value.items() for pair in _flat(inner, f"{prefix}{key}.")]
    return [(prefix.rstrip("."), value)]


@router.post("/adapters/{name:path}/-/label")
async def move_label(request: Request, name: str) -> Response:
    return await labels.move(request, KIND, name)


@router.post("/adapters/{name:path}/-/rollback")
async def rollback(request: Request, name: str) -> Response:
    return await labels.rollback(request, KIND, name)


@router.get("/adapters/{name:path}")
async def adapter_page(request: Request, name: str) -> Response:
    token = web.signed_in(request)
    reg = context(request).registry()
    head = prompts.header(context(request), token, name, KIND)
    version = prompts._pick(head["versions"], request.query_params.get("v"))
    lineage = version.lineage
    method = lineage.get("method")
    method_name = method.get("name") if isinstance(method, dict) else method
    settings = _flat({k: v for k, v in (method.get("config") or {}).items()} if isinstance(method, dict) else {})
    settings += _flat(lineage.get("hyperparameters") or {}, "hyperparameters.")
    metrics = _flat(lineage.get("metrics") or {})
    base = lineage.get("base_model") or {}
    data = lineage.get("data") or {}
    return prompts.overview(request, KIND, name, "adapter.html", version=version, method_name=method_name,
                            settings=settings, metrics=metrics, base=base, data=data,
                            prompt=_prompt_link(reg, lineage), charts=curves(reg, version),
                            search=lineage.get("search") or None)
