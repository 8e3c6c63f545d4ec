"""``tune search --extend``: more trials for a finished search, under the same search record.

The extension is a run of its own (in-process, or a Tune experiment ``<id>-x<k>`` beside the search's),
its sampler seeded with every finished trial's parameters and objective values (Optuna's study gets them
as finished trials; see :mod:`promptyard.tuning.search_optuna`). The finished trials are read back from the
search's ``results.json``, never trained again; the record then holds all trials, the best of them, the
best per method and the Pareto front.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from promptyard.core.errors import UsageError
from promptyard.core.paths import check_id, work_dir
from promptyard.runtime.ray_session import RayTarget, ray_session
from promptyard.tuning.objectives import objective_values
from promptyard.tuning.search import SearchSpec, experiment_dir, fit, load_spec, save_spec
from promptyard.tuning.search_driver import SearchResult, callbacks_for, finalize_records
from promptyard.tuning.search_local import run_trials_local
from promptyard.tuning.search_results import TrialRecord, collect_trials


def load_finished(search_id: str, registry: Any) -> tuple[dict[str, Any], SearchSpec, list[TrialRecord]]:
    """A finished search's record, spec and trial records, for ``--extend``; checked before anything is
    written (an unknown or unfinished search, files from another work dir, a spec that is gone)."""
    from promptyard.registry.search_records import get_search

    check_id(search_id, what="search id")
    if registry is None:
        raise UsageError("extending a search needs the registry that recorded it", where=search_id)
    record = get_search(registry, search_id)  # UnknownRefError for a search nobody started
    if record["status"] != "finished":
        hint = f"finish it with `promptyard tune resume {search_id}`" if record["status"] == "running" \
            else "only a search that finished can be extended"
        raise UsageError(f"search '{search_id}' is {record['status']}, not finished", where=search_id, hint=hint)
    expected = experiment_dir(search_id)
    if record.get("storage_path") and Path(record["storage_path"]).resolve() != expected.resolve():
        raise UsageError(f"search '{search_id}' keeps its files in {record['storage_path']}, "
                         f"not in this work dir ({expected.parent})", where=search_id,
                         hint="extend it with PROMPTYARD_WORKDIR set as when it started")
    spec = load_spec(search_id)
    results = work_dir() / "searches" / search_id / "results.json"
    try:
        records = [TrialRecord.from_dict(t) for t in json.loads(results.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"the trial results of search '{search_id}' are gone or damaged ({results}): {exc}",
                         where=search_id) from None
    return record, spec, records


def extension_spec(spec: SearchSpec, record: dict[str, Any], records: list[TrialRecord], trials: int
                   ) -> SearchSpec:
    """The spec of the next extension: ``trials`` new trials, the sampler seeded with the finished ones."""
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise UsageError(f"must be a positive integer, got {trials!r}", where="--trials")
    objectives = spec.objective_list()
    seeds = []
    # a random sampler learns nothing from results: only Optuna's TPE is seeded (a new seed draws new trials)
    for r in records if spec.search_alg == "optuna" else ():
        values = objective_values(r.history, objectives) if r.status != "error" else None
        if values is not None:
            seeds.append({"params": r.params, "values": values})
    done = len(((record.get("summary") or {}).get("extensions")) or [])
    return dataclasses.replace(spec, trials=trials, extension=done + 1, seeds=seeds, points=None)


def extend_search(search_id: str, trials: int, target: RayTarget | None, *, registry: Any,
                  num_cpus: int | None = None) -> SearchResult:
    """Add ``trials`` trials to a finished search (``target=None``: in this process), the sampler seeded
    with the finished trials' results; finished trials are not run again, and the search record, its best
    trial and (when a new trial is better) its best adapter are updated in place."""
    from promptyard.registry.search_records import mark_extending, reopen

    record, spec, records = load_finished(search_id, registry)
    ext = extension_spec(spec, record, records, trials)
    mark_extending(registry, search_id, trials)
    try:
        if target is None:
            save_spec(ext)
            new = run_trials_local(ext, start=len(records))
        else:
            with ray_session(target, num_cpus=num_cpus):
                grid = fit(ext, callbacks=callbacks_for(ext))
                new = collect_trials(grid, ext.metric, ext.mode, tuple(o.name for o in ext.objective_list()))
    except BaseException:
        reopen(registry, search_id, record)  # the search stays as it was: finished, with its trials
        raise
    total = dataclasses.replace(ext, trials=len(records) + len(new))
    return finalize_records(total, [*records, *new], registry, previous=record,
                            new_ids=[r.trial_id for r in new])
