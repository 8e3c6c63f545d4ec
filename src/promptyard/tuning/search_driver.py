"""The search driver: runs or resumes a Tune experiment, then alone writes the outcome to the registry."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core import events
from promptyard.core.errors import UsageError
from promptyard.core.lookups import read_meta
from promptyard.core.paths import check_id, work_dir
from promptyard.runtime.adapter_loading import default_adapter_name
from promptyard.runtime.lineage import validate_lineage
from promptyard.runtime.ray_session import RayTarget, ray_session, tune_storage_dir
from promptyard.tuning.resume import RESUME_DIR
from promptyard.tuning.search import (
    TRIAL_STATE_FILE,
    SearchSpec,
    apply_params,
    experiment_dir,
    fit,
    load_spec,
)
from promptyard.tuning.search_results import (
    TrialRecord,
    best_per_method,
    best_trial,
    collect_trials,
    mark_objectives,
    plot_trials,
    progress_callback,
)
from promptyard.tuning.space import space_methods
from promptyard.tuning.task_mix import mix_name


@dataclass
class SearchResult:
    """What ``tune search``/``tune resume`` hands back: every trial, the best, and what was registered."""

    search_id: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    adapter: Any = None  # VersionInfo of the registered best adapter
    plot_path: Path | None = None
    output_dir: Path | None = None
    metric: str = "val_metric"
    extra: dict[str, Any] = field(default_factory=dict)
    best_per_method: dict[str, TrialRecord] = field(default_factory=dict)
    pareto: list[TrialRecord] = field(default_factory=list)  # several objectives: the front, else empty
    objectives: list[Any] = field(default_factory=list)  # tuning.objectives.Objective, the primary first

    def to_dict(self) -> dict[str, Any]:
        """What ``--json`` prints (and the Python API may hand on as it is)."""
        best = self.best
        return {"search_id": self.search_id, "metric": self.metric,
                "objectives": [o.to_dict() for o in self.objectives],
                "best": best.to_dict() if best else None,
                "best_per_method": {m: t.to_dict() for m, t in self.best_per_method.items()},
                "pareto": [t.trial_id for t in self.pareto],
                "adapter": self.adapter.ref if self.adapter else None,
                "plot": str(self.plot_path), "trials": [t.to_dict() for t in self.trials],
                **self.extra}


def output_dir(search_id: str) -> Path:
    """Where a search's plot, results JSON and best adapter copy go (``<work_dir>/searches/<id>``)."""
    path = work_dir() / "searches" / check_id(search_id, what="search id")
    path.mkdir(parents=True, exist_ok=True)
    return path


def describe_spec(spec: SearchSpec) -> dict[str, Any]:
    """The JSON-able part of a spec for the search record (refs, space, scheduler, resources)."""
    train = spec.train_spec
    refs = dataclasses.asdict(train) if dataclasses.is_dataclass(train) else {"train_spec": repr(train)}
    plain = {k: v for k, v in dataclasses.asdict(spec).items() if k != "train_spec"}
    return {**plain, "train": json.loads(json.dumps(refs, default=str))}


def _method_of(spec: SearchSpec) -> str:
    """The method searched: the spec's, or those of a method choice joined by ``,``."""
    return ",".join(space_methods(spec.space)) or str(getattr(spec.train_spec, "method", "") or "")


def adapter_name(spec: SearchSpec) -> str:
    """``--name`` when given, else the default name of a search's best adapter (``<prompt>-<method>-search``;
    ``<prompt>-methods-search`` for a method choice)."""
    if spec.name:
        return spec.name
    mix = getattr(spec.train_spec, "mix", None)
    if mix is not None:
        return f"{mix_name(mix)}-{_method_of(spec).replace('_', '-')}-search"
    method = "methods" if space_methods(spec.space) else _method_of(spec)
    return default_adapter_name(getattr(spec.train_spec, "prompt", None), method, searched=True)


