"""Where errors become exit codes and plugin failures become lines on stderr (no typer: the render path uses it)."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator

from promptyard.core.errors import PromptyardError
from promptyard.core.plugin_state import host_needed


@contextlib.contextmanager
def error_boundary(debug: bool = False) -> Iterator[None]:
    """Where errors become exit codes: one ``error: ...`` line on stderr, the traceback only with ``debug``."""
    try:
        yield
    except PromptyardError as exc:
        if debug:
            raise
        # one line whatever the message holds (parser messages quote the offending source over lines)
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `promptyard prompt render … | head`
        sys.exit(0)
    except Exception as exc:
        cause = exc if isinstance(exc, sqlite3.DatabaseError) else getattr(exc, "orig", None)
        if debug or not isinstance(cause, sqlite3.DatabaseError):
            raise
        # a page SQLite cannot read shows up at the first query that touches it, not at open
        detail = " ".join(str(cause).split())
        hint = "the file is damaged: `promptyard registry check` says what" if "malformed" in detail \
            or "not a database" in detail else "see `promptyard registry check`"
        print(f"error: registry database error: {detail} ({hint})", file=sys.stderr)
        sys.exit(1)


def print_plugin_failures(debug: bool = False, *, if_needed: bool = False) -> None:
    """One line per plugin that was skipped or failed, on stderr; the traceback only with ``debug``.

    ``if_needed`` (the render fast path): only when a host is built already or external plugins would be
    loaded (:func:`promptyard.core.plugin_state.host_needed`); otherwise the host holds the built-ins only,
    and building it just to report on them is the cost the fast path avoids.
    """
    if if_needed and not host_needed():
        return
    from promptyard.core.host import get_host  # pluggy and the built-in plugins: not for a plain render

    for failure in get_host().failures:
        print(failure.message(), file=sys.stderr)
        if debug and failure.details:
            print(failure.details, file=sys.stderr, end="")
