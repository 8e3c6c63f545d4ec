"""Hyper-parameter search over tuning trials with Ray Tune.

Each trial runs the same training loop as ``tune run`` (:func:`promptyard.tuning.loop.train`) and reports
the validation metric at every evaluation interval, so schedulers can stop weak trials early. A checkpoint
holds the best adapter and the loop's resume state (never the base model), so a retried trial or a PBT
exploit continues training from it. Workers never touch the registry: :mod:`promptyard.tuning.search_records` is called
by the driver alone, after Tune returns.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, UsageError
from promptyard.core.paths import check_id, inside
from promptyard.core.template import Template
from promptyard.core.text_files import parse_json, read_text
from promptyard.runtime.ray_session import apply_ray_env, tune_storage_dir
from promptyard.tuning.objectives import LOOP_REPORTS, Objective, parse_objectives
from promptyard.tuning.resume import MUTABLE, RESUME_DIR
from promptyard.tuning.search_optuna import flat_params, tune_searcher
from promptyard.tuning.space import METHOD, branches, is_conditional, searched_keys, to_tune
from promptyard.tuning.spec import TrainSpec

SCHEDULERS = ("asha", "median", "pbt", "fifo")
SEARCH_ALGS = ("random", "optuna")
SPEC_FILE = "promptyard_search.json"
OLD_SPEC_FILE = "promptyard_search.pkl"  # written by older versions; never unpickled
TRIAL_STATE_FILE = "promptyard_trial.json"
DONE_FILE = "promptyard_done.json"
DEFAULT_TRAINER = "promptyard.tuning.loop:train"


@dataclass
class SearchSpec:
    """Everything a search needs, as plain values: saved as JSON so ``tune resume`` rebuilds the same trainable."""

    train_spec: Any  # a TrainSpec; each trial's params are merged into its config overrides
    space: dict[str, Any]  # a validated promptyard space (see tuning.space), not Tune domains
    trials: int = 8
    scheduler: str = "asha"
    search_alg: str = "random"
    concurrent: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    metric: str = "val_metric"
    mode: str = "auto"  # max, min, or auto: follows the metric and the task (see default_mode)
    max_reports: int = 64  # ASHA's max_t: evaluation intervals a trial may report at most
    grace_period: int = 1
    reduction_factor: int = 2
    keep_checkpoints: int = 2
    max_failures: int = 1
    seed: int = 0
    name: str | None = None  # adapter name for the best trial
    label: str | None = None
    trainer: str = DEFAULT_TRAINER  # "module:function" with train()'s signature
    points: list[dict[str, Any]] | None = None  # configurations to try first (warm start, benchmarks)
    search_id: str = field(default_factory=lambda: new_search_id())
    #: ``["accuracy", "-trainable_params"]`` as given, or their checked form ``{"name", "mode", "label"}``;
    #: the first is the primary one and sets ``metric``/``mode``. None: ``metric`` alone
    objectives: list[Any] | None = None
    extension: int = 0  # 0 for the search itself; k for its k-th ``--extend`` (a Tune experiment of its own)
    #: earlier trials that seed the sampler (``{"params": ..., "values": [...]}``), for an extension
    seeds: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        check_id(self.search_id, what="search id")  # it names a folder in the work dir
        if self.scheduler not in SCHEDULERS:
            raise UsageError(f"unknown scheduler '{self.scheduler}'", where="--scheduler",
                             hint=f"use one of: {', '.join(SCHEDULERS)}")
        if self.search_alg not in SEARCH_ALGS:
            raise UsageError(f"unknown search algorithm '{self.search_alg}'", where="--search-alg",
                             hint=f"use one of: {', '.join(SEARCH_ALGS)}")
        if self.scheduler == "pbt" and self.search_alg != "random":
            raise UsageError("PBT mutates trials itself; it cannot be combined with optuna",
                             where="--search-alg", hint="use --search-alg random with --scheduler pbt")
        if self.mode not in ("max", "min", "auto"):
            raise UsageError(f"mode must be max, min or auto, got '{self.mode}'", where="--mode")
        for name, value in (("--trials", self.trials), ("--concurrent", self.concurrent or 1)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"must be a positive integer, got {value!r}", where=name)
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise UsageError("resources per trial must be positive",
                             where="--cpus-per-trial/--gpus-per-trial")
        if self.scheduler == "pbt" and (is_conditional(self.space) or len(self.objectives or ()) > 1):
            raise UsageError("PBT copies weights between trials: it cannot search a method choice or "
                             "several objectives", where="--scheduler", hint="use asha")
        if self.scheduler == "pbt":
            pbt_mutations(self, dict(self.space))  # PBT needs a key it may change mid-trial: say so now
        if self.objectives:
            self.objectives = [o.to_dict() for o in self.objective_list()]
            self.metric, self.mode = self.objectives[0]["name"], self.objectives[0]["mode"]
        if self.mode == "auto":  # last: it resolves the prompt (the task may come from it)
            self.mode = default_mode(self.train_spec, self.metric)
        if is_conditional(self.space) and isinstance(self.train_spec, TrainSpec):
            check_branches(self.train_spec, self.space)

    def objective_list(self) -> list[Objective]:
        """The objectives, checked (the primary first); ``[metric]`` when none were given."""
        if not self.objectives:
            return [Objective(self.metric, self.mode, self.metric)]
        if all(isinstance(o, dict) for o in self.objectives):
            return [Objective(o["name"], o["mode"], o.get("label", o["name"])) for o in self.objectives]
        own = self.trainer != DEFAULT_TRAINER or not isinstance(self.train_spec, TrainSpec)
        kind = None if own else _task_kind(self.train_spec)
        return parse_objectives([str(o) for o in self.objectives],
                                default_mode=lambda name: default_mode(self.train_spec, name),
                                classification=None if kind is None else kind == "classification",
                                reported=None if own else LOOP_REPORTS)

    def experiment_name(self) -> str:
        """Tune's experiment folder name: the search id, and ``<id>-x<k>`` for its k-th extension."""
        return self.search_id if not self.extension else f"{self.search_id}-x{self.extension}"

    def define_by_run(self) -> bool:
        """Sampled through Optuna's define-by-run interface: a method choice, objectives or seeds."""
        return is_conditional(self.space) or len(self.objective_list()) > 1 or bool(self.seeds)