def _clean_adapter(checkpoint: str, dest: Path) -> Path:
    """A copy of the checkpoint without promptyard's trial and resume state: the adapter as PEFT saved it."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(checkpoint, dest, ignore=shutil.ignore_patterns(TRIAL_STATE_FILE, RESUME_DIR))
    return dest


def _trained_lineage(best: TrialRecord) -> dict[str, Any]:
    """What the training loop saved with the best checkpoint (``promptyard_adapter.json``): base model and its
    content hash, method and its config, prompt version and hash, data fingerprints, task, package versions."""
    meta = read_meta(best.checkpoint) if best.checkpoint else {}
    if not meta:
        return {}
    out: dict[str, Any] = {"base_model": {"ref": meta.get("base_model"), "hash": meta.get("base_model_hash"),
                                          "kind": meta.get("model_kind")},
                           "task": {"name": meta.get("task"), "labels": meta.get("labels"),
                                    "choices": meta.get("choices")},
                           "method": {"name": meta.get("method"), "config": meta.get("method_config") or {}}}
    if isinstance(meta.get("mix"), list):  # a task mix: every task's prompt version and data, no single one
        out["task"] = {"name": "mix", "labels": None, "choices": None}
        out["mix"] = {"source": None,  # the spec knows it: see _lineage
                      "tasks": [{**t, "prompt": {k: v for k, v in (t.get("prompt") or {}).items()
                                                 if k != "template"}} for t in meta["mix"]]}
        if isinstance(meta.get("mix_metrics"), dict):
            out["mix_metrics"] = meta["mix_metrics"]
        out["packages"] = meta.get("packages") or {}
        if "text_format" in meta:  # one per task: eval of any task's prompt is the text it was trained on
            out["text_format"] = meta["text_format"]
        return out
    if isinstance(meta.get("prompt"), dict):
        out["prompt"] = {k: v for k, v in meta["prompt"].items() if k != "template"}
    for key in ("data", "packages", "text_format"):
        if key in meta:
            out[key] = meta[key]
    return out


def _lineage(spec: SearchSpec, best: TrialRecord) -> dict[str, Any]:
    """The best trial's lineage, in the one schema of :mod:`promptyard.runtime.lineage`."""
    trial_spec = apply_params(spec.train_spec, best.params)
    train = dataclasses.asdict(trial_spec) if dataclasses.is_dataclass(trial_spec) else {}
    trained = _trained_lineage(best)
    # a trainer of its own may save no metadata: name what the spec says
    base = trained.get("base_model") or {}
    if not base.get("ref"):
        base = {**base, "ref": str(getattr(spec.train_spec, "model", "") or "unknown")}
    method = trained.get("method") or {}
    if not method.get("name"):
        method = {"name": best.method(_method_of(spec)) or "custom", "config": method.get("config") or {}}
    metrics: dict[str, Any] = {spec.metric: best.best_metric, "metric_name": spec.metric}
    if "mix" in trained:
        trained["mix"]["source"] = (getattr(spec.train_spec, "mix", None) or {}).get("source")
        if "mix_metrics" in trained:  # each task's validation metrics at the best checkpoint
            metrics["tasks"] = trained.pop("mix_metrics")
    return validate_lineage(json.loads(json.dumps({
        **trained,
        "source": "search",
        "base_model": base,
        "method": method,
        "search": {"id": spec.search_id, "trial_id": best.trial_id, "scheduler": spec.scheduler,
                   "search_alg": spec.search_alg, "trials": spec.trials, "metric": spec.metric,
                   "mode": spec.mode, "objectives": [o.to_dict() for o in spec.objective_list()]},
        "hyperparameters": best.params,
        "metrics": metrics,
        "train": train,
        "seed": getattr(spec.train_spec, "seed", None),
    }, default=str)))


def finalize(spec: SearchSpec, grid: Any, registry: Any | None) -> SearchResult:
    """Collect trial records, plot, and (driver only) record the search and register the best adapter."""
    keys = tuple(o.name for o in spec.objective_list())
    return finalize_records(spec, collect_trials(grid, spec.metric, spec.mode, keys), registry)


def summarize(spec: SearchSpec, records: list[TrialRecord]) -> tuple[TrialRecord | None, dict[str, TrialRecord],
                                                                     list[TrialRecord]]:
    """The best trial, the best of each method and the Pareto front (records get their objective values)."""
    objectives = spec.objective_list()
    front_ids = mark_objectives(records, objectives)
    by_method = best_per_method(records, spec.mode, _method_of(spec) if not space_methods(spec.space) else "")
    return best_trial(records, spec.mode), by_method, [r for r in records if r.trial_id in front_ids]


