"""Optuna for searches that Ray Tune's space dicts cannot express: a method choice with a sub-space per
method, several objectives, or a study seeded with the trials of an earlier run of the search.

The space is sampled define-by-run: ``method`` first, then that method's parameters, named
``<method>/<key>`` so each method's parameters have their own distributions (Ray unflattens them to
``{"method": "lora", "lora": {"r": 8}}``; :func:`flat_params` turns that back into one flat mapping). A
seeded study holds the earlier trials as finished Optuna trials with their objective values, so the
sampler (TPE, or random) proposes the next trials knowing them. On Ray this runs through Tune's
``OptunaSearch`` (the study lives in a storage handed to it); in-process the same study is asked and told
directly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from promptyard.core.errors import UsageError
from promptyard.tuning.objectives import Objective
from promptyard.tuning.space import METHOD, branches, is_conditional

STUDY = "promptyard"

log = logging.getLogger(__name__)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UsageError("this search needs optuna (a method choice, several objectives or --extend "
                         "with --search-alg optuna)", where="--search-alg",
                         hint="pip install 'promptyard[ray]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _prefix(method: str | None) -> str:
    return f"{method}/" if method is not None else ""


def distribution(kind: str, args: Sequence[Any]) -> Any:
    """The Optuna distribution of one space entry (``randint``'s high is excluded, Optuna's included)."""
    from optuna import distributions as d

    if kind == "choice":
        return d.CategoricalDistribution(list(args))
    if kind == "uniform":
        return d.FloatDistribution(float(args[0]), float(args[1]))
    if kind == "loguniform":
        return d.FloatDistribution(float(args[0]), float(args[1]), log=True)
    if kind == "int":
        return d.IntDistribution(int(args[0]), int(args[1]))
    return d.IntDistribution(int(args[0]), int(args[1]) - 1)


def _suggest(trial: Any, name: str, kind: str, args: Sequence[Any]) -> Any:
    if kind == "choice":
        return trial.suggest_categorical(name, list(args))
    if kind in ("uniform", "loguniform"):
        return trial.suggest_float(name, float(args[0]), float(args[1]), log=kind == "loguniform")
    high = int(args[1]) if kind == "int" else int(args[1]) - 1
    return trial.suggest_int(name, int(args[0]), high)


class SpaceSampler:
    """Define-by-run sampling of a validated space (plain or conditional); picklable, as Tune saves it.

    Called with an Optuna trial, it suggests the searched parameters and returns the constants."""

    def __init__(self, space: Mapping[str, Any]):
        self.space = dict(space)

    def __call__(self, trial: Any) -> dict[str, Any]:
        parts = branches(self.space)
        method = None if None in parts else trial.suggest_categorical(METHOD, list(parts))
        constants: dict[str, Any] = {}
        for key, value in parts[method].items():
            if isinstance(value, Mapping):
                (kind, args), = value.items()
                _suggest(trial, _prefix(method) + key, kind, args)
            else:
                constants[_prefix(method) + key] = value
        return constants


def flat_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters as one flat mapping, from Tune's nested config (``{"method": "lora", "lora":
    {...}}``) or from Optuna's names (``"lora/r"``); a plain config is returned as it is."""
    method = config.get(METHOD)
    out = {k: v for k, v in config.items() if not (isinstance(method, str) and k == method)}
    if isinstance(method, str) and isinstance(config.get(method), Mapping):
        out.update(config[method])
    for key in [k for k in out if isinstance(k, str) and "/" in k]:
        owner, _, name = key.partition("/")
        value = out.pop(key)
        if owner == method:
            out[name] = value
    return out


def optuna_point(space: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[dict, dict] | None:
    """A finished trial's flat parameters as Optuna's (params, distributions); None when they do not fit
    the space (a method it no longer has, a missing key)."""
    parts = branches(space)
    method = params.get(METHOD) if is_conditional(space) else None
    if method not in parts:
        return None
    values: dict[str, Any] = {}
    dists: dict[str, Any] = {}
    if method is not None:
        values[METHOD], dists[METHOD] = method, distribution("choice", list(parts))
    for key, value in parts[method].items():
        if not isinstance(value, Mapping):
            continue
        if key not in params:
            return None
        (kind, args), = value.items()
        values[_prefix(method) + key] = params[key]
        dists[_prefix(method) + key] = distribution(kind, args)
    return values, dists


def make_sampler(search_alg: str, seed: int) -> Any:
    """TPE (single- and multi-objective) for ``optuna``, Optuna's random sampler for ``random``."""
    optuna = _optuna()
    if search_alg == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def new_study(space: Mapping[str, Any], objectives: Sequence[Objective], *, sampler: Any,
              seeds: Sequence[Mapping[str, Any]] = (), storage: Any = None) -> Any:
    """A study over ``space`` with one direction per objective, holding ``seeds`` (``{"params": flat
    params, "values": one per objective}``) as finished trials."""
    optuna = _optuna()
    study = optuna.create_study(storage=storage, study_name=STUDY, sampler=sampler, load_if_exists=False,
                                directions=["maximize" if o.mode == "max" else "minimize" for o in objectives])
    skipped = 0
    for seed in seeds:
        point = optuna_point(space, seed["params"])
        values = seed.get("values")
        if point is None or not values or len(values) != len(objectives):
            skipped += 1
            continue
        try:
            study.add_trial(optuna.trial.create_trial(params=point[0], distributions=point[1],
                                                      values=[float(v) for v in values]))
        except ValueError:  # a value outside its distribution (the space file changed)
            skipped += 1
    if skipped:
        log.warning("%d earlier trial(s) do not fit the search space and do not seed the sampler", skipped)
    return study


def tune_searcher(space: Mapping[str, Any], objectives: Sequence[Objective], *, search_alg: str, seed: int,
                  seeds: Sequence[Mapping[str, Any]] = ()) -> Any:
    """Ray Tune's ``OptunaSearch`` over the define-by-run space, its study already seeded."""
    optuna = _optuna()
    from ray.tune.search.optuna import OptunaSearch

    storage = optuna.storages.InMemoryStorage()
    sampler = make_sampler(search_alg, seed)
    new_study(space, objectives, sampler=sampler, seeds=seeds, storage=storage)
    names = [o.name for o in objectives]
    modes = [o.mode for o in objectives]
    return OptunaSearch(space=SpaceSampler(space), metric=names if len(names) > 1 else names[0],
                        mode=modes if len(modes) > 1 else modes[0], sampler=sampler, storage=storage,
                        study_name=STUDY)


class StudyProposer:
    """In-process: ask the seeded study for a trial's parameters, tell it the trial's outcome."""

    def __init__(self, space: Mapping[str, Any], objectives: Sequence[Objective], *, search_alg: str,
                 seed: int, seeds: Sequence[Mapping[str, Any]] = ()):
        self.sampler = SpaceSampler(space)
        self.study = new_study(space, objectives, sampler=make_sampler(search_alg, seed), seeds=seeds)
        self.open: dict[int, Any] = {}

    def ask(self) -> tuple[int, dict[str, Any]]:
        trial = self.study.ask()
        constants = self.sampler(trial)
        self.open[trial.number] = trial
        return trial.number, flat_params({**trial.params, **constants})

    def tell(self, number: int, values: Sequence[float] | None, *, failed: bool = False) -> None:
        from optuna.trial import TrialState

        trial = self.open.pop(number)
        if values is None:
            self.study.tell(trial, state=TrialState.FAIL if failed else TrialState.PRUNED)
        else:
            self.study.tell(trial, [float(v) for v in values])
