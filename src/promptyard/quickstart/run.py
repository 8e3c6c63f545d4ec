"""The quickstart: registry -> evaluation -> hyper-parameter search -> gate and rollback -> HTML report.

Every step calls the public API of its area (registry, evals, tuning search); nothing here re-implements them.
``run_quickstart`` is what ``promptyard quickstart`` runs; it returns a JSON-able summary.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptyard.quickstart.prompts import (
    ADAPTER_NAME,
    PROMPT_NAME,
    STRUCTURED_DECODING,
    TASK,
    VERSIONS,
)

DATA = "rotten_tomatoes"
METRIC = "accuracy"


@dataclass
class QuickstartSettings:
    """Sizes chosen so the full run fits ~7 minutes on 2 CPU cores (``fast``: a tiny model, for CI)."""

    directory: Path
    model: str = "smollm2-135m"
    eval_sample: int = 48
    trials: dict[str, int] = field(default_factory=lambda: {"prompt_tuning": 2, "lora": 2})
    max_steps: int = 8
    eval_every: int = 4
    train_sample: int = 64
    val_sample: int = 16
    batch_size: int = 4
    max_length: int = 96
    max_drop: float = 0.02
    use_ray: bool = True
    quiet: bool = False
    seed: int = 0

    @classmethod
    def for_run(cls, directory: Path, *, fast: bool = False, use_ray: bool = True,
                quiet: bool = False) -> QuickstartSettings:
        if not fast:
            return cls(Path(directory), use_ray=use_ray, quiet=quiet)
        return cls(Path(directory), model="tiny-causal", eval_sample=24, trials={"prompt_tuning": 1, "lora": 1},
                   max_steps=4, eval_every=2, train_sample=32, val_sample=16, batch_size=8, max_length=64,
                   use_ray=use_ray,
                   quiet=quiet)

    def search_space(self, method: str) -> dict[str, Any]:
        """A small space per method: the learning rate (and LoRA's rank) are searched."""
        if method == "prompt_tuning":
            return {"lr": {"choice": [0.03, 0.1]}}
        return {"lr": {"choice": [1e-3, 3e-3]}, "r": {"choice": [4, 8]}}

    def train_config(self, method: str) -> dict[str, Any]:
        config: dict[str, Any] = {"max_steps": self.max_steps, "eval_every": self.eval_every,
                                  "train_sample": self.train_sample, "val_sample": self.val_sample,
                                  "batch_size": self.batch_size, "max_length": self.max_length, "patience": 0}
        if method == "prompt_tuning":
            # the soft prompt starts as the embedding of the best prompt's text (0 tokens = its full length)
            config.update(init_from_prompt="true", num_virtual_tokens=0)
        return config


@contextlib.contextmanager
def quickstart_environment(directory: Path) -> Iterator[Path]:
    """Point the registry, caches and work dir at ``directory``; models stay in the shared model cache.

    The converted SmolLM2 (and content hashes) are linked from the usual model cache, so its one-time
    GGUF -> safetensors conversion is shared with every other promptyard command.
    """
    from promptyard.core.paths import REGISTRY_DIRNAME, REGISTRY_FILENAME, cache_dir

    directory = directory.resolve()
    shared = {kind: cache_dir(kind) for kind in ("models", "hashes")}
    names = {"PROMPTYARD_REGISTRY": str(directory / REGISTRY_DIRNAME / REGISTRY_FILENAME),
             "PROMPTYARD_CACHE": str(directory / "cache"), "PROMPTYARD_WORKDIR": str(directory / "work")}
    defaults = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"}
    old = {k: os.environ.get(k) for k in (*names, *defaults)}
    (directory / "cache").mkdir(parents=True, exist_ok=True)
    for kind, target in shared.items():
        link = directory / "cache" / kind
        if not link.exists() and not link.is_symlink() and target.resolve() != link.resolve():
            target.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target.resolve(), target_is_directory=True)
    os.environ.update(names)
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    try:
        yield Path(names["PROMPTYARD_REGISTRY"])
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Narrator:
    """Prints the steps (rich), or nothing when quiet."""

    def __init__(self, console: Any, quiet: bool):
        from rich.console import Console

        self.console = Console(quiet=True) if quiet or console is None else console
        self.quiet = quiet
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._step: tuple[str, float] | None = None

    def step(self, number: int, title: str, what: str) -> None:
        self._close()
        self._step = (f"{number}. {title}", time.perf_counter())
        self.console.rule(f"[bold]Step {number}/5 · {title}")
        self.console.print(what)

    def _close(self) -> None:
        if self._step is not None:
            name, t0 = self._step
            self.timings[name] = round(time.perf_counter() - t0, 1)
            self.console.print(f"[dim]({self.timings[name]:.1f}s)[/dim]")
            self._step = None

    def finish(self) -> float:
        self._close()
        return round(time.perf_counter() - self.started, 1)


