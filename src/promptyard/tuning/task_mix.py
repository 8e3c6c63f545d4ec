"""Task mixes: several (prompt, data set, task) triples that one adapter learns at once, with mixing weights.

A mix is a small YAML file (read by the project's one YAML loader, so every error names file, line and key)::

    model: smollm2-135m            # optional; --model wins
    tasks:
      - name: sentiment            # optional: default the task type, else the data set's name
        prompt: sentiment@1        # a registry version or a template file (default: the task's prompt)
        data: rotten_tomatoes
        task: sentiment            # optional: default the prompt's task type
        weight: 2                  # share of the training batches and of the mean metric (default 1)
      - prompt: prompts/topic.jinja
        data: bbc_news
        task: topic

In a :class:`~promptyard.tuning.spec.TrainSpec` a mix is plain data (``spec.mix``: the file's mapping plus
``source`` and ``lines``), so it travels to Ray workers and into a search's saved spec unchanged; the planner
(:func:`promptyard.tuning.plan.plan_run`) checks it again with :func:`check_task_mix`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptyard.core.errors import PromptyardError, ValidationError
from promptyard.core.yaml_files import format_key, load_data_file, located

TOP_KEYS = ("model", "tasks")
TASK_KEYS = ("name", "prompt", "data", "task", "weight", "options", "task_options", "train_sample", "val_sample")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class MixTask:
    """One task of a mix: what to train on and how much of it."""

    name: str
    data: str
    prompt: str | None = None
    task: str | None = None
    weight: float = 1.0
    #: data loader options (text_column, label_column, target_column, skip_bad_rows)
    options: dict[str, Any] = field(default_factory=dict)
    #: task options (verbalizers, labels)
    task_options: dict[str, Any] = field(default_factory=dict)
    #: this task's share of rows; None: the run's train_sample / val_sample
    train_sample: int | None = None
    val_sample: int | None = None


class MixLocator:
    """``mix.yaml line 7, key 'tasks[1].weight'`` for a key path, from the lines the loader kept."""

    def __init__(self, mix: Mapping[str, Any]):
        self.source = str(mix.get("source") or "task mix")
        lines = mix.get("lines")
        self.lines: dict[str, int] = dict(lines) if isinstance(lines, Mapping) else {}

    def __call__(self, *path: str | int) -> str:
        return located(self.source, path, lambda part: self.lines.get(format_key(part)))

    def fail(self, path: tuple[str | int, ...], message: str, hint: str | None = None) -> ValidationError:
        return ValidationError(message, where=self(*path), hint=hint)

    def relocate(self, exc: PromptyardError, *path: str | int) -> PromptyardError:
        """The same error, placed at this key of the mix file (its own place kept in brackets)."""
        here = self(*path)
        where = f"{here} ({exc.where})" if exc.where and exc.where not in here else here
        out = type(exc).__new__(type(exc))
        PromptyardError.__init__(out, exc.message, where=where, hint=exc.hint)
        return out


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def _as_mapping(mix: Any) -> dict[str, Any]:
    """A mix given as a mapping, a list of task mappings or a list of :class:`MixTask`."""
    if isinstance(mix, list | tuple):
        mix = {"tasks": list(mix)}
    if not isinstance(mix, Mapping):
        raise ValidationError(f"a task mix must be a mapping with 'tasks', got {_show(mix)}", where="task mix")
    out = dict(mix)
    if isinstance(out.get("tasks"), list | tuple):
        out["tasks"] = [dataclasses.asdict(t) if isinstance(t, MixTask) else t for t in out["tasks"]]
    return out


def _text(at: MixLocator, value: Any, path: tuple) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.fail(path, f"expected a non-empty string, got {_show(value)}")
    return value.strip()


def _count(at: MixLocator, value: Any, path: tuple) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise at.fail(path, f"expected an integer >= 0, got {_show(value)}")
    return value


def _options(at: MixLocator, value: Any, path: tuple) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise at.fail(path, f"expected a mapping, got {_show(value)}")
    return dict(value)


def _task(at: MixLocator, item: Any, i: int) -> MixTask:
    path = ("tasks", i)
    if not isinstance(item, Mapping):
        raise at.fail(path, f"expected a mapping with prompt and data, got {_show(item)}")
    for key in item:
        if key not in TASK_KEYS:
            raise at.fail((*path, str(key)), f"unknown key {key!r}", hint=f"a task has: {', '.join(TASK_KEYS)}")
    if "data" not in item:
        raise at.fail(path, "missing key 'data'", hint="the task's data set, e.g. rotten_tomatoes or rows.jsonl")
    data = _text(at, item["data"], (*path, "data"))
    prompt = None if item.get("prompt") is None else _text(at, item["prompt"], (*path, "prompt"))
    task = None if item.get("task") is None else _text(at, item["task"], (*path, "task"))
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < float("inf"):
        raise at.fail((*path, "weight"), f"expected a number > 0, got {_show(weight)}",
                      hint="weights are relative: 2 and 1 give the first task two thirds of the batches")
    name = item.get("name")
    if name is None:
        name = task or Path(data).stem or data
    name = _text(at, name, (*path, "name"))
    if not _NAME.match(name):
        raise at.fail((*path, "name"), f"task name {name!r} must be letters, digits, '.', '_' or '-'",
                      hint="it names the task's metrics (val_metric/NAME)")
    return MixTask(name=name, data=data, prompt=prompt, task=task, weight=float(weight),
                   options=_options(at, item.get("options"), (*path, "options")),
                   task_options=_options(at, item.get("task_options"), (*path, "task_options")),
                   train_sample=_count(at, item.get("train_sample"), (*path, "train_sample")),
                   val_sample=_count(at, item.get("val_sample"), (*path, "val_sample")))


def check_task_mix(mix: Any) -> list[MixTask]:
    """The tasks of a mix, checked: known keys, data given, positive weights, distinct names (ValidationError
    naming file, line and key otherwise)."""
    mix = _as_mapping(mix)
    at = MixLocator(mix)
    for key in mix:
        if key not in (*TOP_KEYS, "source", "lines"):
            raise at.fail((str(key),), f"unknown key {key!r}", hint=f"a task mix has: {', '.join(TOP_KEYS)}")
    if mix.get("model") is not None:
        _text(at, mix["model"], ("model",))
    tasks = mix.get("tasks")
    if tasks is None:
        raise at.fail((), "missing key 'tasks'", hint="list the tasks: each with prompt, data and task")
    if not isinstance(tasks, list) or not tasks:
        raise at.fail(("tasks",), f"expected a non-empty list of tasks, got {_show(tasks)}")
    out = [_task(at, item, i) for i, item in enumerate(tasks)]
    seen: dict[str, int] = {}
    for i, task in enumerate(out):
        if task.name in seen:
            raise at.fail(("tasks", i, "name") if "name" in tasks[i] else ("tasks", i),
                          f"two tasks are named {task.name!r} (tasks[{seen[task.name]}] and tasks[{i}])",
                          hint="give each task its own name")
        seen[task.name] = i
    return out


def _rebase(value: str | None, folder: Path) -> str | None:
    """A relative file path in the mix is read from the mix file's folder (a name or reference stays)."""
    if value is None or Path(value).is_absolute():
        return value
    candidate = folder / value
    return str(candidate.resolve()) if candidate.exists() else value


