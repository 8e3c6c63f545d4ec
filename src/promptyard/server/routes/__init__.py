"""One router per noun: prompts, adapters, evals, searches, tokens, health."""
