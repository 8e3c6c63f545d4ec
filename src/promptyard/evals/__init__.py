"""Evaluation: suites, the runner, the response cache, comparison statistics and reports."""
