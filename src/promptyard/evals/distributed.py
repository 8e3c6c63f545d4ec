"""Run a suite on Ray: cells cut into shards of example indices, spread over actors that keep models loaded.

One actor serves one base model (it keeps the base loaded and switches adapters in place, through the
runner's :class:`~promptyard.evals.modelpool.ModelPool`); a model gets several actors when there are
CPUs for them. Results stream back to the driver (``ray.wait``), which alone writes the response cache
and the registry. The driver tracks every shard by its example indices: a shard whose actor or node is
lost goes to another actor, and an example is accepted once only, so none is lost or counted twice.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptyard.core import events
from promptyard.core.errors import EvalError, PromptyardError
from promptyard.evals.cache import ResponseCache
from promptyard.evals.cells import prepare_cell
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.results import CellResult, ExampleResult, merge_shards
from promptyard.evals.runner import combine_repeats, open_cache, repeat_specs, run_cell
from promptyard.evals.suite import CellSpec, Suite
from promptyard.evals.suite_run import SuiteRun, store_suite_run
from promptyard.runtime.ray_session import ray_session
from promptyard.runtime.text_format import MISMATCH, summary

log = logging.getLogger(__name__)


@dataclass
class Shard:
    """Example indices of one cell, the unit of work (and of re-running after a loss)."""

    shard_id: int
    cell_pos: int
    indices: tuple[int, ...]
    attempts: int = 0


@dataclass
class DistributedStats:
    """What happened on the cluster: shards, resubmissions after losses, actors lost, time on Ray."""

    shards: int = 0
    resubmitted: int = 0
    actors_lost: int = 0
    actors_started: int = 0
    nodes: dict[str, int] = field(default_factory=dict)  # node id -> shards finished there
    worker_s: float = 0.0  # seconds the actors spent inside the runner
    wall_s: float = 0.0


def plan_shards(cells_indices: list[list[int]], shard_size: int) -> list[Shard]:
    """Cut each cell's indices into consecutive shards of at most ``shard_size`` examples."""
    if shard_size < 1:
        raise EvalError(f"shard size must be at least 1, got {shard_size}", where="--shard-size")
    shards: list[Shard] = []
    for pos, indices in enumerate(cells_indices):
        for start in range(0, len(indices), shard_size):
            shards.append(Shard(len(shards), pos, tuple(indices[start:start + shard_size])))
    return shards


class _WorkerCache:
    """The response cache as a worker sees it: reads hit the driver's cache file when this node can see
    it; writes are collected and sent back, so that only the driver writes (exactly what the runner
    would have stored, under the runner's own keys)."""

    def __init__(self, path: str | None):

        self._cache = ResponseCache(path) if path and Path(path).exists() else None
        self.collected: dict[str, Any] = {}

    def get_many(self, keys: Any) -> dict[str, Any]:
        return self._cache.get_many(keys) if self._cache is not None else {}

    def put_many(self, items: Any) -> None:
        self.collected.update(items)

    def recall(self, key: str) -> Any:
        """A memoised metric result from the driver's cache (the runner's ``compute_cell_metrics(memo=)``)."""
        return self._cache.recall(key) if self._cache is not None else None

    def remember(self, key: str, value: Any) -> None:
        """Not kept: a shard's metrics are recomputed when the driver merges the shards."""


class EvalWorker:
    """A Ray actor serving one base model: it loads the base once and switches adapters per cell."""

    def __init__(self, model: str, cache_path: str | None):

        self.model = model
        self.pool = ModelPool()
        self.cache_path = cache_path

    def run_shard(self, cell: CellSpec, indices: list[int]) -> tuple[CellResult, dict[str, Any], str, float]:
        """Run the examples ``indices`` of ``cell``: the result, the responses to cache, node id, seconds."""
        import ray


        t0 = time.perf_counter()
        cache = _WorkerCache(self.cache_path) if self.cache_path else None
        result = run_cell(cell, indices=list(indices), cache=cache, pool=self.pool)
        responses = cache.collected if cache is not None else {}
        return result, responses, ray.get_runtime_context().get_node_id(), time.perf_counter() - t0


