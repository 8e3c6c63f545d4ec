"""Greedy batched generation that reads the model's weights fewer times than ``model.generate`` does.

On a CPU a decoding step costs about the same for one row as for eight: it is the pass over the weights
(hundreds of MB) that takes the time, not the rows. Hugging Face's ``generate`` on a batch runs every row
until the longest reply is done, and prefills every prompt from its first token. This loop gives the same
greedy replies with fewer passes:

- **a shared prefix is prefilled once.** The tokens every prompt starts with (the chat template's system
  turn, the prompt template's fixed instructions) are run once, in a batch of one; each prompt then
  prefills only what follows.
- **continuous batching.** A row leaves the batch as soon as it ends (EOS or ``max_new_tokens``) and the
  next prompt takes its place, so the batch stays full and no step is spent on rows already done.
  Prompts go in by length, shortest first, so those prefilled together need little padding.

The cache is one :class:`transformers.DynamicCache` whose rows are laid out ``[prefix][padding][prompt
rest + reply]``: rows joining later are padded after the prefix, padding is masked, and every row gets its
own position ids, so each row sees exactly the positions and tokens it would see alone. Columns that are
padding in every row are dropped whenever a row leaves.

It is exact fp32 greedy decoding, not an approximation; replies equal ``generate``'s up to the last bits of
floating-point summation order (``bench/bench_generate.py`` counts replies that differ). :func:`unsupported`
says when this loop cannot stand in for ``generate`` (sampling, beam search, logits processors from the
generation config, prompt-learning adapters, caches other than plain per-layer key/value tensors);
:func:`promptyard.runtime.inference.generate` then calls ``generate`` itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

#: generation-config settings that add a logits processor or change the search: this loop applies none
_PROCESSING = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "min_length": 0, "min_new_tokens": None,
    "forced_bos_token_id": None, "forced_eos_token_id": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "sequence_bias": None, "exponential_decay_length_penalty": None,
    "renormalize_logits": False, "num_beams": 1, "num_beam_groups": 1, "penalty_alpha": None,
    "guidance_scale": None, "watermarking_config": None, "do_sample": False, "prompt_lookup_num_tokens": None,
    "assistant_model": None,
}
#: the smallest shared prefix worth a pass of its own
MIN_PREFIX = 4


def unsupported(model: Any, decoding: dict[str, Any]) -> str | None:
    """Why :func:`greedy` cannot give ``model.generate(**decoding)``'s replies, or None when it can."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    for key, value in decoding.items():
        if key not in _PROCESSING or value != _PROCESSING[key]:
            return f"decoding setting {key}={value!r}"
    config = getattr(model, "generation_config", None)
    for key, default in _PROCESSING.items():
        value = getattr(config, key, default) if config is not None else default
        if key not in decoding and value not in (default, None) and not (key == "min_length" and value == 0):
            return f"generation config {key}={value!r}"
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        return "a prompt-learning adapter (virtual tokens)"
    text_config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") \
        else model.config
    if getattr(text_config, "is_encoder_decoder", False):
        return "an encoder-decoder model"
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception as exc:  # a config the cache classes cannot read: generate() knows best
        return f"cache layout unknown ({type(exc).__name__})"
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return "a cache with sliding-window or recurrent layers"
    return None


@contextlib.contextmanager
def packed_head(model: Any) -> Iterator[None]:
    """Within the block, the output layer multiplies with a oneDNN-packed copy of its fp32 weight.

    The output layer is the largest matrix of a small model (SmolLM2-135M: 49152 x 576, a fifth of the
    weights) and, a few rows at a time, the default fp32 kernel is far from the memory bandwidth; the
    packed one is about twice as fast. The same products are summed in another order (differences at the
    last bits). A CPU without oneDNN, another dtype or an output layer an adapter wraps: left as it is.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = getattr(base, "lm_head", None)
    if type(head) is not torch.nn.Linear or head.weight.dtype != torch.float32 \
            or head.weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        yield
        return
    packed = torch.ops.mkldnn._reorder_linear_weight(head.weight.detach(), 8)
    bias = head.bias

    class PackedHead(torch.nn.Module):
        def forward(self, hidden: Any) -> Any:  # noqa: D401 - a thin module so nn.Module attribute rules hold
            flat = torch.ops.mkldnn._linear_pointwise(hidden.reshape(-1, hidden.shape[-1]), packed, bias,
                                                      "none", [], "")
            return flat.reshape(*hidden.shape[:-1], flat.shape[-1])

    base.lm_head = PackedHead()
    try:
        yield
    finally:
        base.lm_head = head


def cache_argument(model: Any) -> str:
    """The forward argument that takes the cache: ``cache`` in recent transformers 5, ``past_key_values`` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


