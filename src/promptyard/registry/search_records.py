"""Search records: the only code that reads or writes the ``searches``/``search_trials`` tables."""

from __future__ import annotations

import json
from typing import Any

from promptyard.core.errors import UnknownRefError
from promptyard.registry.tables import utcnow
from promptyard.registry.tables_search import Search, SearchTrial

_HINT = "see `promptyard tune searches`"


def start_search(registry: Any, search_id: str, *, method: str, adapter_name: str, scheduler: str,
                 search_alg: str, metric: str, mode: str, trials: int, spec: dict[str, Any],
                 storage_path: str) -> None:
    """Record a search as running (before any trial starts)."""

    with registry.write() as s:
        s.add(Search(id=search_id, status="running", method=method, adapter_name=adapter_name,
                     scheduler=scheduler, search_alg=search_alg, metric=metric, mode=mode,
                     trials_requested=trials, spec=json.dumps(spec, default=str), storage_path=storage_path))


def mark_resumed(registry: Any, search_id: str) -> None:
    """Count one more resume of a search and set it running again."""

    with registry.write() as s:
        row = s.get(Search, search_id)
        if row is None:
            raise UnknownRefError(f"no search '{search_id}'", where=search_id, hint=_HINT)
        row.resumed += 1
        row.status = "running"
        s.add(row)


def mark_extending(registry: Any, search_id: str, trials: int) -> None:
    """Set a finished search running again for ``trials`` more trials (``tune search --extend``)."""

    with registry.write() as s:
        row = s.get(Search, search_id)
        if row is None:
            raise UnknownRefError(f"no search '{search_id}'", where=search_id, hint=_HINT)
        row.status = "running"
        row.trials_requested += trials
        s.add(row)


def reopen(registry: Any, search_id: str, record: dict[str, Any]) -> None:
    """Put back the status and trial count of ``record`` (an extension that did not finish)."""

    with registry.write() as s:
        row = s.get(Search, search_id)
        if row is not None:
            row.status, row.trials_requested = record["status"], record["trials_requested"]
            s.add(row)


def finish_search(registry: Any, search_id: str, trials: list[dict[str, Any]], *, status: str,
                  best_trial_id: str | None, best_metric: float | None, adapter_version_id: int | None,
                  plot_path: str = "", error: str = "", summary: dict[str, Any] | None = None,
                  trials_requested: int | None = None) -> None:
    """Replace the search's trial rows with ``trials`` and close it, in one transaction; ``summary``: the
    objectives, Pareto front, best trial per method and extensions."""
    from sqlmodel import delete


    with registry.write() as s:
        row = s.get(Search, search_id)
        if row is None:
            raise UnknownRefError(f"no search '{search_id}'", where=search_id)
        s.exec(delete(SearchTrial).where(SearchTrial.search_id == search_id))
        for t in trials:
            s.add(SearchTrial(search_id=search_id, trial_id=t["trial_id"], status=t["status"],
                              params=json.dumps(t["params"], default=str), iterations=t["iterations"],
                              best_metric=t["best_metric"], last_metric=t["last_metric"],
                              history=json.dumps(t["history"], default=str), error=t.get("error") or ""))
        row.status, row.best_trial_id, row.best_metric = status, best_trial_id, best_metric
        row.adapter_version_id, row.plot_path, row.error = adapter_version_id, plot_path, error
        if summary is not None:
            row.summary = json.dumps(summary, default=str)
        if trials_requested is not None:
            row.trials_requested = trials_requested
        row.finished_at = utcnow()
        s.add(row)


def get_search(registry: Any, search_id: str) -> dict[str, Any]:
    """A search with its trials as plain dicts; UnknownRefError when there is none."""
    from sqlmodel import select


    with registry.session() as s:
        row = s.get(Search, search_id)
        if row is None:
            raise UnknownRefError(f"no search '{search_id}'", where=search_id, hint=_HINT)
        trials = s.exec(select(SearchTrial).where(SearchTrial.search_id == search_id)
                        .order_by(SearchTrial.trial_id)).all()
        out = row.model_dump()
        out["spec"] = json.loads(row.spec)
        out["summary"] = json.loads(row.summary or "{}")
        out["trials"] = [{**t.model_dump(exclude={"id", "search_id"}), "params": json.loads(t.params),
                          "history": json.loads(t.history)} for t in trials]
        return out


def list_searches(registry: Any) -> list[dict[str, Any]]:
    """Every search, newest first (without trial rows)."""
    from sqlmodel import select


    with registry.session() as s:
        rows = s.exec(select(Search).order_by(Search.created_at.desc())).all()
        return [{**r.model_dump(exclude={"spec", "summary"})} for r in rows]
