"""The house's layers, read from the AST of every module in src/promptyard (function-level imports count).

The rule (docs/architecture.md): arrows only go down —

    cli, server  >  quickstart  >  tuning | evals  >  runtime  >  registry | remote  >  core;  plugins -> core

— the two wings never import each other, built-in plugins import core only, nothing below the CLI and the
server imports them, there is no import cycle, and promptyard's own modules are imported at the top of a
file (the few exceptions below say why).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "promptyard"

#: which top-level packages each layer may import (itself included)
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "plugins": {"core", "plugins"},
    "registry": {"core", "registry"},
    "remote": {"core", "remote"},
    "runtime": {"core", "registry", "runtime"},
    "tuning": {"core", "registry", "runtime", "tuning"},
    "evals": {"core", "registry", "runtime", "evals"},
    "quickstart": {"core", "registry", "runtime", "tuning", "evals", "quickstart"},
    "scaffold": {"core", "scaffold"},
    "server": {"core", "registry", "remote", "runtime", "tuning", "evals", "server"},
    # the CLI builds the command tree from every layer and registers the built-in plugins
    "cli": {"core", "registry", "remote", "runtime", "tuning", "evals", "quickstart", "scaffold", "server",
            "plugins", "cli", "<root>"},
    # helpers for plugin authors' tests drive the real CLI
    "testing": {"core", "registry", "runtime", "cli", "testing", "<root>"},
    "<root>": {"core", "registry", "remote"},
    "_version": set(),
}

#: function-level imports of promptyard's own modules, each with the reason it cannot sit at the top
LAZY_OK: dict[tuple[str, str], str] = {
    ("promptyard", "promptyard.registry.api"): "`import promptyard` must stay light: Registry on first use",
    ("promptyard", "promptyard.core.template"): "`import promptyard` must stay light: Template on first use",
    ("promptyard", "promptyard.remote"): "`import promptyard` must stay light: the HTTP client (httpx) on first use",
    ("promptyard", "promptyard.core.hookspecs"): "`import promptyard` must stay light: pluggy on first use of hookimpl",
    ("promptyard.registry.api", "promptyard.registry.adapters"):
        "the artifact store (shutil, uuid, platform) is for adapter commands; `prompt render` never needs it",
    ("promptyard.registry.reads", "promptyard.registry.history"): "difflib is for diffs; `prompt render` needs none",
}

RICH_OR_TYPER = {"rich", "typer"}
#: libraries that cost start-up time. An own module that loads one at its top (itself or through its own
#: imports) may be imported inside a function, by a module that does not load that library already: that
#: is what keeps `--help` and `prompt render` fast. Any other own import sits at the top of the file.
HEAVY = {"torch", "transformers", "peft", "accelerate", "ray", "evaluate", "matplotlib", "numpy", "sklearn",
         "sacrebleu", "rouge_score", "safetensors", "sqlalchemy", "sqlmodel", "alembic", "typer", "rich",
         "fastapi", "uvicorn", "httpx", "pydantic", "jsonschema", "yaml", "optuna", "jinja2",
         "pluggy"}  # pluggy: 7 ms with inspect; the plugin host loads on first use, not for a plain render
CLI_ONLY = {"cli"}
#: own modules that load heavy libraries inside functions on their main path: core.render renders a plain
#: template without Jinja2 or the plugin host, any other template with both (core.render_jinja)
LOADS_ON_USE: dict[str, set[str]] = {"promptyard.core.render": {"jinja2", "pluggy"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


#: leaf modules any layer may import (they import nothing of promptyard)
LEAVES = {"promptyard._version"}


def internal(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, at function level?, line) for each import; internal ones resolved to a module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                names = [f"{target}.{a.name}" for a in child.names]
                hits = [n for n in names if n in MODULES] or [target]
                found.extend((h, in_function, child.lineno) for h in hits)
            visit(child, nested)

    visit(tree, False)
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for name, _lazy, _line in imports_of(m):
            target = internal(name) if name.split(".")[0] == "promptyard" else None
            if target and target != m:
                edges[m].add(target)
    return edges


def test_every_import_follows_the_layer_rule():
    wrong = []
    edges = graph()
    for m in MODULES:
        allowed = ALLOWED.get(layer(m))
        assert allowed is not None, f"{m}: a new top-level package needs its place in ALLOWED and in docs"
        for target in edges[m]:
            if layer(target) not in allowed and target not in LEAVES:
                wrong.append(f"{m} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_rich_and_typer_only_in_the_cli():
    wrong = [f"{m}:{line} imports {name}" for m in MODULES if layer(m) not in CLI_ONLY
             for name, _lazy, line in imports_of(m) if name.split(".")[0] in RICH_OR_TYPER]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_counting_function_level_imports():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            strong(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def heavy_libraries(on_use: bool = True) -> dict[str, set[str]]:
    """For each own module, the libraries in HEAVY that importing it loads (module-level imports, transitively),
    and with ``on_use`` those LOADS_ON_USE names: what using it loads."""
    direct: dict[str, set[str]] = {m: set() for m in MODULES}
    deps: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for name, is_lazy, _ in imports_of(m):
            if is_lazy:
                continue
            if name.split(".")[0] in HEAVY:
                direct[m].add(name.split(".")[0])
            elif name.split(".")[0] == "promptyard" and internal(name) not in (None, m):
                deps[m].add(internal(name))
    loads = {m: set(v) | (LOADS_ON_USE.get(m, set()) if on_use else set()) for m, v in direct.items()}
    changed = True
    while changed:
        changed = False
        for m, ds in deps.items():
            for d in ds:
                if not loads[d] <= loads[m]:
                    loads[m] |= loads[d]
                    changed = True
    return loads


def lazy_is_justified(module: str, target: str, loads: dict[str, set[str]],
                      at_top: dict[str, set[str]] | None = None) -> bool:
    """A function-level import pays off only when it defers a heavy library the importer does not load anyway
    (at its top: a module in LOADS_ON_USE defers its own heavy libraries that way)."""
    return (module, target) in LAZY_OK or bool(loads[target] - (at_top or loads)[module])


def test_own_modules_are_imported_at_the_top():
    loads, at_top = heavy_libraries(), heavy_libraries(on_use=False)
    lazy = sorted({(m, internal(name), line) for m in MODULES for name, is_lazy, line in imports_of(m)
                   if is_lazy and name.split(".")[0] == "promptyard" and internal(name) not in (None, m)
                   and not lazy_is_justified(m, internal(name), loads, at_top)})
    assert not lazy, "function-level imports of promptyard modules (move them up, or add the reason to " \
                     "LAZY_OK):\n" + "\n".join(f"{m}:{line} -> {t}" for m, t, line in lazy)


@pytest.mark.parametrize("rule", sorted(LAZY_OK))
def test_each_allowed_lazy_import_still_exists(rule):
    module, target = rule
    if module not in MODULES:
        pytest.fail(f"LAZY_OK names {module}, which is gone: drop the entry")
    assert any(internal(n) == target and lazy for n, lazy, _ in imports_of(module)), \
        f"{module} no longer imports {target} lazily: drop the LAZY_OK entry"
