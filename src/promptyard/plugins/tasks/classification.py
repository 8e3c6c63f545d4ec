"""Classification: label by log-likelihood over verbalised choices (causal LMs) or by a head (encoders).

Sentiment and topic are configurations of it: label names plus the words that say them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from promptyard.core.errors import DataError, UsageError
from promptyard.core.protocols import Example
from promptyard.plugins.tasks.base import example_variables


@dataclass(frozen=True)
class ClassificationTask:
    """Pick one of a fixed set of labels for a text."""

    name: str = "classification"
    description: str = "pick one label for a text (log-likelihood over verbalised labels, or a head)"
    required_variables: tuple[str, ...] = ("text",)
    default_metrics: tuple[str, ...] = ("accuracy", "f1_macro")
    #: fixed label names (a configuration); ``None`` = taken from the data (``options["labels"]``)
    labels: tuple[str, ...] | None = None
    #: label -> the word(s) a causal LM should say for it; default: the label itself
    verbalizers: Mapping[str, str] = field(default_factory=dict)
    kind: str = "classification"
    version: str = "1"

    def configure(self, *, labels: Sequence[str] | None = None,
                  verbalizers: Mapping[str, str] | None = None) -> ClassificationTask:
        """A copy with a label set (e.g. from the data) and verbalisers."""
        return replace(self, labels=tuple(labels) if labels is not None else self.labels,
                       verbalizers={**self.verbalizers, **(verbalizers or {})})

    def label_names(self, options: Mapping[str, Any] | None = None) -> list[str]:
        labels = (options or {}).get("labels") or self.labels
        if not labels:
            raise UsageError(f"task {self.name!r} needs its label set",
                             hint="pass options={'labels': data.labels} or use a configured task "
                                  "(sentiment, topic)")
        return [str(x) for x in labels]

    def choices(self, options: Mapping[str, Any] | None = None) -> list[str]:
        """The verbalised labels, in label order."""
        verbalizers = {**self.verbalizers, **((options or {}).get("verbalizers") or {})}
        return [str(verbalizers.get(label, label)) for label in self.label_names(options)]

    def row_to_example(self, row: Mapping[str, Any], *, options: Mapping[str, Any] | None = None) -> Example:
        labels = self.label_names(options)
        label = row.get("label")
        if label is not None and str(label) not in labels:
            raise DataError(f"label {label!r} is not one of {', '.join(labels)}",
                            hint="check the data's label column, or the task's label set")
        return Example(variables=example_variables(row, self.required_variables, options),
                       target=None if label is None else str(label), choices=self.choices(options),
                       meta={"labels": labels})

    def label_index(self, label: str, options: Mapping[str, Any] | None = None) -> int:
        return self.label_names(options).index(str(label))

    def predict(self, scores: Sequence[float], options: Mapping[str, Any] | None = None) -> str:
        """The label whose choice scored highest."""
        labels = self.label_names(options)
        return labels[max(range(len(scores)), key=lambda j: scores[j])]


CLASSIFICATION = ClassificationTask()
SENTIMENT = ClassificationTask(name="sentiment", description="positive or negative sentiment of a text",
                               labels=("negative", "positive"))
TOPIC = ClassificationTask(name="topic", description="news topic (BBC News labels)",
                           labels=("business", "entertainment", "politics", "sports", "tech"))
