"""``promptyard --help`` replayed from a cache of typer's own output, so the root help starts without typer.

Importing typer and rich costs 80 ms, eight bare interpreter starts, before a line of help is drawn. The
root help is a pure function of a few things, so the first run draws it with typer (through
:func:`promptyard.cli.compose.run`, as ever) while recording what it wrote to stdout and stderr and its exit
status, and later runs with the same inputs print the record. The inputs, all in the key or checked on a hit:

- the exact arguments, the interpreter (``sys.version``, ``sys.executable``, ``sys.path``) and promptyard's
  version;
- what rich, typer and click read to lay the text out: whether stdin, stdout and stderr are terminals, their
  sizes and encodings, and the environment variables they consult (``COLUMNS``, ``TERM``, ``NO_COLOR``,
  ``FORCE_COLOR`` … and every ``_TYPER*``, ``_PROMPTYARD*``, ``PROMPTYARD_*``, ``PYTHON*``, ``LC_*`` and ``LANG``);
- the code that drew it: every module file loaded while it was drawn (promptyard's command index and app,
  typer, rich, click …), by modification time and size, checked on every hit (an edit or an upgrade misses);
- the plugins: the cache is used only when no external plugin would be loaded and no plugin host is built in
  this process (:func:`promptyard.core.plugin_state.host_needed`). A plugin that adds commands is installed,
  so the next ``--help`` is drawn by typer, with its commands; once it is removed the cache serves again.

A cache that cannot be read or written only costs speed. ``tests/cli/test_help_cache.py`` compares the
replayed text with typer's at several widths and shows a plugin's command appearing and disappearing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from promptyard._version import __version__
from promptyard.core.digest import sha256_hex
from promptyard.core.paths import cache_dir
from promptyard.core.plugin_state import host_needed

#: environment variables rich, typer and click read while drawing help (found in their sources)
LAYOUT_VARIABLES = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "PY_COLORS",
                    "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TERMINAL_WIDTH", "GITHUB_ACTIONS", "JUPYTER_COLUMNS",
                    "JUPYTER_LINES", "DATABRICKS_RUNTIME_VERSION", "UNICODE_VERSION", "TYPER_USE_RICH",
                    "PYDANTIC_DISABLE_PLUGINS", "XDG_CONFIG_HOME", "COMP_WORDS", "COMP_CWORD", "LANG")
LAYOUT_PREFIXES = ("_TYPER", "_PROMPTYARD", "PROMPTYARD_", "PYTHON", "LC_")
#: entries kept (the most recently drawn): each terminal size has its own
KEEP = 16


def _terminal(fd: int) -> list[Any]:
    try:
        tty = os.isatty(fd)
        size = list(os.get_terminal_size(fd)) if tty else None
    except OSError:
        tty, size = False, None
    return [tty, size]


def _key(args: list[str]) -> str:
    environ = {k: v for k, v in os.environ.items() if k in LAYOUT_VARIABLES or k.startswith(LAYOUT_PREFIXES)}
    facts = {
        "args": args, "version": __version__, "python": [sys.version, sys.executable, sys.path, sys.platform],
        "environ": sorted(environ.items()), "terminals": [_terminal(fd) for fd in (0, 1, 2)],
        "encodings": [getattr(s, "encoding", None) for s in (sys.stdout, sys.stderr)],
    }
    return sha256_hex(json.dumps(facts, sort_keys=True), "surrogateescape")[:32]


def _stat(path: str) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size]


_STDLIB = os.path.dirname(os.__file__)


def _loaded_files() -> list[str]:
    """The files of the modules loaded now, less the standard library's (``sys.version`` is in the key)."""
    files = {f for m in list(sys.modules.values()) if isinstance(f := getattr(m, "__file__", None), str)}
    return sorted(f for f in files if not f.startswith(_STDLIB) or "-packages" in f)


class _Tee:
    """A text stream that records what is written and passes everything else to the real stream (rich asks
    it whether it is a terminal, its size and its encoding: the answers must be the real ones)."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.written: list[str] = []

    def write(self, text: str) -> int:
        done = self._stream.write(text)  # first: click probes with write(b"") and expects the stream's answer
        self.written.append(text)
        return done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _entry_file(args: list[str]) -> Any:
    return cache_dir("help") / f"root-{_key(args)}.json"


def replay(args: list[str]) -> bool:
    """Print the recorded root help for ``args`` and exit with its status; False when there is none to use."""
    if host_needed():
        return False
    try:
        entry = json.loads(_entry_file(args).read_text(encoding="utf-8"))
        if any(_stat(path) != stamp for path, stamp in entry["files"]):
            return False
        out, err, code = entry["stdout"], entry["stderr"], entry["code"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.stdout.flush()
    sys.exit(code)


def record(args: list[str], draw: Callable[[], None]) -> None:
    """Run ``draw`` (typer drawing the root help) and, when plugins cannot change it, record what it printed."""
    if host_needed():
        draw()
        return
    file = _entry_file(args)  # the key before drawing: drawing must not change what the key reads
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    code: Any = 0
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        draw()
    except SystemExit as exc:
        code = exc.code
        raise
    finally:
        sys.stdout, sys.stderr = out._stream, err._stream
        # a host built while drawing holds only the built-ins (no external plugin was wanted)
        _store(file, out.written, err.written, code)


def _store(file: Any, out: list[str], err: list[str], code: Any) -> None:
    if code is not None and not isinstance(code, int):
        return  # an exit with a message: not the help
    files = [[path, _stat(path)] for path in _loaded_files()]
    try:
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"files": files, "stdout": "".join(out), "stderr": "".join(err),
                                   "code": code or 0}), encoding="utf-8")
        os.replace(tmp, file)  # atomic: a concurrent start never reads half an entry
        # one entry per terminal size and environment: keep the most recently drawn few
        old = sorted(file.parent.glob("root-*.json"), key=lambda p: p.stat().st_mtime_ns)[:-KEEP]
        for stale in old:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache folder only costs speed


__all__ = ["KEEP", "LAYOUT_PREFIXES", "LAYOUT_VARIABLES", "record", "replay"]
