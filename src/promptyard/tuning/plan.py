"""Turn a :class:`TrainSpec` into a checked plan (cheap, before anything heavy) and training features.

:func:`plan_run` checks every name and setting and says what is wrong before a model is loaded or a
file written; :func:`prepare` then loads the model and data and renders every row through the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.configs import build_config
from promptyard.core.errors import DataError, TuningError
from promptyard.core.host import lookup
from promptyard.core.lookups import find_loader, load_dataset, load_model, model_kind, runs_as
from promptyard.core.protocols import member
from promptyard.core.template import Template
from promptyard.runtime.model_text import accepted_variables, render_model_text
from promptyard.runtime.prompts import resolve_prompt
from promptyard.tuning.features import causal_features, encoder_features
from promptyard.tuning.spec import TrainingSettings, TrainSpec, split_overrides, training_settings

#: prompts used when a run names none (a user normally passes --prompt)
DEFAULT_PROMPTS = {
    "classification": "Text: {{ text }}\nLabel:",
    "sentiment": "Review: {{ text }}\nSentiment:",
    "topic": "Article: {{ text }}\nTopic:",
}
DEFAULT_GENERATION_PROMPT = "{{ text }}\n"


@dataclass
class Plan:
    """A checked run: method, configs, task and the resolved prompt; nothing loaded yet."""

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


@dataclass
class Prepared:
    """Loaded model, features for training and validation, and what lineage needs about the data."""

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


def _resolve_prompt(spec: TrainSpec, task_hint: str | None) -> tuple[Template, dict[str, Any], str | None]:
    """The template, its identity for lineage, and the task type recorded with it (if any)."""
    prompt = spec.prompt
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
    """Check the method, its settings, the task and the model kind; resolve the prompt. Loads nothing."""
    method = lookup("tuning_methods", spec.method)
    method_part, train_part = split_overrides(method, dict(spec.config))
    method_config = build_config(method, method_part)
    settings = training_settings(train_part)
    find_loader(spec.model)  # unknown model: fail now, not after loading data
    kind = model_kind(spec.model)
    family = runs_as(kind)
    template, prompt, prompt_task = _resolve_prompt(spec, spec.task)
    task_name = spec.task or prompt_task or None
    if task_name is None:
        task_name = "classification"
    task = lookup("task_types", task_name)
    model_kinds = member("tuning_methods", method, "model_kinds")
    if kind not in model_kinds and family not in model_kinds:
        note = member("tuning_methods", method, "unsupported_note")
        raise TuningError(f"method {method.name!r} does not support {kind} models"
                          + (f": {note}" if note else ""), where=spec.model,
                          hint=f"{method.name} works on: {', '.join(model_kinds)}")
    supported_tasks = member("tuning_methods", method, "supported_tasks")
    if supported_tasks is not None and task_name not in supported_tasks:
        raise TuningError(f"method {method.name!r} does not support task {task_name!r}",
                          hint=f"it supports: {', '.join(supported_tasks)}")
    if family == "encoder" and task.kind != "classification":
        raise TuningError(f"an encoder ({spec.model}) can only be tuned for classification, "
                          f"not {task_name!r}",
                          hint="use a causal model such as smollm2-135m for generation tasks")
    # --set lr= is the method config's when it has an `lr` field (the documented bias_only example does)
    lr = settings.lr if settings.lr is not None else getattr(method_config, "lr", None)
    if lr is None:
        lr = member("tuning_methods", method, "default_lr")
    return Plan(spec, method, method_config, settings, task, task_name, kind, template, prompt, lr, family)


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
    """Load model and data, split, and render every row into training features."""
    spec, settings, task = plan.spec, plan.settings, plan.task
    data = load_dataset(spec.data, **spec.data_options)
    parts = data.split(seed=spec.seed, fractions=spec.split_fractions)
    train, validation = parts["train"], parts["validation"]
    if settings.train_sample:
        train = train.sample(settings.train_sample, seed=spec.seed)
    if settings.val_sample:
        validation = validation.sample(settings.val_sample, seed=spec.seed)
    if not len(train) or not len(validation):
        raise DataError(f"too little data to train: {len(train)} training and {len(validation)} validation "
                        "rows", where=spec.data, hint="use more rows or other split fractions")
    classification = task.kind == "classification"
    options = dict(spec.task_options)
    names = accepted_variables(plan.template)
    options.setdefault("variables", names)
    labels: list[str] = []
    choices: list[str] = []
    if classification:
        options.setdefault("labels", list(member("task_types", task, "labels") or data.labels))
        labels = member("task_types", task, "label_names")(options)
        choices = member("task_types", task, "choices")(options)
    loaded = load_model(spec.model, kind=plan.model_kind, num_labels=len(labels) if classification else None)
    tok = loaded.tokenizer

    def features(rows: list[dict[str, Any]], offset: int) -> tuple[list[dict], list[str], list[str]]:
        feats, prompts, targets = [], [], []
        for i, row in enumerate(rows):
            example = task.row_to_example(row, options=options)
            if example.target is None:
                raise DataError("a training row has no label/target", where=f"{spec.data}: row {i + 1}",
                                hint="map the column with --label-column / --target-column")
            prompt = render_model_text(plan.template, example.variables, tok, seed=spec.seed + offset + i,
                                   names=names)
            if plan.runs_as == "encoder":
                feats.append(encoder_features(tok, prompt, labels.index(example.target),
                                              max_length=settings.max_length))
            else:
                target = choices[labels.index(example.target)] if classification else example.target
                feats.append(causal_features(tok, prompt, target, add_eos=not classification,
                                             max_length=settings.max_length))
            prompts.append(prompt)
            targets.append(example.target)
        return feats, prompts, targets

    train_feats, _, _ = features(train.rows, 0)
    val_feats, val_prompts, val_labels = features(validation.rows, len(train.rows))
    data_info = {"ref": spec.data, "fingerprint": data.fingerprint, "options": dict(spec.data_options),
                 "train_fingerprint": train.fingerprint, "validation_fingerprint": validation.fingerprint,
                 "train_rows": len(train), "validation_rows": len(validation),
                 "split": {"seed": spec.seed, "fractions": list(spec.split_fractions)}}
    return Prepared(plan, loaded, train_feats, val_feats, val_prompts, val_labels, labels, choices, data_info,
                    _init_text(plan))