@dataclass
class _Row:
    index: int  # the prompt's index in the caller's list
    position: int  # the position of the next token fed in
    tokens: list[int] = field(default_factory=list)


def common_prefix(encoded: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each at least one token of its own."""
    if not encoded:
        return 0
    first = encoded[0]
    n = min(len(e) for e in encoded) - 1
    for seq in encoded[1:]:
        i = 0
        while i < n and seq[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


def greedy(model: Any, encoded: Sequence[Sequence[int]], *, max_new_tokens: int, batch_size: int,
           eos: set[int], pad: int) -> list[list[int]]:
    """The greedy continuation of each prompt (token ids, EOS included when one was produced).

    ``encoded`` are the prompts' token ids (each at least one token); ``batch_size`` rows decode at once.
    """
    import torch
    from transformers import DynamicCache

    n = len(encoded)
    out: list[list[int]] = [[] for _ in range(n)]
    if n == 0 or max_new_tokens <= 0:
        return out
    device = next(model.parameters()).device
    shared = common_prefix(encoded)
    prefix_kv: list[tuple[Any, Any]] = []
    if shared >= MIN_PREFIX:
        with torch.inference_mode():
            cache = DynamicCache()
            model(input_ids=torch.tensor([list(encoded[0][:shared])], device=device), use_cache=True,
                  logits_to_keep=1, **{cache_argument(model): cache})
        prefix_kv = [(layer.keys, layer.values) for layer in cache.layers]
    else:
        shared = 0
    queue = sorted(range(n), key=lambda i: len(encoded[i]))[::-1]  # pop() takes the shortest
    state = _Batch(model, device, shared, prefix_kv, pad)
    state.room = max_new_tokens
    with torch.inference_mode(), packed_head(model):
        while queue or state.rows:
            joining = [queue.pop() for _ in range(min(batch_size - len(state.rows), len(queue)))]
            if joining:
                firsts = state.admit([encoded[i] for i in joining], joining)
                for row, token in zip(state.rows[-len(joining):], firsts, strict=True):
                    row.tokens.append(token)
            else:
                for row, token in zip(state.rows, state.step(), strict=True):
                    row.tokens.append(token)
            done = [r for r, row in enumerate(state.rows)
                    if row.tokens[-1] in eos or len(row.tokens) >= max_new_tokens]
            for r in done:
                out[state.rows[r].index] = state.rows[r].tokens
            if done:
                state.drop(done)
    return out


def _buffered(keys: Any, values: Any, room: int) -> Any:
    """A cache layer holding ``keys``/``values`` with space for ``room`` more columns (no copy per step)."""
    from transformers.cache_utils import DynamicLayer

    class Buffered(DynamicLayer):
        def __init__(self) -> None:
            super().__init__()
            b, h, n, d = keys.shape
            self.kbuf, self.vbuf = keys.new_empty((b, h, n + room, d)), values.new_empty((b, h, n + room, d))
            self.kbuf[:, :, :n], self.vbuf[:, :, :n] = keys, values
            self.length, self.keys, self.values = n, self.kbuf[:, :, :n], self.vbuf[:, :, :n]
            self.is_initialized, self.device, self.dtype = True, keys.device, keys.dtype

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            import torch

            end = self.length + key_states.shape[-2]
            if end > self.kbuf.shape[2]:  # out of room: grow (rare: room is what the replies can add)
                grow = max(end - self.kbuf.shape[2], self.kbuf.shape[2] // 2)
                self.kbuf = torch.cat([self.kbuf, self.kbuf.new_empty((*self.kbuf.shape[:2], grow,
                                                                        self.kbuf.shape[3]))], dim=2)
                self.vbuf = torch.cat([self.vbuf, self.vbuf.new_empty((*self.vbuf.shape[:2], grow,
                                                                        self.vbuf.shape[3]))], dim=2)
            self.kbuf[:, :, self.length:end], self.vbuf[:, :, self.length:end] = key_states, value_states
            self.length, self.keys, self.values = end, self.kbuf[:, :, :end], self.vbuf[:, :, :end]
            return self.keys, self.values

    return Buffered()


class _Batch:
    """The rows decoding together, their cache and attention mask (``[prefix][padding][rest]`` per row)."""

    def __init__(self, model: Any, device: Any, shared: int, prefix_kv: list[tuple[Any, Any]], pad: int):
        import torch

        self.model, self.device, self.shared, self.prefix_kv, self.pad = model, device, shared, prefix_kv, pad
        self.cache_arg = cache_argument(model)
        self.rows: list[_Row] = []
        self.room = 0  # columns the cache keeps free for the replies (set by greedy)
        self.cache: Any = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)

    def admit(self, prompts: list[Sequence[int]], indices: list[int]) -> list[int]:
        """Prefill ``prompts`` (after the shared prefix) and add them to the batch; their first tokens."""
        import torch
        from transformers import DynamicCache

        p, k = self.shared, len(prompts)
        rests = [list(seq[p:]) for seq in prompts]
        width = max(len(r) for r in rests)
        ids = torch.full((k, width), self.pad, dtype=torch.long)
        mask = torch.zeros((k, p + width), dtype=torch.long)
        mask[:, :p] = 1
        positions = torch.ones((k, width), dtype=torch.long)
        for r, rest in enumerate(rests):
            ids[r, width - len(rest):] = torch.tensor(rest, dtype=torch.long)
            mask[r, p + width - len(rest):] = 1
            positions[r, width - len(rest):] = torch.arange(p, p + len(rest))
        cache = DynamicCache(ddp_cache_data=[(key.expand(k, -1, -1, -1), value.expand(k, -1, -1, -1))
                                             for key, value in self.prefix_kv]) if self.prefix_kv else DynamicCache()
        mask = mask.to(self.device)
        result = self.model(input_ids=ids.to(self.device), attention_mask=mask, position_ids=positions.to(self.device),
                            use_cache=True, logits_to_keep=1, **{self.cache_arg: cache})
        firsts = result.logits[:, -1].argmax(-1).tolist()
        new_kv = [(layer.keys, layer.values) for layer in cache.layers]
        self._join(new_kv, mask)
        self.rows += [_Row(index, p + len(rest)) for index, rest in zip(indices, rests, strict=True)]
        return firsts

    def _join(self, new_kv: list[tuple[Any, Any]], new_mask: Any) -> None:
        import torch

        if self.cache is None or not self.rows:
            self._set(new_kv, new_mask)
            return
        old_kv = [(layer.keys, layer.values) for layer in self.cache.layers]
        width = max(self.mask.shape[1], new_mask.shape[1])
        old_kv, old_mask = self._widen(old_kv, self.mask, width)
        new_kv, new_mask = self._widen(new_kv, new_mask, width)
        kv = [(torch.cat([ok, nk]), torch.cat([ov, nv])) for (ok, ov), (nk, nv) in zip(old_kv, new_kv, strict=True)]
        self._set(kv, torch.cat([old_mask, new_mask]))

    def _widen(self, kv: list[tuple[Any, Any]], mask: Any, width: int) -> tuple[list[tuple[Any, Any]], Any]:
        """Insert masked columns right after the shared prefix until the cache is ``width`` long."""
        import torch

        extra, p = width - mask.shape[1], self.shared
        if extra == 0:
            return kv, mask

        def grow(t: Any) -> Any:
            gap = t.new_zeros((*t.shape[:2], extra, t.shape[3]))
            return torch.cat([t[:, :, :p], gap, t[:, :, p:]], dim=2)

        gap = mask.new_zeros((mask.shape[0], extra))
        return [(grow(k), grow(v)) for k, v in kv], torch.cat([mask[:, :p], gap, mask[:, p:]], dim=1)

    def _set(self, kv: list[tuple[Any, Any]], mask: Any) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache()
        self.cache.layers = [_buffered(k, v, self.room) for k, v in kv]
        self.mask = mask

    def step(self) -> list[int]:
        """One token for every row."""
        import torch

        ones = self.mask.new_ones((len(self.rows), 1))
        self.mask = torch.cat([self.mask, ones], dim=1)
        ids = torch.tensor([[row.tokens[-1]] for row in self.rows], device=self.device)
        positions = torch.tensor([[row.position] for row in self.rows], device=self.device)
        for row in self.rows:
            row.position += 1
        result = self.model(input_ids=ids, attention_mask=self.mask, position_ids=positions,
                            use_cache=True, **{self.cache_arg: self.cache})
        return result.logits[:, -1].argmax(-1).tolist()

    def drop(self, done: list[int]) -> None:
        """Take the finished rows out; drop the columns no remaining row attends to."""
        import torch

        gone = set(done)
        keep = [r for r in range(len(self.rows)) if r not in gone]
        self.rows = [self.rows[r] for r in keep]
        if not self.rows:
            self.cache, self.mask = None, self.mask[:0]
            return
        index = torch.tensor(keep, device=self.device)
        mask = self.mask.index_select(0, index)
        columns = mask.any(0).nonzero().squeeze(1)
        if len(columns) == mask.shape[1]:
            columns = None
        kv = []
        for layer in self.cache.layers:
            k, v = layer.keys.index_select(0, index), layer.values.index_select(0, index)
            if columns is not None:
                k, v = k.index_select(2, columns), v.index_select(2, columns)
            kv.append((k, v))
        self._set(kv, mask if columns is None else mask.index_select(1, columns))


__all__ = ["MIN_PREFIX", "common_prefix", "greedy", "packed_head", "unsupported"]