def load_task_mix(path: str | Path) -> dict[str, Any]:
    """Read and check a task mix file; the mapping a :class:`TrainSpec` takes as ``mix``.

    Relative file paths (prompts, data) are made absolute from the file's folder, so Ray workers find them.
    """
    path = Path(path)
    doc = load_data_file(path, what="task mix file")
    data = doc.data
    if not isinstance(data, Mapping):
        raise ValidationError(f"a task mix file holds a mapping with 'tasks', got {_show(data)}", where=str(path),
                              hint="see the example in docs/tuning.md (task mixes)")
    mix = {**data, "source": str(path), "lines": {format_key(k): line for k, line in doc.lines.items()}}
    check_task_mix(mix)
    folder = path.resolve().parent
    mix["tasks"] = [{**t, "prompt": _rebase(t.get("prompt"), folder), "data": _rebase(t["data"], folder)}
                    for t in mix["tasks"]]
    return mix


def mix_name(mix: Mapping[str, Any]) -> str:
    """A name for the mix (its file's stem, else ``mix``): the default adapter name starts with it."""
    source = mix.get("source")
    stem = Path(str(source)).stem if source else ""
    return stem if stem and _NAME.match(stem) else "mix"


__all__ = ["MixLocator", "MixTask", "check_task_mix", "load_task_mix", "mix_name"]
