"""``promptyard plugins new``: write a ready-to-install plugin package ``promptyard-NAME``."""

from __future__ import annotations

import re
from pathlib import Path

from promptyard._version import __version__
from promptyard.core.errors import UsageError

KINDS = ("both", "metric", "task")
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_TEMPLATES = Path(__file__).parent / "templates"

#: file in the new package -> template it is rendered from
FILES = {
    "pyproject.toml": "pyproject.toml.j2",
    "README.md": "README.md.j2",
    "src/{module}/__init__.py": "module.py.j2",
    "tests/test_{module}.py": "test_module.py.j2",
}


def new_plugin(name: str, directory: Path | str = ".", *, kind: str = "both") -> Path:
    """Write the package ``promptyard-NAME`` under ``directory`` and return its folder.

    ``kind`` picks the example: a metric, a task type, or both. Refuses to overwrite anything.
    """
    name = name.strip().lower()
    if name.startswith("promptyard-"):
        name = name[len("promptyard-"):]
    if not _NAME.fullmatch(name):
        raise UsageError(f"plugin name {name!r} is not valid",
                         hint="use lower-case letters, digits and single '-' or '_', starting with a letter")
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}", hint=f"one of: {', '.join(KINDS)}")
    root = Path(directory) / f"promptyard-{name}"
    if root.exists():
        raise UsageError(f"{root} already exists", hint="pick another name or --dir, or remove it")
    import jinja2


    ident = name.replace("-", "_")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    context = {
        "name": name, "ident": ident, "module": f"promptyard_{ident}", "kind": kind,
        "metric": kind in ("both", "metric"), "task": kind in ("both", "task"),
        "promptyard_version": __version__,
    }
    for target, template in FILES.items():
        path = root / target.format(module=context["module"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(context), encoding="utf-8")
    return root
