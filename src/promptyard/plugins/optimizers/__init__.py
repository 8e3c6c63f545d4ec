"""Built-in prompt optimisers: successive halving, bootstrapped few-shot, proposed instructions, bandit
allocation, and random search (the baseline the others are measured against)."""

from __future__ import annotations

from promptyard.core.hookspecs import hookimpl
from promptyard.plugins.optimizers.bandit import BanditAllocation
from promptyard.plugins.optimizers.bootstrap import BootstrapFewShot
from promptyard.plugins.optimizers.halving import RandomSearch, SuccessiveHalving
from promptyard.plugins.optimizers.proposals import ProposedInstructions

OPTIMIZERS = (SuccessiveHalving(), BootstrapFewShot(), ProposedInstructions(), BanditAllocation(), RandomSearch())


@hookimpl
def register_prompt_optimizers(register) -> None:
    for optimizer in OPTIMIZERS:
        register(optimizer)