def _ci(m: dict[str, Any]) -> str:
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def commit_prompts(registry: Any, n: Narrator) -> list[dict[str, Any]]:
    """Step 1: one prompt, four versions (one per kind); version 1 labelled production."""
    from promptyard.core.template import Template

    out = []
    for kind, doc, message in VERSIONS:
        template = Template.from_dict(dict(doc), where=f"quickstart {kind}")
        info = registry.commit(PROMPT_NAME, template, message, task_type=TASK, tags=["sentiment", "quickstart"])
        if info is None:  # the same content as the latest version: reuse it
            info = registry.resolve(f"{PROMPT_NAME}@latest")
        out.append({"version": info.number, "ref": info.ref, "kind": kind, "hash": info.content_hash,
                    "message": message})
    registry.label(f"{PROMPT_NAME}@1", "production", force=True, reason="quickstart: first release")
    n.console.print(_table("prompt versions", ["ref", "kind", "hash", "message"],
                           [[p["ref"], p["kind"], p["hash"][:12], p["message"]] for p in out]))
    n.console.print(f"labelled [bold]{PROMPT_NAME}@1[/bold] (single) as [bold]production[/bold]")
    return out


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Any:
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    return t


def _cell(s: QuickstartSettings, registry_path: Path, prompt: str, kind: str, adapter: str | None = None) -> Any:
    from promptyard.evals.suite import CellSpec

    return CellSpec(prompt=prompt, model=s.model, data=DATA, adapter=adapter, split="test", sample=s.eval_sample,
                    metrics=(METRIC,), task=TASK, seed=s.seed, registry=str(registry_path),
                    decoding=dict(STRUCTURED_DECODING) if kind == "structured" else {})


def _comparison_table(c: Any) -> Any:
    return _table(f"{c.a}  ->  {c.b}  ({c.n} paired examples)",
                  ["metric", "A", "B", "delta", "95% CI of delta", "test", "p"],
                  [[m.name, f"{m.a:.3f}", f"{m.b:.3f}", f"{m.delta:+.3f}", f"[{m.low:+.3f}, {m.high:+.3f}]",
                    m.test.test, f"{m.test.p_value:.3g}"] for m in c.metrics])


def evaluate_prompts(registry: Any, registry_path: Path, s: QuickstartSettings, prompts: list[dict[str, Any]],
                     n: Narrator) -> dict[str, Any]:
    """Step 2: every version on one test sample; each compared with production (paired CIs and tests)."""
    from promptyard.evals.compare import compare_cells
    from promptyard.evals.suite import Suite
    from promptyard.evals.suite_run import run_suite
    from promptyard.registry.evals_store import load_run

    cells = [_cell(s, registry_path, p["ref"], p["kind"]) for p in prompts]
    done = run_suite(Suite(name="quickstart: four prompt kinds", cells=cells, seed=s.seed), registry=registry,
                     progress=not n.quiet)
    run = load_run(registry, done.run_id)
    scores = []
    for p, cell in zip(prompts, run["cells"], strict=True):
        m = next(x for x in cell["metrics"] if x["name"] == METRIC)
        p[METRIC] = m["value"]
        scores.append([p["ref"], p["kind"], cell["n_examples"], _ci(m)])
    n.console.print(_table(f"eval run {done.run_id}: {METRIC} with 95% bootstrap CI", ["prompt", "kind", "n",
                                                                                      METRIC], scores))
    comparisons = [compare_cells(run["cells"][0], cell, seed=s.seed) for cell in run["cells"][1:]]
    for c in comparisons:
        n.console.print(_comparison_table(c))
    # a structured prompt is trained on plain label words it would not produce: tune from the best of the rest
    trainable = [p for p in prompts if p["kind"] != "structured"]
    best = max(trainable, key=lambda p: (p[METRIC], -p["version"]))
    n.console.print(f"best prompt to tune from: [bold]{best['ref']}[/bold] ({best['kind']}, {METRIC} "
                    f"{best[METRIC]:.3f})")
    return {"run_id": done.run_id, "run": run, "best": best,
            "comparisons": [c.to_dict() for c in comparisons]}