#: reported numbers that are better when smaller
LOSSES = ("val_loss", "train_loss")


def _task_kind(train_spec: TrainSpec) -> str:
    from promptyard.tuning.plan import plan_run

    return plan_run(train_spec).task.kind  # a required member of every task type


def default_mode(train_spec: Any, metric: str) -> str:
    """``min`` for a loss, ``max`` otherwise; ``val_metric`` is accuracy for classification (max) but the
    validation loss for generation tasks (min), so it follows the spec's task."""
    if metric in LOSSES:
        return "min"
    if metric != "val_metric":
        return "max"

    if not isinstance(train_spec, TrainSpec):  # a trainer of its own: its val_metric is a score
        return "max"
    return "max" if _task_kind(train_spec) == "classification" else "min"


def check_branches(train_spec: TrainSpec, space: dict[str, Any]) -> None:
    """Plan one trial of each method of a method choice (loads nothing), so a method that cannot train
    this model, task or setting fails before any trial starts, naming the method."""
    from promptyard.tuning.plan import plan_run

    for method, part in branches(space).items():
        params = {k: (next(iter(v.values()))[0] if isinstance(v, dict) else v) for k, v in part.items()}
        try:
            plan_run(apply_params(train_spec, {METHOD: method, **params}))
        except PromptyardError as exc:
            raise UsageError(f"method '{method}' of the search space cannot run: {exc.message}",
                             where=exc.where or "--space", hint=exc.hint) from None