class _ActorPool:
    """Actors per base model; a dead actor is dropped and replaced when its model has none left."""

    def __init__(self, remote_cls: Any, per_model: int, cache_path: str | None, stats: DistributedStats):
        self.remote_cls, self.per_model, self.cache_path, self.stats = remote_cls, per_model, cache_path, stats
        self.actors: dict[str, list[Any]] = {}
        self.busy: dict[Any, int] = {}

    def ensure(self, model: str) -> list[Any]:
        actors = self.actors.setdefault(model, [])
        while len(actors) < self.per_model:
            actor = self.remote_cls.remote(model, self.cache_path)
            actors.append(actor)
            self.busy[actor] = 0
            self.stats.actors_started += 1
        return actors

    def pick(self, model: str, limit: int) -> Any | None:
        """The least busy actor of ``model`` with room for another shard, or None."""
        actors = sorted(self.ensure(model), key=lambda a: self.busy[a])
        return actors[0] if actors and self.busy[actors[0]] < limit else None

    def drop(self, model: str, actor: Any) -> None:
        import ray

        if actor in self.actors.get(model, []):
            self.actors[model].remove(actor)
            self.busy.pop(actor, None)
            self.stats.actors_lost += 1
            ray.kill(actor, no_restart=True)
            # Keep at least one actor: if the cluster lost the node, Ray places the new one elsewhere.
            self.per_model = max(1, self.per_model - 1)

    def shutdown(self) -> None:
        import ray

        for actors in self.actors.values():
            for actor in actors:
                ray.kill(actor, no_restart=True)


def actor_pool(cache: Any, *, per_model: int | None = None, cpus_per_actor: float = 1.0,
               stats: DistributedStats | None = None) -> _ActorPool:
    """Actors to keep across several :func:`run_cells_distributed` calls (an optimiser scores one candidate
    at a time: starting actors and loading the model for each would cost more than the scoring).
    ``shutdown()`` it when done."""
    import ray

    store = open_cache(cache)
    cache_path = str(store.path) if store is not None and hasattr(store, "path") else None
    if per_model is None:
        per_model = max(1, int(int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor))
    remote_cls = ray.remote(num_cpus=cpus_per_actor, max_restarts=0, max_task_retries=0,
                            scheduling_strategy="SPREAD")(EvalWorker)
    return _ActorPool(remote_cls, per_model, cache_path, stats or DistributedStats())


