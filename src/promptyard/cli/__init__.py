"""The ``promptyard`` command line: one typer sub-app per noun, a thin layer over the Python API.

Empty on purpose: ``promptyard.cli.entry`` (the console script) must import without typer.
"""