def new_search_id() -> str:
    """A sortable, unique id: ``s-YYYYmmdd-HHMMSS-xxxx``."""
    return time.strftime("s-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)


def resolve_trainer(path: str) -> Callable[..., Any]:
    """Import ``module:function`` (the training entry point a trial calls)."""
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import trainer '{path}': {exc}", where="trainer") from exc


def apply_params(train_spec: Any, params: dict[str, Any]) -> Any:
    """The TrainSpec with the trial's hyper-parameters merged over its config overrides (a ``method``
    parameter, from a method choice, becomes the spec's method)."""
    if not dataclasses.is_dataclass(train_spec):
        raise UsageError(f"train spec must be a dataclass, got {type(train_spec).__name__}")
    names = {f.name for f in dataclasses.fields(train_spec)}
    params = dict(params)
    chosen = {METHOD: params.pop(METHOD)} if METHOD in params else {}
    if chosen and METHOD not in names:
        raise UsageError(f"{type(train_spec).__name__} has no 'method' field for the searched method")
    for candidate in ("overrides", "config", "config_overrides"):
        if candidate in names:
            merged = {**(getattr(train_spec, candidate) or {}), **params}
            return dataclasses.replace(train_spec, **{candidate: merged}, **chosen)
    raise UsageError(f"{type(train_spec).__name__} has no config-overrides field to put trial params in")


def _numeric(metrics: dict[str, Any]) -> dict[str, Any]:
    """What a trial reports to Tune: numbers only (paths and objects stay in the trial)."""
    return {k: v for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))}


def run_trial(config: dict[str, Any], spec: SearchSpec) -> None:
    """The Tune trainable: one training run with ``config`` merged into the spec."""
    from ray import tune

    train = resolve_trainer(spec.trainer)
    trial_dir = Path(tune.get_context().get_trial_dir())
    done = trial_dir / DONE_FILE
    if done.exists():
        # train() already returned for this trial, but the driver died before Tune's state snapshot
        # recorded it: hand Tune the final result again instead of training anything twice.
        final = json.loads(done.read_text())
        tune.report(final["metrics"], checkpoint=tune.Checkpoint.from_directory(final["adapter"]))
        return
    work = trial_dir / "train"
    if work.exists():  # a reused actor or a retry: start from what Tune restored, not from stale files
        shutil.rmtree(work)
    work.mkdir(parents=True)
    restored = tune.get_checkpoint()
    if restored is not None:  # a retry or PBT exploit: the loop resumes from the state found here
        with restored.as_directory() as src:
            unpack_checkpoint(Path(src), work)
    staging = trial_dir / "report-staging"
    last: dict[str, Any] = {}

    def report(metrics: dict[str, Any]) -> None:
        adapter_dir = metrics.get("adapter_dir")
        checkpoint = None
        if adapter_dir:
            # The checkpoint is the adapter alone plus a few bytes of loop state; never the base model.
            if staging.exists():
                shutil.rmtree(staging)
            shutil.copytree(adapter_dir, staging)
            (staging / TRIAL_STATE_FILE).write_text(json.dumps(_numeric(metrics)))
            if metrics.get("resume_dir"):  # the adapter now, optimizer and loop position: to continue from
                shutil.copytree(metrics["resume_dir"], staging / RESUME_DIR)
            checkpoint = tune.Checkpoint.from_directory(str(staging))
        last["metrics"] = _numeric(metrics)
        tune.report(last["metrics"], checkpoint=checkpoint)

    train(apply_params(spec.train_spec, flat_params(config)), report=report, checkpoint_dir=work)
    if last and staging.exists():
        final_adapter = trial_dir / "final-adapter"
        if final_adapter.exists():
            shutil.rmtree(final_adapter)
        staging.rename(final_adapter)
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps({"metrics": last["metrics"], "adapter": str(final_adapter)}))
        os.replace(tmp, done)


def unpack_checkpoint(src: Path, work: Path) -> None:
    """Lay a trial checkpoint out as the loop's run dir: the best adapter in ``best/``, ``resume/`` beside it.

    A checkpoint without a resume state (a trainer of its own) is copied as it is.
    """
    shutil.copytree(src, work, dirs_exist_ok=True)
    if not (work / RESUME_DIR).is_dir():
        return
    best = work / "best"
    best.mkdir(exist_ok=True)
    for entry in list(work.iterdir()):
        if entry.name not in (RESUME_DIR, "best", TRIAL_STATE_FILE):
            os.rename(entry, best / entry.name)