def run_cells_distributed(cells: list[CellSpec], *, registry: Any, cache: Any = "default",
                          shard_size: int = 16, actors_per_model: int | None = None, cpus_per_actor: float = 1.0,
                          max_attempts: int = 3, on_shard: Callable[[int, int, DistributedStats], None] | None = None,
                          stats: DistributedStats | None = None, actors: _ActorPool | None = None
                          ) -> list[CellResult]:
    """Run ``cells`` on the connected Ray cluster; results in input order, equal to an in-process run.

    ``actors`` (from :func:`actor_pool`) are used and left running; otherwise actors are started for this
    call and stopped at its end."""
    import ray
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        RayActorError,
        RayTaskError,
        WorkerCrashedError,
    )


    stats = stats or DistributedStats()
    t_start = time.perf_counter()
    store = open_cache(cache)
    cache_path = str(store.path) if store is not None and hasattr(store, "path") else None
    # Workers re-open the driver's registry (cells carry its path) and need nothing else from here.
    reg_path = str(registry.path) if registry is not None else None
    given = list(cells)
    cells = [c.with_registry(reg_path) if reg_path and not c.registry else c for c in cells]
    # every cell checked before anything runs (a repeated cell as asked: repeats of choices are refused)
    checked = [prepare_cell(c, registry=registry) for c in cells]
    # a repeated cell runs as one sampled cell per repeat, each cut into shards like any other cell
    expanded = [repeat_specs(c) for c in cells]
    owner = [pos for pos, (_, specs) in enumerate(expanded) for _ in specs]
    given_runs = [spec if len(specs) > 1 else given[pos] for pos, (_, specs) in enumerate(expanded)
                  for spec in specs]
    cells = [spec for _, specs in expanded for spec in specs]
    prepared = [checked[pos] if len(expanded[pos][1]) == 1 else replace(checked[pos], spec=spec)
                for pos, spec in zip(owner, cells, strict=True)]
    shards = plan_shards([p.indices for p in prepared], shard_size)
    stats.shards = len(shards)
    if actors is not None:
        pool, owned = actors, False
        pool.stats = stats
    else:
        if actors_per_model is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            models = max(1, len({c.model for c in cells}))
            actors_per_model = max(1, int(cpus // cpus_per_actor) // models)
        remote_cls = ray.remote(num_cpus=cpus_per_actor, max_restarts=0, max_task_retries=0,
                                scheduling_strategy="SPREAD")(EvalWorker)
        pool, owned = _ActorPool(remote_cls, actors_per_model, cache_path, stats), True

    accepted: list[dict[int, ExampleResult]] = [{} for _ in cells]
    parts: list[list[CellResult]] = [[] for _ in cells]
    queue: deque[Shard] = deque(shards)
    running: dict[Any, tuple[Shard, Any]] = {}
    done_shards = 0
    try:
        while queue or running:
            # Two shards in flight per actor: the next one is queued while the current one runs.
            while queue:
                shard = queue[0]
                model = cells[shard.cell_pos].model
                actor = pool.pick(model, limit=2)
                if actor is None:
                    break
                queue.popleft()
                shard.attempts += 1
                ref = actor.run_shard.remote(cells[shard.cell_pos], list(shard.indices))
                running[ref] = (shard, actor)
                pool.busy[actor] += 1
            ready, _ = ray.wait(list(running), num_returns=1, timeout=5.0)
            for ref in ready:
                shard, actor = running.pop(ref)
                pool.busy[actor] = max(0, pool.busy.get(actor, 1) - 1)
                try:
                    result, responses, node_id, seconds = ray.get(ref)
                except RayTaskError as exc:
                    if isinstance(exc.cause, PromptyardError):  # a refusal (--strict-template), not a loss
                        raise exc.cause from None
                    raise
                except (RayActorError, ActorDiedError, ActorUnavailableError, WorkerCrashedError) as exc:
                    # The actor or its node is gone: the shard's examples were not accepted; run it again.
                    model = cells[shard.cell_pos].model
                    pool.drop(model, actor)
                    for other_ref, (other, other_actor) in list(running.items()):
                        if other_actor is actor:  # shards queued on the dead actor fail too; requeue now
                            running.pop(other_ref)
                            queue.append(other)
                            stats.resubmitted += 1
                    if shard.attempts >= max_attempts:
                        raise EvalError(f"shard {shard.shard_id} failed {shard.attempts} times: {exc}",
                                        where=cells[shard.cell_pos].label()) from exc
                    queue.append(shard)
                    stats.resubmitted += 1
                    continue
                _accept(shard, result, responses, accepted[shard.cell_pos], parts[shard.cell_pos], store)
                stats.nodes[node_id] = stats.nodes.get(node_id, 0) + 1
                stats.worker_s += seconds
                done_shards += 1
                if on_shard is not None:
                    on_shard(done_shards, len(shards), stats)
    finally:
        if owned:
            pool.shutdown()
    merged_runs = []
    for pos, p in enumerate(prepared):
        missing = set(p.indices) - set(accepted[pos])
        if missing:
            raise EvalError(f"{len(missing)} examples never came back", where=cells[pos].label())
        merged = merge_shards(parts[pos])
        merged.spec = given_runs[pos]  # the cell as asked for (the registry path was only for the workers)
        checked = merged.lineage.get("template_check") or {}
        if checked.get("status") == MISMATCH:  # the workers' own warning stays in their logs
            log.warning("%s: %s", merged.spec.label(), summary(checked))
        merged_runs.append(merged)
    results = []
    for pos, (seeds, specs) in enumerate(expanded):
        runs = [r for r, o in zip(merged_runs, owner, strict=True) if o == pos]
        results.append(combine_repeats(given[pos], runs, seeds) if len(specs) > 1 else runs[0])
    stats.wall_s = time.perf_counter() - t_start
    return results


def _accept(shard: Shard, result: CellResult, responses: dict[str, Any], accepted: dict[int, ExampleResult],
            parts: list[CellResult], store: Any) -> None:
    """Take a shard's examples exactly once (a late duplicate of a resubmitted shard is ignored)."""
    got = sorted(e.index for e in result.examples)
    if got != sorted(shard.indices):
        raise EvalError(f"shard {shard.shard_id} returned examples {got[:5]}… instead of its own",
                        hint="a worker ran a different data split; check that every node sees the same data")
    if any(i in accepted for i in got):
        return
    for e in result.examples:
        accepted[e.index] = e
    parts.append(result)
    if store is not None and responses:
        store.put_many(responses)


def run_suite_distributed(suite: Suite, target: Any, *, registry: Any, cache: Any = "default",
                          shard_size: int = 16, actors_per_model: int | None = None, store: bool = True,
                          on_shard: Callable[..., None] | None = None) -> SuiteRun:
    """``eval run --ray``: the suite on Ray, stored like an in-process run (same ``SuiteRun``).

    The shards are reported as one :class:`~promptyard.core.events.Task` ("ray shards", with the nodes used
    and the shards resubmitted); ``on_shard(done, total, stats)`` is called too when given.
    """
    stats = DistributedStats()
    t0 = time.perf_counter()
    with ray_session(target), events.Task("ray shards", total=None, transient=False) as task:
        def update(done: int, total: int, stats: DistributedStats) -> None:
            task.update(completed=done, total=total, nodes=len(stats.nodes), resubmitted=stats.resubmitted)
            if on_shard is not None:
                on_shard(done, total, stats)

        results = run_cells_distributed(suite.cells, registry=registry, cache=cache, shard_size=shard_size,
                                        actors_per_model=actors_per_model, on_shard=update, stats=stats)
    duration = time.perf_counter() - t0
    run_id = None
    if store:
        note = (f"ray: {stats.shards} shards on {len(stats.nodes)} node(s), "
                f"{stats.resubmitted} resubmitted after losses")
        run_id = store_suite_run(registry, suite, results, duration_s=duration, note=note)
    run = SuiteRun(run_id, suite.name, results, duration)
    run.stats = stats  # type: ignore[attr-defined]
    return run
