"""``promptyard optimize``: plan (every check, no model call), search under the budget, report honestly.

The optimiser chooses on the validation split. The host then scores the starting prompt and the winner
on the test split, which no optimiser sees, compares them pairwise (delta, interval, p-value), commits
the winner as a new version whose message and lineage name the optimisation record, and writes the
record: every candidate with its origin, scores per round and calls. The test split's calls are reserved
out of ``--budget-calls`` up front, so a whole run never spends more than it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from promptyard.core import events
from promptyard.core.errors import DataError, PromptyardError, UsageError, ValidationError
from promptyard.core.host import lookup
from promptyard.core.lookups import find_loader, model_kind, runs_as
from promptyard.core.optimization import (
    Budget,
    BudgetExhausted,
    Candidate,
    OptimizationProblem,
    TrainExample,
    best_so_far,
    build_config,
)
from promptyard.core.paths import work_dir
from promptyard.core.protocols import member
from promptyard.core.render import check_template
from promptyard.evals import variants
from promptyard.evals.cache import ResponseCache
from promptyard.evals.cells import load_split, prepare_cell, sample_order
from promptyard.evals.compare import compare_cells
from promptyard.evals.distributed import run_suite_distributed
from promptyard.evals.metrics import get_metric
from promptyard.evals.modelpool import ModelPool
from promptyard.evals.optimize_context import Proposer, RunContext, Scorer, template_file
from promptyard.evals.suite import CellSpec, Suite
from promptyard.evals.suite_run import run_suite
from promptyard.registry import optimization_records as records
from promptyard.registry.evals_store import load_run
from promptyard.runtime.prompts import resolve_prompt
from promptyard.runtime.ray_session import ray_session

log = logging.getLogger(__name__)

DEFAULT_PROPOSER = "smollm2-135m"
#: seconds per model call assumed when no earlier optimisation of the model says better
ROUGH_SECONDS_PER_CALL = {"tiny-causal": 0.003, "tiny-encoder": 0.003}
ROUGH_DEFAULT = 0.05


@dataclass
class OptimizeRequest:
    """What ``promptyard optimize`` was asked to do."""

    prompt: str
    base: CellSpec  # model, data, adapter, task, scoring, decoding; its split is ignored
    optimizer: str
    metric: str | None = None
    budget_calls: int | None = None
    budget_seconds: float | None = None
    settings: dict[str, str] = field(default_factory=dict)
    variants_file: str | None = None
    generate: bool = False
    proposer: str | None = None
    validation_sample: int | None = None
    test_sample: int | None = None
    train_sample: int = 64
    description: str = ""
    commit: bool = True
    label: str | None = None
    cache: bool = True
    ray_target: Any = None


@dataclass
class Plan:
    """A checked request: the optimiser, its problem, the sizes of the splits and the projected calls."""

    request: OptimizeRequest
    optimizer: Any
    problem: OptimizationProblem
    prompt: Any  # ResolvedPrompt
    base: CellSpec
    sizes: dict[str, int]
    n_test: int
    projection: dict[str, Any]
    search_budget: int | None
    test_reserve: int
    seconds_per_call: float
    seconds_source: str
    proposer: str | None

    def to_dict(self) -> dict[str, Any]:
        calls = self.projection["calls"]
        return {"optimizer": self.optimizer.name, "prompt": self.prompt.resolved, "model": self.base.model,
                "data": self.base.data, "metric": self.problem.metric, "proposer": self.proposer,
                "validation_examples": self.problem.n_validation, "train_examples": len(self.problem.train),
                "test_examples": self.n_test, "pool": [n for n, _ in self.problem.pool],
                "budget_calls": self.request.budget_calls, "budget_seconds": self.request.budget_seconds,
                "search_calls": calls, "test_calls": self.test_reserve, "total_calls": calls + self.test_reserve,
                "min_calls": self.projection.get("min_calls"), "rounds": self.projection.get("rounds"),
                "estimated_seconds": round((calls + self.test_reserve) * self.seconds_per_call, 1),
                "seconds_per_call": self.seconds_per_call, "estimate_from": self.seconds_source,
                "settings": _config_dict(self.problem.config)}


def _config_dict(config: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def make_plan(registry: Any, request: OptimizeRequest) -> Plan:
    """Every check a run needs, before any model call and without writing anything."""
    optimizer = lookup("prompt_optimizers", request.optimizer)
    config = build_config(member("prompt_optimizers", optimizer, "config_class"), request.settings)
    if request.label == "production":
        raise UsageError("an optimisation does not label production", where="--label",
                         hint="use --label staging, then `promptyard eval gate` to promote")
    if request.budget_calls is not None and request.budget_calls < 1:
        raise ValidationError(f"--budget-calls must be 1 or more, got {request.budget_calls}", where="--budget-calls")
    Budget(request.budget_calls, request.budget_seconds)  # checks the numbers
    prompt = resolve_prompt(request.prompt, registry)
    base = replace(request.base, prompt=request.prompt, sample=None, metrics=())
    sizes = {split: len(load_split(replace(base, split=split))) for split in ("train", "validation", "test")}
    probe = prepare_cell(replace(base, split="validation", sample=1), registry=registry)
    metric = request.metric or (tuple(getattr(probe.task, "default_metrics", ())) or ("accuracy",))[0]
    metric_obj = get_metric(metric)
    n_validation = min(sizes["validation"], request.validation_sample or sizes["validation"])
    n_test = min(sizes["test"], request.test_sample or sizes["test"])
    contract = {v.name for v in check_template(prompt.template)}
    train = _train_examples(base, registry, min(request.train_sample, sizes["train"]), sizes["train"], contract)
    pool = _pool(request, prompt)
    problem = OptimizationProblem(prompt.template, metric, bool(metric_obj.higher_is_better), probe.task.kind,
                                  list(probe.labels), train, n_validation, pool,
                                  request.description or str(getattr(probe.task, "description", "")), config,
                                  base.seed)
    projection = dict(optimizer.project(problem, None))
    need_val = int(projection.get("min_validation", 1))
    if n_validation < need_val:
        raise DataError(f"the validation split of {base.data} has {n_validation} examples; {optimizer.name} "
                        f"needs at least {need_val}", where="--data",
                        hint="use more rows, or a larger --validation-sample")
    if n_test < 1:
        raise DataError(f"the test split of {base.data} is empty", where="--data", hint="use more rows")
    test_reserve = n_test * 2  # the start and the winner; cache hits make it less
    search_budget = None
    if request.budget_calls is not None:
        search_budget = request.budget_calls - test_reserve
        need = int(projection.get("min_calls", 1))
        if search_budget < need:
            raise ValidationError(
                f"a budget of {request.budget_calls} calls is too small for one round of {optimizer.name}: "
                f"it needs {need} calls, plus {test_reserve} for the test split", where="--budget-calls",
                hint=f"give at least {need + test_reserve}, or a smaller --test-sample / --set")
        projection = dict(optimizer.project(problem, search_budget))
    proposer = None
    if member("prompt_optimizers", optimizer, "needs_proposer"):
        proposer = request.proposer or DEFAULT_PROPOSER
        _check_generates(proposer)
    per_call, source = _seconds_per_call(registry, base.model)
    return Plan(request, optimizer, problem, prompt, base, sizes, n_test, projection, search_budget, test_reserve,
                per_call, source, proposer)


def _check_generates(model: str) -> None:
    find_loader(model)  # an unknown model reference is an error naming the loaders
    if runs_as(model_kind(model)) != "causal":
        raise ValidationError(f"the proposer model {model!r} cannot generate text (it is an encoder)",
                              where="--proposer", hint="use a causal model such as smollm2-135m")


def _train_examples(base: CellSpec, registry: Any, n: int, size: int, contract: set[str]) -> list[TrainExample]:
    """The first ``n`` training positions as variables, target and the answer a demonstration shows."""
    if n == 0:
        return []
    prepared = prepare_cell(replace(base, split="train", sample=n), registry=registry)
    by_index = dict(zip(prepared.indices, prepared.examples, strict=True))
    out = []
    for index in sample_order(size, base.seed)[:n]:
        example = by_index[index]
        answer = str(example.target)
        if prepared.choices and example.target is not None and str(example.target) in prepared.labels:
            answer = prepared.choices[prepared.labels.index(str(example.target))].strip()
        variables = {k: v for k, v in example.variables.items() if k in contract}
        out.append(TrainExample(variables, example.target, answer))
    return out


def _pool(request: OptimizeRequest, prompt: Any) -> list[tuple[str, Any]]:
    if request.variants_file:
        found = variants.load_variants(request.variants_file, prompt.template)
    elif request.generate:
        found = variants.generate_variants(prompt.template, variants.known_selectors())
    else:
        return []
    return [(v.name, v.template) for v in found if v.name != "base"]


def _seconds_per_call(registry: Any, model: str) -> tuple[float, str]:
    past = [o for o in records.list_optimizations(registry, limit=20)
            if o["model"] == model and o["calls_spent"] + o["test_calls"] > 0 and o["status"] != "failed"]
    if past:
        spent = sum(o["calls_spent"] + o["test_calls"] for o in past)
        return sum(o["duration_s"] for o in past) / spent, f"{len(past)} earlier optimisation(s) of {model}"
    return ROUGH_SECONDS_PER_CALL.get(model, ROUGH_DEFAULT), "a rough default (no earlier optimisation of it)"


@dataclass
class OptimizeResult:
    """A finished (or budget-stopped) optimisation: the stored record, as ``optimize show`` reads it."""

    id: str
    status: str
    record: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.record


def optimize(registry: Any, plan: Plan) -> OptimizeResult:
    """Run the plan: search, score start and winner on the test split, compare, commit, record."""
    request, problem = plan.request, plan.problem
    opt_id = f"opt-{uuid.uuid4().hex[:10]}"
    records.start_optimization(registry, opt_id, optimizer=plan.optimizer.name, prompt=plan.prompt.resolved,
                               prompt_version_id=plan.prompt.version_id, model=plan.base.model, data=plan.base.data,
                               metric=problem.metric, budget_calls=request.budget_calls,
                               budget_seconds=request.budget_seconds, spec=plan.to_dict())
    t0 = time.perf_counter()
    budget = Budget(plan.search_budget, request.budget_seconds)
    cache = ResponseCache() if request.cache else ResponseCache(str(_private_cache(opt_id)))
    pool = ModelPool()
    scorer = Scorer(plan.base, registry=registry, cache=cache, pool=pool, budget=budget, metric=problem.metric,
                    task_type=plan.prompt.task_type, sizes=plan.sizes, ray_target=request.ray_target)
    proposer = Proposer(plan.proposer, pool=pool, budget=budget, seed=plan.base.seed) if plan.proposer else None
    context = RunContext(problem, budget, scorer, proposer)
    start = context.add(problem.start, name="start", origin="start",
                        details={"ref": plan.prompt.resolved, "version_id": plan.prompt.version_id})
    session = ray_session(request.ray_target) if request.ray_target is not None else contextlib.nullcontext()
    status, error, winner = "finished", "", None
    try:
        with session:
            try:
                winner = plan.optimizer.optimize(context)
            except BudgetExhausted as exc:
                status = "stopped"
                log.info("optimize %s stopped at the budget: %s", opt_id, exc)
            if budget.stopped_by:
                status = "stopped"
            context.close()
            if winner is None or winner.status != "candidate" or not winner.n:
                winner = best_so_far(context.candidates, problem.higher_is_better) or start
            report = _test_report(registry, plan, opt_id, start, winner, cache, pool)
    except BaseException as exc:
        context.close()
        error = str(exc) if isinstance(exc, PromptyardError) else f"{type(exc).__name__}: {exc}"
        _finish(registry, opt_id, context, budget, "failed", 0, time.perf_counter() - t0, {}, None, error=error)
        raise
    committed = _commit(registry, plan, opt_id, start, winner, report, context)
    result = {"winner": winner.id, "winner_name": winner.name, "start": start.id,
              "validation": {"winner": winner.mean(), "start": start.mean(), "winner_n": winner.n, "start_n": start.n},
              "test": report["test"], "comparison": report["comparison"], "committed": committed,
              "budget": budget.to_dict(), "proposer_calls": proposer.calls if proposer else 0}
    _finish(registry, opt_id, context, budget, status, report["calls"], time.perf_counter() - t0, result,
            winner.id, committed_version_id=committed["version_id"] if committed else None,
            eval_run_id=report["run_id"])
    return OptimizeResult(opt_id, status, records.get_optimization(registry, opt_id))


def _private_cache(opt_id: str) -> Any:
    folder = work_dir() / "optimize"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{opt_id}-responses.sqlite"


def _test_report(registry: Any, plan: Plan, opt_id: str, start: Candidate, winner: Candidate, cache: Any,
                 pool: ModelPool) -> dict[str, Any]:
    """The start and the winner on the test split, stored as an eval run, and their paired comparison."""
    metric = plan.problem.metric
    cell = replace(plan.base, split="test", sample=plan.n_test, metrics=(metric,))
    cells = [replace(cell, prompt=plan.request.prompt)]
    if winner.id != start.id:
        cells.append(replace(cell, prompt=template_file(winner.template, plan.prompt.task_type)))
    suite = Suite(name=f"optimize {opt_id}", cells=cells, seed=plan.base.seed, raw={"optimization": opt_id})
    with events.status(f"optimize: the start and the winner on {plan.n_test} test examples"):
        if plan.request.ray_target is not None:
            done = run_suite_distributed(suite, plan.request.ray_target, registry=registry, cache=cache)
        else:
            done = run_suite(suite, registry=registry, cache=cache, pool=pool, kind="optimize")
    stored = load_run(registry, done.run_id)
    test = {"n": plan.n_test, "start": done.results[0].metric(metric).to_dict(),
            "winner": done.results[-1].metric(metric).to_dict()}
    comparison = None
    if len(stored["cells"]) == 2:
        comparison = compare_cells(stored["cells"][0], stored["cells"][1], metrics=[metric],
                                   seed=plan.base.seed).to_dict()
    return {"test": test, "comparison": comparison, "run_id": done.run_id,
            "calls": sum(r.cache_misses for r in done.results)}


def _commit(registry: Any, plan: Plan, opt_id: str, start: Candidate, winner: Candidate, report: dict[str, Any],
            context: RunContext) -> dict[str, Any] | None:
    request = plan.request
    if winner.id == start.id or not request.commit or plan.prompt.version_id is None:
        return None
    metric = plan.problem.metric
    scored = sum(1 for c in context.candidates if c.n)
    message = (f"optimize {opt_id}: {plan.optimizer.name} chose candidate {winner.id} ({winner.name}) of {scored} "
               f"scored by validation {metric} {winner.mean():.3f} (start {start.mean():.3f})")
    comparison = report["comparison"]
    if comparison:
        m = comparison["metrics"][0]
        message += (f"; test {metric} {m['a']:.3f} -> {m['b']:.3f}, delta {m['delta']:+.3f} "
                    f"[{m['low']:+.3f}, {m['high']:+.3f}], p={m['test']['p_value']:.3g}")
    name = plan.prompt.resolved.split("@")[0]
    lineage = {"optimization": {"id": opt_id, "optimizer": plan.optimizer.name, "candidate": winner.id,
                                "origin": winner.origin, "parent": winner.parent, "start": plan.prompt.resolved,
                                "start_version_id": plan.prompt.version_id, "eval_run_id": report["run_id"]}}
    info = registry.commit(name, winner.template, message=message, lineage=lineage, task_type=plan.prompt.task_type)
    if info is None:  # equal to the latest version already
        return None
    if request.label:
        registry.label(info.ref, request.label, reason=f"optimize {opt_id}")
    return {"ref": info.ref, "version_id": info.id, "label": request.label}


def candidate_rows(context: RunContext) -> list[dict[str, Any]]:
    return [{"number": c.id, "name": c.name, "origin": c.origin, "parent": c.parent, "status": c.status,
             "reason": c.reason, "content_hash": c.template.content_hash() if c.template is not None else "",
             "template": c.template.to_dict() if c.template is not None else {}, "details": c.details,
             "scores": c.scores, "rewards": {str(p): r for p, r in sorted(c.rewards.items())},
             "calls": c.calls} for c in context.candidates]


def _finish(registry: Any, opt_id: str, context: RunContext, budget: Budget, status: str, test_calls: int,
            duration: float, result: dict[str, Any], best: int | None, **kw: Any) -> None:
    records.finish_optimization(registry, opt_id, candidate_rows(context), status=status, calls_spent=budget.spent,
                                test_calls=test_calls, duration_s=duration, history=context.history, result=result,
                                best_candidate=best, **kw)