def pbt_mutations(spec: SearchSpec, tune_space: dict[str, Any]) -> dict[str, Any]:
    """The searched keys PBT may change mid-trial: those a resumed run can take (lr, weight decay, ...).

    Others (a LoRA rank, the batch size) change the weights' shapes or the batch order: they are sampled once
    per trial and an exploit copies them with the checkpoint, so the donor's state always fits.
    """

    mutations = {k: tune_space[k] for k in searched_keys(spec.space) if k in MUTABLE}
    if not mutations:
        raise UsageError("PBT needs a searched key it can change during training",
                         where="--space", hint=f"search at least one of: {', '.join(MUTABLE)}")
    return mutations


def _scheduler(spec: SearchSpec, tune_space: dict[str, Any]) -> Any:
    """The trial scheduler; it names the primary metric itself when Optuna's searcher holds the objectives."""
    from ray.tune.schedulers import (
        ASHAScheduler,
        FIFOScheduler,
        MedianStoppingRule,
        PopulationBasedTraining,
    )

    own = {"metric": spec.metric, "mode": spec.mode} if spec.define_by_run() else {}
    if spec.scheduler == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=spec.max_reports,
                             grace_period=spec.grace_period, reduction_factor=spec.reduction_factor, **own)
    if spec.scheduler == "median":
        return MedianStoppingRule(time_attr="training_iteration", grace_period=spec.grace_period,
                                  min_samples_required=2, **own)
    if spec.scheduler == "pbt":
        return PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=2,
                                       hyperparam_mutations=pbt_mutations(spec, tune_space), seed=spec.seed)
    return FIFOScheduler()


def _search_alg(spec: SearchSpec) -> Any:
    if spec.define_by_run():
        return tune_searcher(spec.space, spec.objective_list(), search_alg=spec.search_alg,
                             seed=spec.seed + spec.extension, seeds=spec.seeds or ())
    if spec.search_alg == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=spec.seed, points_to_evaluate=spec.points)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    # max_concurrent here: Tune ignores TuneConfig.max_concurrent_trials for a SearchAlgorithm instance.
    return BasicVariantGenerator(random_state=spec.seed + spec.extension, max_concurrent=spec.concurrent or 0,
                                 points_to_evaluate=spec.points)


def make_trainable(spec: SearchSpec) -> Any:
    """The trainable with the spec bound and the per-trial resources (fractional GPUs when asked)."""
    from ray import tune

    resources: dict[str, float] = {"cpu": spec.cpus_per_trial}
    if spec.gpus_per_trial:
        resources["gpu"] = spec.gpus_per_trial
    return tune.with_resources(tune.with_parameters(run_trial, spec=spec), resources)


def experiment_dir(search_id: str) -> Path:
    """Tune's experiment folder for a search (under the work dir); the id is checked first, and the folder
    must resolve inside the Tune storage folder (no ``..``, no separator, no symlink leading out)."""
    return inside(tune_storage_dir(), check_id(search_id, what="search id"))


def build_tuner(spec: SearchSpec, callbacks: list[Any] | None = None) -> Any:
    """A fresh Tuner for ``spec`` (storage, checkpoints and retries configured)."""
    from ray import tune


    # a define-by-run searcher holds the space and the objectives itself: Tune is told neither
    own = spec.define_by_run()
    tune_space = {} if own else to_tune(spec.space)
    return tune.Tuner(
        make_trainable(spec),
        param_space=tune_space,
        tune_config=tune.TuneConfig(
            metric=None if own else spec.metric, mode=None if own else spec.mode, num_samples=spec.trials,
            scheduler=_scheduler(spec, tune_space), search_alg=_search_alg(spec),
            # the random generator limits concurrency itself (see _search_alg); Tune warns if told twice
            max_concurrent_trials=spec.concurrent if (own or spec.search_alg != "random") else None,
            reuse_actors=True),
        run_config=_run_config(spec, callbacks))


def _run_config(spec: SearchSpec, callbacks: list[Any] | None) -> Any:
    from ray import tune

    return tune.RunConfig(
        name=spec.experiment_name(),
        storage_path=str(tune_storage_dir()),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=spec.keep_checkpoints, checkpoint_score_attribute=spec.metric,
            checkpoint_score_order=spec.mode),
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        callbacks=callbacks or [],
        verbose=0,
    )


