"""Generation: free text, QA and instructions; summarization and translation are generation with
their own default metrics. Loss falls on the target's tokens only; prompt tokens are masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptyard.core.errors import DataError
from promptyard.core.protocols import Example
from promptyard.plugins.tasks.base import example_variables


@dataclass(frozen=True)
class GenerationTask:
    """Produce a target text for an input text."""

    name: str = "generation"
    description: str = "free text, QA or instructions: the model writes the target"
    required_variables: tuple[str, ...] = ("text",)
    default_metrics: tuple[str, ...] = ("exact_match",)
    kind: str = "generation"
    version: str = "1"

    def row_to_example(self, row: Mapping[str, Any], *, options: Mapping[str, Any] | None = None) -> Example:
        target = row.get("target")
        if target is None and (options or {}).get("require_target"):
            raise DataError(f"task {self.name!r} needs a target in every row",
                            hint="map the answer column with target_column=")
        return Example(variables=example_variables(row, self.required_variables, options),
                       target=None if target is None else str(target))

    def predict(self, output: str, options: Mapping[str, Any] | None = None) -> str:
        """The prediction from a generated reply: the text, without surrounding whitespace."""
        return output.strip()


GENERATION = GenerationTask()
SUMMARIZATION = GenerationTask(name="summarization", description="write a short summary of a text",
                               default_metrics=("rouge",))
TRANSLATION = GenerationTask(name="translation", description="translate a text into another language",
                             default_metrics=("bleu",))
