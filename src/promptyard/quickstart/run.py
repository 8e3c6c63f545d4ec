"""The quickstart: registry -> evaluation -> hyper-parameter search -> gate and rollback -> HTML report.

Every step calls the public API of its area (registry, evals, tuning search); nothing here re-implements them.
``run_quickstart`` is what ``promptyard quickstart`` runs; it returns a JSON-able summary.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptyard.core.errors import TuningError, UsageError
from promptyard.core.paths import REGISTRY_DIRNAME, REGISTRY_FILENAME, cache_dir
from promptyard.core.template import Template
from promptyard.evals.compare import compare_cells
from promptyard.evals.gate_run import run_gate
from promptyard.evals.suite import CellSpec, Suite
from promptyard.evals.suite_run import run_suite
from promptyard.quickstart.prompts import (
    ADAPTER_NAME,
    PROMPT_NAME,
    STRUCTURED_DECODING,
    TASK,
    VERSIONS,
)
from promptyard.quickstart.report import write_quickstart_report
from promptyard.quickstart.reporter import Narrator, Reporter, SilentReporter, TextReporter
from promptyard.registry.evals_store import load_run
from promptyard.runtime.ray_session import RayTarget, ray_session
from promptyard.tuning.search import SearchSpec
from promptyard.tuning.search_driver import run_search
from promptyard.tuning.search_local import run_search_local
from promptyard.tuning.search_results import trial_rows
from promptyard.tuning.spec import TrainSpec

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
    #: report nothing, whatever reporter is given (for library callers; the CLI picks its reporter)
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


def _ci(m: dict[str, Any]) -> str:
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def commit_prompts(registry: Any, n: Narrator) -> list[dict[str, Any]]:
    """Step 1: one prompt, four versions (one per kind); version 1 labelled production."""

    out = []
    for kind, doc, message in VERSIONS:
        template = Template.from_dict(dict(doc), where=f"quickstart {kind}")
        info = registry.commit(PROMPT_NAME, template, message, task_type=TASK, tags=["sentiment", "quickstart"])
        if info is None:  # the same content as the latest version: reuse it
            info = registry.resolve(f"{PROMPT_NAME}@latest")
        out.append({"version": info.number, "ref": info.ref, "kind": kind, "hash": info.content_hash,
                    "message": message})
    registry.label(f"{PROMPT_NAME}@1", "production", force=True, reason="quickstart: first release")
    n.table("prompt versions", ["ref", "kind", "hash", "message"],
            [[p["ref"], p["kind"], p["hash"][:12], p["message"]] for p in out])
    n.say(f"labelled {PROMPT_NAME}@1 (single) as production")
    return out


def _cell(s: QuickstartSettings, registry_path: Path, prompt: str, kind: str, adapter: str | None = None) -> Any:

    return CellSpec(prompt=prompt, model=s.model, data=DATA, adapter=adapter, split="test", sample=s.eval_sample,
                    metrics=(METRIC,), task=TASK, seed=s.seed, registry=str(registry_path),
                    decoding=dict(STRUCTURED_DECODING) if kind == "structured" else {})


def _comparison_table(n: Narrator, c: Any) -> None:
    n.table(f"{c.a}  ->  {c.b}  ({c.n} paired examples)",
            ["metric", "A", "B", "delta", "95% CI of delta", "test", "p"],
            [[m.name, f"{m.a:.3f}", f"{m.b:.3f}", f"{m.delta:+.3f}", f"[{m.low:+.3f}, {m.high:+.3f}]",
              m.test.test, f"{m.test.p_value:.3g}"] for m in c.metrics])


def evaluate_prompts(registry: Any, registry_path: Path, s: QuickstartSettings, prompts: list[dict[str, Any]],
                     n: Narrator) -> dict[str, Any]:
    """Step 2: every version on one test sample; each compared with production (paired CIs and tests)."""

    cells = [_cell(s, registry_path, p["ref"], p["kind"]) for p in prompts]
    done = run_suite(Suite(name="quickstart: four prompt kinds", cells=cells, seed=s.seed), registry=registry)
    run = load_run(registry, done.run_id)
    scores = []
    for p, cell in zip(prompts, run["cells"], strict=True):
        m = next(x for x in cell["metrics"] if x["name"] == METRIC)
        p[METRIC] = m["value"]
        scores.append([p["ref"], p["kind"], cell["n_examples"], _ci(m)])
    n.table(f"eval run {done.run_id}: {METRIC} with 95% bootstrap CI", ["prompt", "kind", "n", METRIC], scores)
    comparisons = [compare_cells(run["cells"][0], cell, seed=s.seed) for cell in run["cells"][1:]]
    for c in comparisons:
        _comparison_table(n, c)
    # a structured prompt is trained on plain label words it would not produce: tune from the best of the rest
    trainable = [p for p in prompts if p["kind"] != "structured"]
    best = max(trainable, key=lambda p: (p[METRIC], -p["version"]))
    n.say(f"best prompt to tune from: {best['ref']} ({best['kind']}, {METRIC} {best[METRIC]:.3f})")
    return {"run_id": done.run_id, "run": run, "best": best,
            "comparisons": [c.to_dict() for c in comparisons]}


def _ray_usable() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def search_adapters(registry: Any, registry_path: Path, s: QuickstartSettings, best: dict[str, Any],
                    n: Narrator) -> dict[str, Any]:
    """Step 3: an ASHA search per method (prompt tuning from the best prompt, LoRA); each best is registered."""

    specs = []
    for method, trials in s.trials.items():
        train = TrainSpec(model=s.model, data=DATA, method=method, prompt=best["ref"], task=TASK,
                          config=s.train_config(method), seed=s.seed, registry=str(registry_path))
        specs.append(SearchSpec(train_spec=train, space=s.search_space(method), trials=trials, scheduler="asha",
                                name=ADAPTER_NAME, seed=s.seed, max_reports=s.max_steps // s.eval_every + 1))
    use_ray = s.use_ray and _ray_usable()
    if s.use_ray and not use_ray:
        n.say("Ray is not installed: running the trials in this process", "warn")
    results = _run_searches(specs, registry, n) if use_ray else _run_searches_here(specs, registry, n)
    searches = []
    for spec, r in zip(specs, results, strict=True):
        method = spec.train_spec.method
        n.table(f"search {r.search_id} ({method})",
                *trial_rows(r.trials, r.metric, r.best.trial_id if r.best else None))
        searches.append({"id": r.search_id, "method": method, "trials": len(r.trials),
                         "best_metric": r.best.best_metric if r.best else None,
                         "best_params": r.best.params if r.best else None,
                         "adapter": r.adapter.ref if r.adapter else None, "plot": str(r.plot_path),
                         "result": r})
    registered = [x for x in searches if x["adapter"]]
    if not registered:

        raise TuningError("no trial of the search produced an adapter", where="quickstart step 3",
                          hint="run `promptyard tune searches` to see each trial's error")
    winner = max(registered, key=lambda x: x["best_metric"])
    n.say(f"registered {', '.join(x['adapter'] for x in registered)}; best: {winner['adapter']} "
          f"({winner['method']}, validation {METRIC} {winner['best_metric']:.3f})")
    return {"ray": use_ray, "searches": searches, "candidate": winner}


def _run_searches(specs: list[Any], registry: Any, n: Narrator) -> list[Any]:
    """Both searches on one local Ray instance (started once, ~3-5 s)."""

    target = RayTarget(None)
    n.say(f"starting a {target.describe()} (trials run in parallel, one CPU each)")
    with ray_session(target):
        return [run_search(spec, target, registry=registry) for spec in specs]


def _run_searches_here(specs: list[Any], registry: Any, n: Narrator) -> list[Any]:

    n.say("running the trials one after another in this process (--no-ray)")
    out = []
    for spec in specs:
        def done(i: int, record: Any, spec: Any = spec) -> None:
            metric = "-" if record.best_metric is None else f"{record.best_metric:.3f}"
            n.say(f"  {spec.train_spec.method} trial {i + 1}/{spec.trials}: {record.status}, "
                  f"best {METRIC} {metric} {record.params}")

        out.append(run_search_local(spec, registry=registry, on_trial=done))
    return out


def gate_and_rollback(registry: Any, registry_path: Path, s: QuickstartSettings, best: dict[str, Any],
                      tuned: dict[str, Any], n: Narrator) -> dict[str, Any]:
    """Step 4: the gate (adapter + best prompt vs the production prompt); on pass, production; then rollback."""
    candidate = tuned["candidate"]["adapter"]
    baseline = f"{PROMPT_NAME}@production"
    result = run_gate(registry, _cell(s, registry_path, baseline, "single"),
                      replace(_cell(s, registry_path, best["ref"], best["kind"]), adapter=candidate),
                      metric=METRIC, max_drop=s.max_drop, baseline_name=baseline, candidate_name=candidate,
                      seed=s.seed)
    run = load_run(registry, result.run_id)
    _comparison_table(n, result.comparison)
    n.say(result.summary(), "good" if result.passed else "bad")
    out: dict[str, Any] = {"run_id": result.run_id, "run": run, "passed": result.passed,
                           "summary": result.summary(), "gate": result.to_dict(), "candidate": candidate}
    if result.passed:
        registry.label_adapter(candidate, "production", force=True, reason=f"eval gate: {result.summary()}")
        n.say(f"gate passed: labelled {candidate} production")
        others = [x["adapter"] for x in tuned["searches"] if x["adapter"] and x["adapter"] != candidate]
        if others:
            registry.label_adapter(others[0], "production", force=True,
                                   reason="quickstart: a hand promotion that skipped the gate")
            n.say(f"someone promotes {others[0]} by hand, without the gate ...")
        move = registry.rollback_adapter(ADAPTER_NAME, reason="quickstart: back to the gated version")
        kind, name = "adapter", ADAPTER_NAME
    else:
        n.say("gate failed: the adapter stays out of production")
        other = best["ref"] if best["version"] != 1 else f"{PROMPT_NAME}@2"
        registry.label(other, "production", force=True, reason="quickstart: a hand promotion that skipped the gate")
        n.say(f"someone promotes {other} by hand, without the gate ...")
        move = registry.rollback(PROMPT_NAME, reason="quickstart: back to the released version")
        kind, name = "prompt", PROMPT_NAME
    n.say(f"rollback: {name}@production {move.from_number} -> {move.to_number}")
    history = registry.label_history(name, "production", kind=kind)
    n.table(f"{kind} {name}: production label history", ["from", "to", "action", "reason"],
            [[m.from_number, m.to_number, m.action, m.reason] for m in history])
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
            f"xdg-open {report}",
            # last: the web UI over this registry (loopback only, so no token is needed)
            f"promptyard serve --registry {registry_path} --no-auth   # then open http://127.0.0.1:8470/"]


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


def _reporter(s: QuickstartSettings, reporter: Reporter | None, console: Any) -> Reporter:
    if s.quiet:
        return SilentReporter()
    if console is not None:
        warnings.warn("run_quickstart(console=...) is deprecated and ignored: pass reporter=... (the CLI's is "
                      "promptyard.cli.quickstart.RichReporter)", DeprecationWarning, stacklevel=3)
    return reporter or TextReporter()


def run_quickstart(settings: QuickstartSettings, *, reporter: Reporter | None = None,
                   console: Any = None) -> dict[str, Any]:
    """Run the five steps in ``settings.directory``; return the summary (what ``--json`` prints).

    ``reporter`` is told the steps, messages and tables (default: :class:`TextReporter` log lines; nothing
    with ``settings.quiet``). ``console`` is deprecated and ignored.
    """
    from promptyard.registry.api import Registry

    s = settings
    directory = s.directory.resolve()
    if directory.exists() and not directory.is_dir():

        raise UsageError(f"{directory} exists and is not a folder", where="--dir",
                         hint="give a new or existing folder for the quickstart's files")
    n = Narrator(_reporter(s, reporter, console))
    with quickstart_environment(directory) as registry_path:
        kept = set_aside_previous(registry_path)
        if kept is not None:
            n.say(f"(kept the previous quickstart registry as {kept})")
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
        n.say(f"report: {report}")
        commands = next_commands(registry_path, directory, report, evals["run_id"])
        n.say("next, try:")
        for c in commands:
            n.say(f"  {c}", "code")
        adapter = registry.resolve_adapter(tuned["candidate"]["adapter"])
    elapsed = n.finish()
    n.say(f"quickstart done in {elapsed:.0f}s")
    return {
        "directory": str(directory), "registry": str(registry_path), "report": str(report),
        "model": s.model, "ray": tuned["ray"], "prompts": prompts, "production_prompt": 1,
        "eval_run": evals["run_id"], "best_prompt": evals["best"]["ref"], "comparisons": evals["comparisons"],
        "searches": [{k: v for k, v in x.items() if k != "result"} for x in tuned["searches"]],
        "adapter": {"ref": adapter.ref, "lineage": adapter.lineage},
        "gate": {k: v for k, v in gated.items() if k != "run"},
        "next_commands": commands, "timings_s": n.timings, "total_s": elapsed,
    }