def _ray_usable() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def search_adapters(registry: Any, registry_path: Path, s: QuickstartSettings, best: dict[str, Any],
                    n: Narrator) -> dict[str, Any]:
    """Step 3: an ASHA search per method (prompt tuning from the best prompt, LoRA); each best is registered."""
    from promptyard.tuning.search import SearchSpec
    from promptyard.tuning.spec import TrainSpec

    specs = []
    for method, trials in s.trials.items():
        train = TrainSpec(model=s.model, data=DATA, method=method, prompt=best["ref"], task=TASK,
                          config=s.train_config(method), seed=s.seed, registry=str(registry_path),
                          quiet=s.quiet or s.use_ray)
        specs.append(SearchSpec(train_spec=train, space=s.search_space(method), trials=trials, scheduler="asha",
                                name=ADAPTER_NAME, seed=s.seed, max_reports=s.max_steps // s.eval_every + 1))
    use_ray = s.use_ray and _ray_usable()
    if s.use_ray and not use_ray:
        n.console.print("[yellow]Ray is not installed: running the trials in this process[/yellow]")
    results = _run_searches(specs, registry, n) if use_ray else _run_searches_here(specs, registry, n)
    searches = []
    for spec, r in zip(specs, results, strict=True):
        method = spec.train_spec.method
        n.console.print(_trials_table(r, method))
        searches.append({"id": r.search_id, "method": method, "trials": len(r.trials),
                         "best_metric": r.best.best_metric if r.best else None,
                         "best_params": r.best.params if r.best else None,
                         "adapter": r.adapter.ref if r.adapter else None, "plot": str(r.plot_path),
                         "result": r})
    registered = [x for x in searches if x["adapter"]]
    if not registered:
        from promptyard.core.errors import TuningError

        raise TuningError("no trial of the search produced an adapter", where="quickstart step 3",
                          hint="run `promptyard tune searches` to see each trial's error")
    winner = max(registered, key=lambda x: x["best_metric"])
    n.console.print(f"registered {', '.join(x['adapter'] for x in registered)}; best: [bold]{winner['adapter']}"
                    f"[/bold] ({winner['method']}, validation {METRIC} {winner['best_metric']:.3f})")
    return {"ray": use_ray, "searches": searches, "candidate": winner}


def _trials_table(result: Any, method: str) -> Any:
    from promptyard.tuning.search_results import render_table

    table = render_table(result.trials, result.metric, result.best.trial_id if result.best else None)
    table.title = f"search {result.search_id} ({method})"
    return table


def _run_searches(specs: list[Any], registry: Any, n: Narrator) -> list[Any]:
    """Both searches on one local Ray instance (started once, ~3-5 s)."""
    from promptyard.runtime.ray_session import RayTarget, ray_session
    from promptyard.tuning.search_driver import run_search

    target = RayTarget(None)
    n.console.print(f"starting a {target.describe()} (trials run in parallel, one CPU each)")
    console = None if n.quiet else n.console
    with ray_session(target):
        return [run_search(spec, target, registry=registry, console=console) for spec in specs]


def _run_searches_here(specs: list[Any], registry: Any, n: Narrator) -> list[Any]:
    from promptyard.tuning.search_local import run_search_local

    n.console.print("running the trials one after another in this process (--no-ray)")
    out = []
    for spec in specs:
        def done(i: int, record: Any, spec: Any = spec) -> None:
            metric = "-" if record.best_metric is None else f"{record.best_metric:.3f}"
            n.console.print(f"  {spec.train_spec.method} trial {i + 1}/{spec.trials}: {record.status}, "
                            f"best {METRIC} {metric} {record.params}")

        out.append(run_search_local(spec, registry=registry, on_trial=done))
    return out


def gate_and_rollback(registry: Any, registry_path: Path, s: QuickstartSettings, best: dict[str, Any],
                      tuned: dict[str, Any], n: Narrator) -> dict[str, Any]:
    """Step 4: the gate (adapter + best prompt vs the production prompt); on pass, production; then rollback."""
    from promptyard.evals.compare import gate
    from promptyard.evals.suite import Suite
    from promptyard.evals.suite_run import run_suite
    from promptyard.registry.evals_store import load_run

    candidate = tuned["candidate"]["adapter"]
    baseline_cell = _cell(s, registry_path, f"{PROMPT_NAME}@production", "single")
    candidate_cell = replace(_cell(s, registry_path, best["ref"], best["kind"]), adapter=candidate)
    done = run_suite(Suite(name=f"gate {candidate} vs {PROMPT_NAME}@production",
                           cells=[baseline_cell, candidate_cell], seed=s.seed,
                           raw={"gate": {"candidate": candidate, "baseline": f"{PROMPT_NAME}@production",
                                         "metric": METRIC, "max_drop": s.max_drop}}),
                     registry=registry, progress=not n.quiet, kind="gate")
    run = load_run(registry, done.run_id)
    result = gate(run["cells"][0], run["cells"][1], metric=METRIC, max_drop=s.max_drop, seed=s.seed)
    result.run_id = done.run_id
    n.console.print(_comparison_table(result.comparison))
    n.console.print(("[green]" if result.passed else "[red]") + result.summary())
    out: dict[str, Any] = {"run_id": done.run_id, "run": run, "passed": result.passed,
                           "summary": result.summary(), "gate": result.to_dict(), "candidate": candidate}
    if result.passed:
        registry.label_adapter(candidate, "production", force=True, reason=f"eval gate: {result.summary()}")
        n.console.print(f"gate passed: labelled [bold]{candidate}[/bold] production")
        others = [x["adapter"] for x in tuned["searches"] if x["adapter"] and x["adapter"] != candidate]
        if others:
            registry.label_adapter(others[0], "production", force=True,
                                   reason="quickstart: a hand promotion that skipped the gate")
            n.console.print(f"someone promotes [bold]{others[0]}[/bold] by hand, without the gate ...")
        move = registry.rollback_adapter(ADAPTER_NAME, reason="quickstart: back to the gated version")
        kind, name = "adapter", ADAPTER_NAME
    else:
        n.console.print("gate failed: the adapter stays out of production")
        other = best["ref"] if best["version"] != 1 else f"{PROMPT_NAME}@2"
        registry.label(other, "production", force=True, reason="quickstart: a hand promotion that skipped the gate")
        n.console.print(f"someone promotes [bold]{other}[/bold] by hand, without the gate ...")
        move = registry.rollback(PROMPT_NAME, reason="quickstart: back to the released version")
        kind, name = "prompt", PROMPT_NAME
    n.console.print(f"rollback: {name}@production {move.from_number} -> {move.to_number}")
    history = registry.label_history(name, "production", kind=kind)
    n.console.print(_table(f"{kind} {name}: production label history", ["from", "to", "action", "reason"],
                           [[m.from_number, m.to_number, m.action, m.reason] for m in history]))
    out["rollback"] = {"kind": kind, "name": name, "from": move.from_number, "to": move.to_number,
                       "history": [m.to_dict() for m in history]}
    return out


def next_commands(registry_path: Path, directory: Path, report: Path, eval_run: int) -> list[str]:
    return [f"export PROMPTYARD_REGISTRY={registry_path} PROMPTYARD_CACHE={directory / 'cache'} "
            f"PROMPTYARD_WORKDIR={directory / 'work'}",
            f"promptyard prompt log {PROMPT_NAME}",
            f"promptyard prompt render {PROMPT_NAME}@4 -v text='A warm, funny film.'",
            f"promptyard adapter log {ADAPTER_NAME}",
            f"promptyard adapter show {ADAPTER_NAME}@production --json",
            f"promptyard eval show {eval_run} --examples",
            "promptyard tune searches",
            f"xdg-open {report}"]


def set_aside_previous(registry_path: Path) -> Path | None:
    """Rename a previous run's registry folder (kept, never deleted), so every step starts fresh."""
    if not registry_path.exists():
        return None
    folder = registry_path.parent
    kept = folder.with_name(f"{folder.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
    suffix = 1
    while kept.exists():
        kept = folder.with_name(f"{folder.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}")
        suffix += 1
    folder.rename(kept)
    return kept


def run_quickstart(settings: QuickstartSettings, *, console: Any = None) -> dict[str, Any]:
    """Run the five steps in ``settings.directory``; return the summary (what ``--json`` prints)."""
    from promptyard.quickstart.report import write_quickstart_report
    from promptyard.registry.api import Registry

    s = settings
    directory = s.directory.resolve()
    if directory.exists() and not directory.is_dir():
        from promptyard.core.errors import UsageError

        raise UsageError(f"{directory} exists and is not a folder", where="--dir",
                         hint="give a new or existing folder for the quickstart's files")
    n = Narrator(console, s.quiet)
    with quickstart_environment(directory) as registry_path:
        kept = set_aside_previous(registry_path)
        if kept is not None:
            n.console.print(f"(kept the previous quickstart registry as {kept})")
        n.step(1, "registry", f"create a registry in {directory} and commit a sentiment prompt in all four kinds")
        registry = Registry.open(registry_path, create=True)
        prompts = commit_prompts(registry, n)
        n.step(2, "evaluate", f"score every version on {s.eval_sample} {DATA} test reviews with {s.model}")
        evals = evaluate_prompts(registry, registry_path, s, prompts, n)
        total = sum(s.trials.values())
        n.step(3, "tune", f"ASHA search, {total} trials: prompt tuning initialised from {evals['best']['ref']} "
                          f"and LoRA, {s.max_steps} steps each on {s.train_sample} training reviews")
        tuned = search_adapters(registry, registry_path, s, evals["best"], n)
        n.step(4, "gate", f"the best adapter + {evals['best']['ref']} against {PROMPT_NAME}@production, "
                          f"allowed drop {s.max_drop}")
        gated = gate_and_rollback(registry, registry_path, s, evals["best"], tuned, n)
        n.step(5, "report", "one self-contained HTML report")
        report = write_quickstart_report(directory / "report.html", settings=s, prompts=prompts, evals=evals,
                                         tuned=tuned, gated=gated)
        n.console.print(f"report: [bold]{report}[/bold]")
        commands = next_commands(registry_path, directory, report, evals["run_id"])
        n.console.print("next, try:")
        for c in commands:
            n.console.print(f"  {c}", markup=False, highlight=False, soft_wrap=True)
        adapter = registry.resolve_adapter(tuned["candidate"]["adapter"])
    elapsed = n.finish()
    n.console.print(f"quickstart done in {elapsed:.0f}s")
    return {
        "directory": str(directory), "registry": str(registry_path), "report": str(report),
        "model": s.model, "ray": tuned["ray"], "prompts": prompts, "production_prompt": 1,
        "eval_run": evals["run_id"], "best_prompt": evals["best"]["ref"], "comparisons": evals["comparisons"],
        "searches": [{k: v for k, v in x.items() if k != "result"} for x in tuned["searches"]],
        "adapter": {"ref": adapter.ref, "lineage": adapter.lineage},
        "gate": {k: v for k, v in gated.items() if k != "run"},
        "next_commands": commands, "timings_s": n.timings, "total_s": elapsed,
    }
