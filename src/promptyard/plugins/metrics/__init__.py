"""Built-in metrics: promptyard's own ``evaluate.Metric`` modules, loaded by path (works offline).

Each metric is a directory ``modules/<module>/<module>.py`` holding an ``evaluate.Metric`` whose math
comes from scikit-learn, sacrebleu or rouge_score. :class:`ModuleMetric` wraps one for the metrics
table and adds what a bootstrap needs: per-example scores where the metric is a mean, a vectorised
recompute over resampled indices where it is not (precision/recall/F1 from confusion counts, BLEU from
summed sufficient statistics). Nothing heavy is imported here: this module loads for ``--help``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from promptyard.core.hookspecs import hookimpl
from promptyard.plugins.metrics.judge import JUDGE

MODULES_DIR = Path(__file__).resolve().parent / "modules"

#: what a metric is computed from: model prediction vs reference, the raw reply, or timings
INPUTS = ("prediction", "reply", "latency", "tokens", "judged")

_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def load_module(module: str) -> Any:
    """``evaluate.load`` of one of promptyard's metric directories (cached per process)."""
    with _lock:
        if module not in _loaded:
            import evaluate

            # keep_in_memory: no arrow cache files, so parallel workers cannot collide on them
            _loaded[module] = evaluate.load(str(MODULES_DIR / module), keep_in_memory=True)
        return _loaded[module]


@dataclass(frozen=True)
class ModuleMetric:
    """A metric backed by an ``evaluate`` module in :data:`MODULES_DIR`."""

    name: str
    module: str
    description: str
    higher_is_better: bool = True
    #: ``mean`` (per-example scores), ``confusion`` (precision/recall/F1), ``bleu`` (sufficient statistics)
    decomposition: str = "mean"
    inputs: str = "prediction"
    options: dict[str, Any] = field(default_factory=dict)
    #: the key of the headline score in the module's result (default: the module name)
    score: str = ""

    @property
    def headline(self) -> str:
        return self.score or self.module

    @cached_property
    def fingerprint(self) -> str:
        """The module's code (its ``.py`` files, and the resampling code) and this wrapper's settings: an
        edit to either changes it, so memoised results are never replayed across a change."""
        digest = hashlib.sha256(repr(self).encode("utf-8"))
        for path in sorted((MODULES_DIR / self.module).glob("*.py")) + [Path(__file__).with_name("resample.py")]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def _prepare(self, predictions: Sequence[Any], references: Sequence[Any] | None) -> tuple[list, list]:
        if self.inputs in ("latency", "tokens"):
            preds = [float(p) for p in predictions]
            return preds, [0.0] * len(preds)
        preds = ["" if p is None else str(p) for p in predictions]
        refs = ["" if r is None else str(r) for r in (references or [""] * len(preds))]
        return preds, refs

    def compute(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
                **kwargs: Any) -> dict[str, float]:
        """Scores computed by the evaluate module; the first key is the headline."""
        preds, refs = self._prepare(predictions, references)
        if not preds:
            return {self.headline: float("nan")}
        result = load_module(self.module).compute(predictions=preds, references=refs,
                                                  **{**self.options, **kwargs})
        return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}

    def per_example(self, predictions: Sequence[Any], references: Sequence[Any] | None = None,
                    **kwargs: Any) -> list[float] | None:
        """Per-example scores whose mean is the headline, or None where the metric is not a mean."""
        if self.decomposition != "mean" or not predictions:
            return None
        preds, refs = self._prepare(predictions, references)
        result = load_module(self.module).compute(predictions=preds, references=refs, return_per_example=True,
                                                  **{**self.options, **kwargs})
        return [float(x) for x in result["per_example"]]

    def resampler(self, predictions: Sequence[Any], references: Sequence[Any] | None = None, **kwargs: Any):
        """A vectorised ``idx (n_boot, n) -> values (n_boot,)`` recompute of the headline."""
        from promptyard.plugins.metrics import resample

        preds, refs = self._prepare(predictions, references)
        if self.decomposition == "confusion":
            average = self.options.get("average", "macro")
            return resample.confusion_resampler(self.module, preds, refs, average)
        if self.decomposition == "bleu":
            stats = load_module(self.module).compute(predictions=preds, references=refs, return_stats=True)
            return resample.bleu_resampler(stats["stats"])
        from promptyard.core.stats import mean_resampler

        return mean_resampler(self.per_example(predictions, references, **kwargs) or [])


def _classification(name: str, module: str, average: str, what: str) -> ModuleMetric:
    return ModuleMetric(name, module, f"{what}, {average}-averaged over labels (scikit-learn)",
                        decomposition="confusion", options={"average": average})


BUILTIN_METRICS: tuple[ModuleMetric, ...] = (
    ModuleMetric("accuracy", "accuracy", "share of predicted labels equal to the reference (scikit-learn)"),
    _classification("precision", "precision", "macro", "precision"),
    _classification("precision_micro", "precision", "micro", "precision"),
    _classification("recall", "recall", "macro", "recall"),
    _classification("recall_micro", "recall", "micro", "recall"),
    _classification("f1", "f1", "macro", "F1"),
    _classification("f1_macro", "f1", "macro", "F1"),
    _classification("f1_micro", "f1", "micro", "F1"),
    ModuleMetric("exact_match", "exact_match", 
                 "share of outputs equal to the reference after whitespace cleanup"),
    ModuleMetric("bleu", "bleu", "sacrebleu corpus BLEU (0-100)", decomposition="bleu"),
    ModuleMetric("rouge", "rouge", "ROUGE-L F-measure, plus ROUGE-1/2 (rouge_score)", score="rougeL"),
    ModuleMetric("json_validity", "json_validity",
                 "share of replies that are JSON valid against the output schema",
                 inputs="reply"),
    ModuleMetric("latency", "latency", "seconds per example (batched time shared out), mean/p50/p95",
                 higher_is_better=False, inputs="latency", score="latency_s"),
    ModuleMetric("tokens", "tokens", "tokens per example, prompt plus generated", higher_is_better=False,
                 inputs="tokens"),
)


@hookimpl
def register_metrics(register) -> None:
    for metric in BUILTIN_METRICS:
        register(metric)
    register(JUDGE)
