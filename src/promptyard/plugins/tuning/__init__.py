"""Built-in tuning methods, one folder each: lora, prompt_tuning, prefix_tuning, p_tuning, ia3, full; and the
family ``peft:<type>`` (``peft_types/``): every tuning type the installed peft registers."""

from __future__ import annotations

import importlib

from promptyard.core.hookspecs import hookimpl

METHOD_MODULES = ("lora", "prompt_tuning", "prefix_tuning", "p_tuning", "ia3", "full")


@hookimpl
def register_tuning_methods(register) -> None:
    for name in METHOD_MODULES:
        register(importlib.import_module(f"promptyard.plugins.tuning.{name}").METHOD)
    register(importlib.import_module("promptyard.plugins.tuning.peft_types").FAMILY, family=True)
