"""``promptyard serve`` (the registry as an HTTP API) and ``promptyard token create|list|revoke``.

Self-contained: importing this module attaches both to the root app; nothing else refers to it.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict
from typing import Any, Optional

import typer

from promptyard.cli.app import app as root_app
from promptyard.cli.output import print_json, table
from promptyard.cli.state import state
from promptyard.core.errors import UsageError
from promptyard.core.paths import registry_path
from promptyard.server.limits import ServerLimits

token_app = typer.Typer(name="token", help="API tokens for `promptyard serve`: create, list, revoke.",
                        no_args_is_help=True)
root_app.add_typer(token_app, name="token")
JSON_OPT = typer.Option(False, "--json", help="Print JSON.")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): the only place ``--no-auth`` may listen."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@root_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8470, "--port", help="Port to listen on."),
    registry: Optional[str] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
        None, "--registry", help="Registry file (default: the root --registry / PROMPTYARD_REGISTRY / found upward)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    no_auth: bool = typer.Option(False, "--no-auth", help="No tokens needed (refused unless --host is loopback)."),
    max_body: int = typer.Option(1 << 20, "--max-body", min=1, help="Largest request body in bytes (413 above)."),
    render_timeout: float = typer.Option(5.0, "--render-timeout", min=0.001,
                                         help="Longest render in seconds (422 above)."),
    max_watch: float = typer.Option(60.0, "--max-watch", min=0.01,
                                    help="Longest a watch request waits, in seconds (keep it under your proxy's "
                                         "read timeout)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the registry over HTTP: JSON API under /api/v1, its schema at /openapi.json."""
    import uvicorn

    from promptyard.registry.api import Registry
    from promptyard.server.app import ENV_AUTH, ENV_LIMITS, ENV_REGISTRY

    if no_auth and not is_loopback(host):
        raise UsageError(f"--no-auth is refused on {host}: anyone who can reach it could move production",
                         where="--no-auth", hint="bind to 127.0.0.1, or create tokens with `promptyard token create`")
    path = registry_path(registry or state.registry)
    Registry.open(path).close()  # "no registry here" and schema upgrades happen before uvicorn starts
    limits = ServerLimits(max_body_bytes=max_body, render_timeout_s=render_timeout, max_watch_s=max_watch)
    os.environ[ENV_REGISTRY] = str(path)
    os.environ[ENV_AUTH] = "0" if no_auth else "1"
    os.environ[ENV_LIMITS] = json.dumps(asdict(limits))
    if not state.quiet:
        auth = "no auth (loopback only)" if no_auth else "tokens required"
        typer.echo(f"serving {path} at http://{host}:{port} ({auth}); API docs at /docs", err=True)
    # a short graceful shutdown: open long-polls are cut after 2 s and their clients poll again
    uvicorn.run("promptyard.server.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False, timeout_graceful_shutdown=2)


def _token_store() -> Any:
    from promptyard.cli.registry_cmd import open_registry

    return open_registry()


@token_app.command("create")
def create(
    name: str = typer.Argument(..., help="Token name (recorded as the actor of every label move it makes)."),
    scope: str = typer.Option(..., "--scope", help="read, write or admin."),
    prompts: Optional[str] = typer.Option(  # noqa: UP045
        None, "--prompts", help="Only prompts and adapters whose name matches this glob, e.g. 'team/*'."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    with _token_store() as reg:
        info, secret = _tokens(reg).create_token(reg, name, scope, prompts)
    if as_json:
        print_json({**info.to_dict(), "token": secret})
        return
    print(secret)
    typer.echo(f"token {info.name!r} ({info.scope}{', ' + info.prompts if info.prompts else ''}) created; "
               "it is shown only this once", err=True)


@token_app.command("list")
def list_tokens(as_json: bool = JSON_OPT) -> None:
    """Tokens with scope, name pattern, creation and revocation (never the secrets)."""
    with _token_store() as reg:
        tokens = _tokens(reg).list_tokens(reg)
    if as_json:
        print_json([t.to_dict() for t in tokens])
        return
    table("tokens", ["name", "scope", "prompts", "created", "revoked"],
          [[t.name, t.scope, t.prompts or "*", t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else ""] for t in tokens])


@token_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="Token name."), as_json: bool = JSON_OPT) -> None:
    """Revoke a token: refused by the server from its next request on."""
    with _token_store() as reg:
        changed = _tokens(reg).revoke_token(reg, name)
    if as_json:
        print_json({"name": name, "revoked": True, "changed": changed})
        return
    print(f"token {name!r} {'revoked' if changed else 'was already revoked'}")


def _tokens(reg: Any) -> Any:
    """The token functions for this registry: the registry module locally, the client's methods remotely."""
    if hasattr(reg, "token_functions"):
        return reg.token_functions()
    from promptyard.registry import tokens

    return tokens