def finalize_records(spec: SearchSpec, records: list[TrialRecord], registry: Any | None, *,
                     previous: dict[str, Any] | None = None, new_ids: list[str] | None = None) -> SearchResult:
    """Plot the trials, and (driver only) record the search and register the best trial's adapter.

    ``previous``: the search record an extension adds to; its best adapter stays when the best trial is
    still one of its trials."""
    best, by_method, front = summarize(spec, records)
    objectives = spec.objective_list()
    out = output_dir(spec.search_id)
    plot = plot_trials(records, spec.metric, out / "trials.png", title=f"search {spec.search_id}",
                       objectives=objectives)
    (out / "results.json").write_text(json.dumps([r.to_dict() for r in records], indent=2, default=str))
    result = SearchResult(spec.search_id, records, best, plot_path=plot, output_dir=out, metric=spec.metric,
                          best_per_method=by_method, pareto=front, objectives=objectives)
    extensions = list(((previous or {}).get("summary") or {}).get("extensions") or [])
    if spec.extension:
        extensions.append({"extension": spec.extension, "trials": len(new_ids or []),
                           "trial_ids": list(new_ids or [])})
    result.extra["extensions"] = extensions
    if registry is None:
        return result
    from promptyard.registry.search_records import finish_search

    version = None
    kept = previous is not None and best is not None and best.trial_id == previous.get("best_trial_id")
    if kept:
        version = next((v for v in registry.versions(previous["adapter_name"], kind="adapter")
                        if v.id == previous.get("adapter_version_id")), None)
        result.adapter = version
    elif best is not None:
        adapter_dir = _clean_adapter(best.checkpoint, out / "best-adapter")
        version = registry.register_adapter(
            adapter_name(spec), adapter_dir, lineage=_lineage(spec, best),
            message=(f"best of search {spec.search_id} "
                     f"(trial {best.trial_id}, {spec.metric}={best.best_metric:.4g})"))
        if spec.label:
            registry.label_adapter(version.ref, spec.label, reason=f"search {spec.search_id}")
        result.adapter = version
    summary = {"objectives": [o.to_dict() for o in objectives], "pareto": [r.trial_id for r in front],
               "best_per_method": {m: {"trial_id": t.trial_id, "best_metric": t.best_metric, "params": t.params}
                                   for m, t in by_method.items()},
               "extensions": extensions}
    status = "finished" if best is not None else "failed"
    adapter_id = previous.get("adapter_version_id") if kept else (version.id if version else None)
    finish_search(registry, spec.search_id, [r.to_dict() for r in records], status=status,
                  best_trial_id=best.trial_id if best else None,
                  best_metric=best.best_metric if best else None,
                  adapter_version_id=adapter_id, plot_path=str(plot),
                  error="" if best else "no trial produced a checkpoint", summary=summary,
                  trials_requested=len(records) if previous is not None else None)
    return result


def record_start(spec: SearchSpec, registry: Any | None) -> None:
    """Record the search as started (before any trial runs), so an interrupted one can be found."""
    if registry is None:
        return
    from promptyard.registry.search_records import start_search

    start_search(registry, spec.search_id, method=_method_of(spec), adapter_name=adapter_name(spec),
                 scheduler=spec.scheduler, search_alg=spec.search_alg, metric=spec.metric, mode=spec.mode,
                 trials=spec.trials, spec=describe_spec(spec),
                 storage_path=str(tune_storage_dir() / spec.search_id))


def callbacks_for(spec: SearchSpec) -> list[Any] | None:
    """The search's progress as events, when someone listens (the CLI); none otherwise."""
    return [progress_callback(spec.trials, spec.metric, spec.mode)] if events.listened() else None


def run_search(spec: SearchSpec, target: RayTarget, *, registry: Any | None = None,
               num_cpus: int | None = None) -> SearchResult:
    """Run a search on Ray (local or a cluster) and record it; ``registry=None`` records nothing."""
    record_start(spec, registry)
    with ray_session(target, num_cpus=num_cpus):
        grid = fit(spec, callbacks=callbacks_for(spec))
        return finalize(spec, grid, registry)


def resume_search(search_id: str, target: RayTarget, *, registry: Any | None = None,
                  num_cpus: int | None = None) -> SearchResult:
    """Finish an interrupted search from Tune's saved state; finished trials are not run again.

    The id is checked and looked up in the registry before any file is read: only a search this registry
    recorded, in the Tune storage folder it recorded, is resumed."""
    check_id(search_id, what="search id")
    if registry is not None:
        from promptyard.registry.search_records import get_search, mark_resumed

        record = get_search(registry, search_id)  # UnknownRefError for a search nobody started
        expected = experiment_dir(search_id)
        if record.get("storage_path") and Path(record["storage_path"]).resolve() != expected.resolve():
            raise UsageError(f"search '{search_id}' keeps its Tune state in {record['storage_path']}, "
                             f"not in this work dir ({expected.parent})", where=search_id,
                             hint="resume it with PROMPTYARD_WORKDIR set as when it started")
    spec = load_spec(search_id)
    if registry is not None:
        mark_resumed(registry, search_id)
    with ray_session(target, num_cpus=num_cpus):
        grid = fit(spec, resume=True, callbacks=callbacks_for(spec))
        return finalize(spec, grid, registry)
