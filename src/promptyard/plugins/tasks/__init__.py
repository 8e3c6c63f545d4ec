"""Built-in task types: classification (with sentiment and topic configurations) and generation
(with summarization and translation)."""

from __future__ import annotations

from promptyard.core.hookspecs import hookimpl
from promptyard.plugins.tasks.classification import CLASSIFICATION, SENTIMENT, TOPIC
from promptyard.plugins.tasks.generation import GENERATION, SUMMARIZATION, TRANSLATION

TASKS = (CLASSIFICATION, SENTIMENT, TOPIC, GENERATION, SUMMARIZATION, TRANSLATION)


@hookimpl
def register_task_types(register) -> None:
    for task in TASKS:
        register(task)
