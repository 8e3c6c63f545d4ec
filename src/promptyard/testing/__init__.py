"""Helpers for testing promptyard and its plugins (pytest fixtures: ``promptyard.testing._pytest_plugin``).

- :func:`invoke` runs the CLI in-process and captures what it printed and its exit code.
- :func:`isolated_environment` points the registry and every cache at a temporary folder.
- :func:`plugin_registered` registers a plugin for the duration of a ``with`` block.
- :func:`tiny_causal_lm` builds a tiny causal LM and byte-level tokenizer from a config (no download).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptyard.cli import logs
from promptyard.cli.state import state
from promptyard.core.errors import PluginError
from promptyard.core.host import get_host
from promptyard.core.protocols import LoadedModel


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: list[str], *, input: str | None = None,
           entry: Callable[[list[str]], None] | None = None) -> CliResult:
    """Run ``promptyard ARGS`` in this process; return exit code, stdout and stderr.

    ``entry`` is the function that gets ``ARGS``: the typer app's ``main`` unless given
    (``promptyard.cli.entry.main`` is the installed script's entry point).
    """
    import sys

    from promptyard.cli import progress
    from promptyard.cli.main import main

    entry = entry or main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    saved = (state.registry, state.debug, state.quiet)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                entry(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = old_stdin
        state.registry, state.debug, state.quiet = saved
        # the root command installed the progress display and the log handler: leave the process as it was
        progress.uninstall()
        logs.uninstall()
    return CliResult(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def isolated_environment(root: Path) -> Iterator[Path]:
    """Point ``PROMPTYARD_REGISTRY``, ``PROMPTYARD_HOME``, caches and work dir at ``root``."""
    root = Path(root)
    names = {
        "PROMPTYARD_REGISTRY": str(root / ".promptyard" / "registry.db"),
        "PROMPTYARD_HOME": str(root / "home"),
        "PROMPTYARD_CACHE": str(root / "cache"),
        "PROMPTYARD_WORKDIR": str(root / "work"),
    }
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield root
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def plugin_registered(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` on the process-wide host for the block, and always unregister it after.

    A plugin that is already registered (e.g. installed, so loaded through its entry point) is
    left as it is. A plugin the host rejects (misspelt hook, a register hook that raises) raises
    :class:`~promptyard.core.errors.PluginError` with the reason, instead of silently missing.
    """

    host = get_host()
    if host.pm.is_registered(plugin):
        yield host.pm.get_name(plugin)
        return
    seen = len(host.failures)
    plugin_name = host.register(plugin, name=name)
    rejected = [f for f in host.failures[seen:] if f.plugin == plugin_name]
    if rejected:
        del host.failures[seen:]
        if host.pm.get_plugin(plugin_name) is not None:
            host.unregister(name=plugin_name)
        raise PluginError(f"plugin {plugin_name!r} was rejected: {rejected[0].error}")
    try:
        yield plugin_name
    finally:
        host.unregister(name=plugin_name)


def tiny_causal_lm(
    *, seed: int = 0, hidden_size: int = 32, layers: int = 2, save_to: Path | None = None
) -> Any:
    """A randomly initialised Llama-style causal LM (~50k parameters) with a byte-level tokenizer.

    Built from a config, so it needs no download; deterministic for a ``seed``. Returns a
    :class:`~promptyard.core.protocols.LoadedModel` (``ref="tiny-llama"``, ``kind="causal"``);
    with ``save_to`` the model and tokenizer are also saved there (a local model directory).
    """
    import hashlib

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


    specials = ["<pad>", "<s>", "</s>"]
    vocab = {token: i for i, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    # BPE with no merges over the 256 byte symbols: every text round-trips, one token per byte.
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                         tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    path = None
    if save_to is not None:
        model.save_pretrained(save_to)
        tokenizer.save_pretrained(save_to)
        path = str(save_to)
    return LoadedModel(model=model, tokenizer=tokenizer, ref="tiny-llama", kind="causal",
                       content_hash=digest.hexdigest(), path=path)


def write_distribution(
    site: Path, name: str, *, version: str = "0.1.0", entry_points: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """Write an installed-looking distribution (``NAME-VERSION.dist-info`` plus ``files``) into ``site``.

    Put ``site`` on ``sys.path`` and ``importlib.metadata`` finds it like a pip-installed package:
    a fast way to exercise entry-point discovery in tests. ``entry_points`` maps plugin name to
    module (group ``promptyard``).
    """
    import importlib

    site = Path(site)
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[promptyard]"] + [f"{ep} = {target}" for ep, target in (entry_points or {}).items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for relative, text in (files or {}).items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    importlib.invalidate_caches()  # importlib.metadata caches directory listings
    return dist_info
