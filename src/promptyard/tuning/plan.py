"""Turn a :class:`TrainSpec` into a checked plan (cheap, before anything heavy) and training features.

:func:`plan_run` checks every name and setting and says what is wrong before a model is loaded or a
file written; :func:`prepare` then loads the model and data and renders every row through the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.configs import build_config
from promptyard.core.errors import DataError, PromptyardError, TuningError
from promptyard.core.host import lookup
from promptyard.core.lookups import find_dataset_loader, find_loader, load_dataset, load_model, model_kind, runs_as
from promptyard.core.protocols import member
from promptyard.core.template import Template
from promptyard.runtime.model_text import accepted_variables, render_model_text
from promptyard.runtime.prompts import resolve_prompt
from promptyard.tuning.features import causal_features, encoder_features
from promptyard.tuning.spec import TrainingSettings, TrainSpec, split_overrides, training_settings
from promptyard.tuning.task_mix import MixLocator, MixTask, check_task_mix

#: prompts used when a run names none (a user normally passes --prompt)
DEFAULT_PROMPTS = {
    "classification": "Text: {{ text }}\nLabel:",
    "sentiment": "Review: {{ text }}\nSentiment:",
    "topic": "Article: {{ text }}\nTopic:",
}
DEFAULT_GENERATION_PROMPT = "{{ text }}\n"


@dataclass
class TaskPlan:
    """One task a run trains on: its task type, resolved prompt and data, and its weight in a mix."""

    name: str
    task: Any
    task_name: str
    template: Template
    prompt: dict[str, Any]  # ref, resolved, hash
    data: str
    data_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    train_sample: int | None = None  # None: the run's setting
    val_sample: int | None = None


@dataclass
class Plan:
    """A checked run: method, configs, task and the resolved prompt; nothing loaded yet.

    ``tasks`` holds every task of the run: one for a plain run (the same as ``task``, ``template``,
    ``prompt``), several for a task mix (``task``, ``template`` and ``prompt`` are then the first task's).
    """

    spec: TrainSpec
    method: Any
    method_config: Any
    settings: TrainingSettings
    task: Any
    task_name: str
    model_kind: str
    template: Template
    prompt: dict[str, Any]  # ref, resolved, hash
    lr: float
    #: how the model runs: "causal" or "encoder" (a loader's own kind maps to one of them)
    runs_as: str = "causal"
    tasks: list[TaskPlan] = field(default_factory=list)

    @property
    def is_mix(self) -> bool:
        return self.spec.mix is not None


@dataclass
class PreparedTask:
    """One task's validation features and labels, and where its rows sit in ``Prepared.train``."""

    plan: TaskPlan
    validation: list[dict[str, Any]]
    val_prompts: list[str]
    val_labels: list[str]
    labels: list[str]
    choices: list[str]
    data: dict[str, Any]
    train_rows: range  # indices into Prepared.train


@dataclass
class Prepared:
    """Loaded model, features for training and validation, and what lineage needs about the data.

    ``tasks`` has one entry per task of the plan; for a plain run the fields here are that task's, for a
    mix ``train`` holds every task's rows (each task's range in its entry) and the rest is the first task's.
    """

    plan: Plan
    loaded: Any
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    val_prompts: list[str]
    val_labels: list[str]
    labels: list[str]
    choices: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    init_text: str | None = None
    tasks: list[PreparedTask] = field(default_factory=list)


def _resolve_prompt(spec: TrainSpec, task_hint: str | None, prompt: Any
                    ) -> tuple[Template, dict[str, Any], str | None]:
    """The template of ``prompt`` (a reference, Template, dict or None), its identity for lineage, and the
    task type recorded with it (if any)."""
    if isinstance(prompt, Template):
        return prompt, {"ref": None, "resolved": None, "hash": prompt.content_hash()}, None
    if isinstance(prompt, dict):
        template = Template.from_dict(prompt, where="prompt")
        return template, {"ref": None, "resolved": None, "hash": template.content_hash()}, None
    if prompt is None:
        text = DEFAULT_PROMPTS.get(task_hint or "", DEFAULT_GENERATION_PROMPT if task_hint else
                                   DEFAULT_PROMPTS["classification"])
        template = Template(kind="single", text=text)
        return template, {"ref": None, "resolved": "default", "hash": template.content_hash()}, None
    resolved = resolve_prompt(str(prompt), registry_path=spec.registry)
    return resolved.template, resolved.identity(), resolved.task_type


def plan_run(spec: TrainSpec) -> Plan:
    """Check the method, its settings, the task and the model kind; resolve the prompt. Loads nothing.

    A task mix (``spec.mix``) is planned task by task; an error names the mix file, line and key.
    """
    method = lookup("tuning_methods", spec.method)
    method_part, train_part = split_overrides(method, dict(spec.config))
    method_config = build_config(method, method_part)
    settings = training_settings(train_part)
    find_loader(spec.model)  # unknown model: fail now, not after loading data
    kind = model_kind(spec.model)
    family = runs_as(kind)
    model_kinds = member("tuning_methods", method, "model_kinds")
    if kind not in model_kinds and family not in model_kinds:
        note = member("tuning_methods", method, "unsupported_note")
        raise TuningError(f"method {method.name!r} does not support {kind} models"
                          + (f": {note}" if note else ""), where=spec.model,
                          hint=f"{method.name} works on: {', '.join(model_kinds)}")
    if spec.mix is None:
        if not spec.data:
            raise TuningError("no data to train on", where="data", hint="name a data set, or give a task mix")
        tasks = [_plan_task(spec, method, family, spec.prompt, spec.task,
                            MixTask(name=spec.task or "task", data=spec.data, options=dict(spec.data_options),
                                    task_options=dict(spec.task_options)))]
    else:
        tasks = _plan_mix(spec, method, family)
    # --set lr= is the method config's when it has an `lr` field (the documented bias_only example does)
    lr = settings.lr if settings.lr is not None else getattr(method_config, "lr", None)
    if lr is None:
        lr = member("tuning_methods", method, "default_lr")
    first = tasks[0]
    return Plan(spec, method, method_config, settings, first.task, first.task_name, kind, first.template,
                first.prompt, lr, family, tasks)


def _plan_task(spec: TrainSpec, method: Any, family: str, prompt_ref: Any, task_hint: str | None,
               entry: MixTask) -> TaskPlan:
    """One task's prompt resolved and task type checked against the method and the model."""
    template, prompt, prompt_task = _resolve_prompt(spec, task_hint, prompt_ref)
    task_name = task_hint or prompt_task or "classification"
    task = lookup("task_types", task_name)
    supported_tasks = member("tuning_methods", method, "supported_tasks")
    if supported_tasks is not None and task_name not in supported_tasks:
        raise TuningError(f"method {method.name!r} does not support task {task_name!r}",
                          hint=f"it supports: {', '.join(supported_tasks)}")
    if family == "encoder" and task.kind != "classification":
        raise TuningError(f"an encoder ({spec.model}) can only be tuned for classification, "
                          f"not {task_name!r}",
                          hint="use a causal model such as smollm2-135m for generation tasks")
    return TaskPlan(name=entry.name, task=task, task_name=task_name, template=template, prompt=prompt,
                    data=entry.data, data_options=dict(entry.options), task_options=dict(entry.task_options),
                    weight=entry.weight, train_sample=entry.train_sample, val_sample=entry.val_sample)


def _plan_mix(spec: TrainSpec, method: Any, family: str) -> list[TaskPlan]:
    """Every task of the mix planned; an error is placed at the key of the mix file that caused it."""
    at = MixLocator(spec.mix if isinstance(spec.mix, dict) else {})
    tasks = []
    for i, entry in enumerate(check_task_mix(spec.mix)):
        if entry.task is not None:
            try:
                lookup("task_types", entry.task)
            except PromptyardError as exc:
                raise at.relocate(exc, "tasks", i, "task") from None
        no_loader = _dataset_loader_check(entry.data)
        if no_loader is not None:
            raise at.relocate(no_loader, "tasks", i, "data") from None
        if family == "encoder" and entry.task is not None and lookup("task_types", entry.task).kind != \
                "classification":
            raise TuningError(f"the tasks of this mix need different model kinds: {entry.name!r} "
                              f"({entry.task}) needs a causal model, and the mix tunes one adapter on "
                              f"{spec.model}, an encoder", where=at("tasks", i, "task"),
                              hint="use a causal model such as smollm2-135m for every task of the mix")
        try:
            tasks.append(_plan_task(spec, method, family, entry.prompt, entry.task, entry))
        except PromptyardError as exc:
            key = "prompt" if entry.prompt is not None and not isinstance(exc, TuningError) else "task"
            raise at.relocate(exc, "tasks", i, key) from None
    kinds = {t.task.kind for t in tasks}
    if len(kinds) > 1:
        listed = ", ".join(f"{t.name} ({t.task.kind})" for t in tasks)
        raise TuningError("the tasks of a mix must all be classification or all generation tasks: their "
                          f"validation metrics (accuracy, loss) cannot be averaged; got {listed}",
                          where=at("tasks"), hint="tune classification and generation tasks in two runs")
    return tasks


def _dataset_loader_check(ref: str) -> PromptyardError | None:
    """The error a data set reference would give when no loader takes it (nothing is loaded)."""
    try:
        find_dataset_loader(ref)
    except PromptyardError as exc:
        return exc
    return None


def prompt_init_text(template: Template) -> str:
    """The words of a template without its Jinja markup: what a soft prompt starts from."""
    text = "\n".join(source for _, source in template.sources())
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
    return re.sub(r"[ \t]+", " ", text).strip()


def _init_text(plan: Plan) -> str | None:
    ref = getattr(plan.method_config, "init_from_prompt", None)
    if ref is None:
        return None
    if str(ref).strip().lower() in ("true", "yes", "on", "1"):
        return prompt_init_text(plan.template)
    from promptyard.registry.api import Registry

    with Registry.open(plan.spec.registry) as registry:
        return prompt_init_text(registry.get_template(str(ref)))


def prepare(plan: Plan) -> Prepared:
    """Load model and data, split, and render every row of every task into training features."""
    spec = plan.spec
    loaded_data = [_load_task_data(plan, tp) for tp in plan.tasks]
    labels_of: list[tuple[dict[str, Any], list[str], list[str]]] = []
    for tp, (data, _, _) in zip(plan.tasks, loaded_data, strict=True):
        options = dict(tp.task_options)
        options.setdefault("variables", accepted_variables(tp.template))
        labels: list[str] = []
        choices: list[str] = []
        if tp.task.kind == "classification":
            options.setdefault("labels", list(member("task_types", tp.task, "labels") or data.labels))
            labels = member("task_types", tp.task, "label_names")(options)
            choices = member("task_types", tp.task, "choices")(options)
        labels_of.append((options, labels, choices))
    if plan.runs_as == "encoder" and len({tuple(labels) for _, labels, _ in labels_of}) > 1:
        sets = "; ".join(f"{tp.name}: {', '.join(labels)}" for tp, (_, labels, _) in zip(plan.tasks, labels_of,
                                                                                        strict=True))
        raise TuningError("the tasks of this mix need different model kinds: an encoder has one classification "
                          f"head with one label set, and these tasks have different ones ({sets})",
                          where=spec.model, hint="use a causal model such as smollm2-135m (it scores each "
                                                 "task's own labels), or tune the tasks one by one")
    first_labels = labels_of[0][1]
    loaded = load_model(spec.model, kind=plan.model_kind,
                        num_labels=len(first_labels) if plan.tasks[0].task.kind == "classification" else None)
    train_feats: list[dict[str, Any]] = []
    tasks: list[PreparedTask] = []
    offset = 0
    for tp, (data, train, validation), (options, labels, choices) in zip(plan.tasks, loaded_data, labels_of,
                                                                          strict=True):
        render = _Renderer(plan, tp, loaded.tokenizer, options, labels, choices)
        feats, _, _ = render(train.rows, offset)
        val_feats, val_prompts, val_labels = render(validation.rows, offset + len(train.rows))
        data_info = {"ref": tp.data, "fingerprint": data.fingerprint, "options": dict(tp.data_options),
                     "train_fingerprint": train.fingerprint, "validation_fingerprint": validation.fingerprint,
                     "train_rows": len(train), "validation_rows": len(validation),
                     "split": {"seed": spec.seed, "fractions": list(spec.split_fractions)}}
        start = len(train_feats)
        train_feats += feats
        tasks.append(PreparedTask(tp, val_feats, val_prompts, val_labels, labels, choices, data_info,
                                  range(start, len(train_feats))))
        offset += len(train.rows) + len(validation.rows)
    first = tasks[0]
    return Prepared(plan, loaded, train_feats, first.validation, first.val_prompts, first.val_labels, first.labels,
                    first.choices, first.data if not plan.is_mix else {}, _init_text(plan), tasks)


def _load_task_data(plan: Plan, tp: TaskPlan) -> tuple[Any, Any, Any]:
    """A task's data set and its (sampled) train and validation splits."""
    spec, settings = plan.spec, plan.settings
    data = load_dataset(tp.data, **tp.data_options)
    parts = data.split(seed=spec.seed, fractions=spec.split_fractions)
    train, validation = parts["train"], parts["validation"]
    train_sample = settings.train_sample if tp.train_sample is None else tp.train_sample
    val_sample = settings.val_sample if tp.val_sample is None else tp.val_sample
    if train_sample:
        train = train.sample(train_sample, seed=spec.seed)
    if val_sample:
        validation = validation.sample(val_sample, seed=spec.seed)
    if not len(train) or not len(validation):
        where = tp.data if not plan.is_mix else f"{tp.data} (task {tp.name!r} of the mix)"
        raise DataError(f"too little data to train: {len(train)} training and {len(validation)} validation "
                        "rows", where=where, hint="use more rows or other split fractions")
    return data, train, validation


class _Renderer:
    """Rows of one task -> training features, rendered prompts and targets."""

    def __init__(self, plan: Plan, tp: TaskPlan, tokenizer: Any, options: dict[str, Any], labels: list[str],
                 choices: list[str]):
        self.plan, self.tp, self.tok, self.options = plan, tp, tokenizer, options
        self.labels, self.choices = labels, choices
        self.names = options["variables"]

    def __call__(self, rows: list[dict[str, Any]], offset: int) -> tuple[list[dict], list[str], list[str]]:
        plan, tp, settings = self.plan, self.tp, self.plan.settings
        classification = tp.task.kind == "classification"
        feats, prompts, targets = [], [], []
        for i, row in enumerate(rows):
            example = tp.task.row_to_example(row, options=self.options)
            if example.target is None:
                raise DataError("a training row has no label/target", where=f"{tp.data}: row {i + 1}",
                                hint="map the column with --label-column / --target-column")
            prompt = render_model_text(tp.template, example.variables, self.tok, seed=plan.spec.seed + offset + i,
                                       names=self.names)
            if plan.runs_as == "encoder":
                feats.append(encoder_features(self.tok, prompt, self.labels.index(example.target),
                                              max_length=settings.max_length))
            else:
                target = self.choices[self.labels.index(example.target)] if classification else example.target
                feats.append(causal_features(self.tok, prompt, target, add_eos=not classification,
                                             max_length=settings.max_length))
            prompts.append(prompt)
            targets.append(example.target)
        return feats, prompts, targets