def spec_to_json(spec: SearchSpec) -> dict[str, Any]:
    """The spec as plain JSON data (a Template prompt as its dict); :func:`spec_from_json` reverses it."""
    train = spec.train_spec
    if not isinstance(train, TrainSpec):
        train_data: dict[str, Any] | None = None  # a trainer of its own: such a search cannot be resumed
    else:
        train_data = dataclasses.asdict(train)
        if isinstance(train.prompt, Template):
            train_data["prompt"] = {"template": train.prompt.to_dict()}
    plain = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "train_spec"}
    return json.loads(json.dumps({"format": 1, "search": plain, "train_spec": train_data,
                                  "train_spec_type": type(train).__name__}))


def spec_from_json(data: Any, where: str) -> SearchSpec:
    """A SearchSpec from :func:`spec_to_json`'s data; UsageError naming ``where`` when it is not that."""
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("search"), dict):
        raise UsageError("not a promptyard search spec", where=where)
    train = data.get("train_spec")
    if not isinstance(train, dict):
        raise UsageError(f"the search used a train spec of its own ({data.get('train_spec_type')}); "
                         "only searches over promptyard's TrainSpec can be resumed", where=where)
    try:
        names = {f.name for f in dataclasses.fields(TrainSpec)}
        fields = {k: v for k, v in train.items() if k in names}
        if isinstance(fields.get("prompt"), dict):
            fields["prompt"] = Template.from_dict(fields["prompt"]["template"], where=f"{where}: prompt")
        if isinstance(fields.get("split_fractions"), list):
            fields["split_fractions"] = tuple(fields["split_fractions"])
        plain = {f.name: data["search"][f.name] for f in dataclasses.fields(SearchSpec)
                 if f.name in data["search"]}
        return SearchSpec(train_spec=TrainSpec(**fields), **plain)
    except (TypeError, KeyError, ValueError) as exc:
        raise UsageError(f"damaged search spec: {exc}", where=where) from None


def save_spec(spec: SearchSpec) -> Path:
    """Keep the spec (as JSON, never a pickle) next to Tune's state so ``tune resume`` rebuilds the
    identical trainable."""
    folder = experiment_dir(spec.experiment_name())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SPEC_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(spec_to_json(spec), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_spec(search_id: str) -> SearchSpec:
    """The spec saved by :func:`save_spec` (plain JSON, read from promptyard's own Tune storage only); a
    clear error when the search's files are gone or were written by a version that pickled them."""
    folder = experiment_dir(search_id)
    path = folder / SPEC_FILE
    if not path.is_file():
        if (folder / OLD_SPEC_FILE).exists():
            raise UsageError(f"search '{search_id}' was saved by an older promptyard as a pickle, which is "
                             "never loaded", where=search_id, hint="start the search again")
        raise UsageError(f"no Tune state for search '{search_id}' under {tune_storage_dir()}",
                         where=search_id, hint="resume on the machine (work dir) that started the search")
    text = read_text(path, what="search spec", error=UsageError)
    return spec_from_json(parse_json(text, where=str(path), error=UsageError), str(path))


def fit(spec: SearchSpec, *, resume: bool = False, callbacks: list[Any] | None = None) -> Any:
    """Run (or resume) the Tune experiment; needs a Ray connection (see ``runtime.ray_session.ray_session``)."""
    apply_ray_env()
    # Save Tune's experiment state often, so a killed driver loses little (default is adaptive, ~minutes).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    from ray import tune

    if resume:
        path = str(experiment_dir(spec.experiment_name()))
        if not tune.Tuner.can_restore(path):
            raise UsageError(f"search '{spec.search_id}' has no restorable Tune state", where=path)
        tuner = tune.Tuner.restore(path, trainable=make_trainable(spec), resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
        if callbacks:  # restore keeps the old RunConfig; progress callbacks belong to this process
            tuner._local_tuner._run_config.callbacks = list(callbacks)
    else:
        save_spec(spec)
        tuner = build_tuner(spec, callbacks)
    return tuner.fit()
