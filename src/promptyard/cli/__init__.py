"""The ``promptyard`` command line: one typer sub-app per noun, a thin layer over the Python API."""

from promptyard.cli.main import app, main

__all__ = ["app", "main"]
