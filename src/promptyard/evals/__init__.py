"""Evaluation: suites, runner, cache, comparison, distributed runs."""
