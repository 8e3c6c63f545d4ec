"""Greedy batched generation that passes over the model's weights fewer times than ``model.generate`` does.

On a CPU a decoding step is mostly a pass over the weights (hundreds of MB): on the 2-core build machine a
SmolLM2-135M step takes 33 ms for one row and 61 ms for eight. Hugging Face's ``generate`` on a batch runs
every row until the longest reply is done, and prefills every prompt from its first token. This loop gives
the same greedy replies with fewer and cheaper passes:

- **a shared prefix is prefilled once.** The tokens every prompt starts with (the chat template's system
  turn, the prompt template's fixed instructions) are run once, in a batch of one; each prompt then
  prefills only what follows.
- **continuous batching.** A row leaves the batch as soon as it ends (EOS or ``max_new_tokens``) and the
  next prompt takes its place, so the batch stays full and no step is spent on rows already done.
  Prompts go in by length, shortest first, so those prefilled together need little padding.
- **packed weights** (:func:`packed_weights`): a few rows at a time, fp32 products through packed copies
  of the weights are 15-25% faster than the default kernel.

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
import functools
import inspect
import threading
import weakref
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


def base_model(model: Any) -> Any:
    """The ``*ForCausalLM`` module inside a (possibly PEFT-wrapped) model."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if get_base is not None else model


def unsupported(model: Any, decoding: dict[str, Any]) -> str | None:
    """Why :func:`greedy` cannot give ``model.generate(**decoding)``'s replies, or None when it can."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    for key, value in decoding.items():
        if key not in _PROCESSING or value != _PROCESSING[key]:
            return f"decoding setting {key}={value!r}"
    config = getattr(model, "generation_config", None)
    for key, default in _PROCESSING.items():
        value = getattr(config, key, default) if config is not None else default
        if key not in decoding and value not in (default, None):
            return f"generation config {key}={value!r}"
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        return "a prompt-learning adapter (virtual tokens)"
    text_config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") \
        else model.config
    if getattr(text_config, "is_encoder_decoder", False):
        return "an encoder-decoder model"
    base = base_model(model)
    parameters = inspect.signature(type(base).forward).parameters
    if getattr(base, "_is_stateful", False) or not {"cache", "past_key_values"} & set(parameters):
        # RWKV: its forward swallows the cache argument and keeps its own state, so every step ran from scratch
        return "a model that keeps a recurrent state instead of a key/value cache"
    if "position_ids" not in parameters:
        # MPT's ALiBi counts cache columns, Bart-style decoders count the cache's length: with padding after
        # the prefix, a row would see other distances than alone (Bloom reads the mask and would be right)
        return "a model that takes no position ids"
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception as exc:  # a config the cache classes cannot read: generate() knows best
        return f"cache layout unknown ({type(exc).__name__})"
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return "a cache with sliding-window or recurrent layers"
    return None


#: pack the other linear layers too when a call runs at least this many full-batch steps (packing them
#: costs about two steps of SmolLM2-135M and saves a tenth of each)
PACK_BODY_STEPS = 32
#: ... and when their copies take at most this much memory (a small model, where small products are slowest)
PACK_BODY_BYTES = 1 << 30
#: one patcher at a time per model (re-entrant: a nested call patches over and restores in order)
_model_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def model_lock(model: Any) -> Any:
    """The model's re-entrant lock, held by whatever swaps or patches its modules for a call (packing here, the
    gathered output layer of :func:`promptyard.runtime.inference.scored_positions`) and by the calls that run on
    them: another thread's call waits instead of running through modules swapped for someone else."""
    base = base_model(model)
    with _locks_lock:
        return _model_locks.setdefault(base, threading.RLock())


@contextlib.contextmanager
def packed_weights(model: Any, rows: int, body: bool = True) -> Iterator[None]:
    """Within the block, the model's fp32 linear layers multiply with packed copies of their weights.

    A few rows at a time, the default fp32 matrix product is far from what the CPU can do: on the 2-core
    build machine a SmolLM2-135M decoding step at 8 rows takes 61 ms with it, 52 ms with the output layer
    (49152 x 576, a fifth of the weights) multiplying through a oneDNN-packed weight, and 47 ms with every
    other linear layer through an MKL-packed one as well. MKL's packed product is made for one row count:
    a step with ``rows`` rows uses it, any other (a prefill, a batch not yet full) the layer's own weight.
    The same products are summed in another order (differences in the last bits). The copies live for the
    block only (``body``: the layers other than the output layer too, which doubles the model's memory
    meanwhile; not when they take more than :data:`PACK_BODY_BYTES`). Other dtypes and devices, a torch
    without oneDNN/MKL, an output layer an adapter wraps: left as they are (a LoRA's base layers and its A
    and B are plain linear layers: packed).
    """
    import torch

    base = base_model(model)
    head = getattr(base, "lm_head", None)
    # all weights in memory on the CPU, and no forward replaced by someone else (accelerate's offloading
    # hooks load weights in the forward they install: packing would bypass them)
    cpu = all(p.device.type == "cpu" for p in model.parameters()) \
        and not any(hasattr(m, "_hf_hook") for m in base.modules())

    def plain(module: Any) -> bool:
        return type(module) is torch.nn.Linear and module.weight.dtype == torch.float32

    with model_lock(model):  # one patcher at a time on this model: each puts back exactly what it found
        packs: list[tuple[Any, Any]] = []  # packed here, not before the lock: one copy of the weights at a time
        if cpu and torch.backends.mkldnn.is_available() and plain(head):
            packs.append((head, _onednn_forward(head)))
        others = [m for m in base.modules() if m is not head and plain(m)]
        if cpu and body and torch.backends.mkl.is_available() \
                and sum(m.weight.numel() * m.weight.element_size() for m in others) <= PACK_BODY_BYTES:
            packs += [(m, _mkl_forward(m, rows)) for m in others]
        saved = [(module, module.__dict__.get("forward")) for module, _ in packs]
        for module, forward in packs:
            module.forward = forward
        try:
            yield
        finally:
            for module, old in saved:
                if old is None:
                    del module.forward
                else:
                    module.forward = old


def _onednn_forward(linear: Any) -> Any:
    import torch

    packed, bias = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), 8), linear.bias

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), packed, bias, "none", [], "")
        return y.reshape(*x.shape[:-1], y.shape[-1])

    return forward


def _mkl_forward(linear: Any, rows: int) -> Any:
    import torch

    weight, bias = linear.weight.detach(), linear.bias
    packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        # MKL's packed product for exactly `rows` rows; any other count runs on the layer's own weight
        y = torch.ops.mkl._mkl_linear(x.reshape(-1, x.shape[-1]), packed, weight, bias, rows)
        return y.reshape(*x.shape[:-1], y.shape[-1])

    return forward


def cache_argument(model: Any) -> str:
    """The forward argument that takes the cache: ``cache`` in recent transformers 5, ``past_key_values`` before."""
    base = base_model(model)
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
    if not encoded or max_new_tokens <= 0:
        return [[] for _ in encoded]
    with model_lock(model):  # the whole call: the prefix pass too runs through the model's own modules
        return _greedy(model, encoded, max_new_tokens, batch_size, eos, pad)


def _greedy(model: Any, encoded: Sequence[Sequence[int]], max_new_tokens: int, batch_size: int, eos: set[int],
            pad: int) -> list[list[int]]:
    import torch
    from transformers import DynamicCache

    n = len(encoded)
    out: list[list[int]] = [[] for _ in range(n)]
    device = next(model.parameters()).device
    cache_arg = cache_argument(model)
    shared = common_prefix(encoded)
    prefix_kv: list[tuple[Any, Any]] = []
    if shared >= MIN_PREFIX:
        with torch.inference_mode():
            cache = DynamicCache()
            model(input_ids=torch.tensor([list(encoded[0][:shared])], device=device), use_cache=True,
                  logits_to_keep=1, **{cache_arg: cache})
        prefix_kv = [(layer.keys, layer.values) for layer in cache.layers]
    else:
        shared = 0
    queue = sorted(range(n), key=lambda i: len(encoded[i]))[::-1]  # pop() takes the shortest
    state = _Batch(model, device, shared, prefix_kv, pad, room=max_new_tokens, cache_arg=cache_arg)
    full_steps = -(-n // batch_size) * max_new_tokens
    with torch.inference_mode(), packed_weights(model, batch_size, body=full_steps >= PACK_BODY_STEPS):
        while queue or any(state.rows):
            free = state.free()
            if queue and (state.cache is None or free):
                joining = [queue.pop() for _ in range(min(len(queue), len(free) if free else batch_size))]
                state.admit([encoded[i] for i in joining], joining)
            else:
                if free:  # nothing left to take their places
                    state.compact()
                state.step()
            for slot, row in enumerate(state.rows):
                if row is not None and (row.tokens[-1] in eos or len(row.tokens) >= max_new_tokens):
                    out[row.index] = row.tokens
                    state.rows[slot] = None
    return out


def _buffered(keys: Any, values: Any, room: int) -> Any:
    """A cache layer holding ``keys``/``values`` with space for ``room`` more columns (no copy per step)."""
    return _buffered_layer_class()(keys, values, room)


@functools.cache
def _buffered_layer_class() -> type:
    """The buffered cache layer (a subclass of transformers' ``DynamicLayer``, defined on first use)."""
    import torch
    from transformers.cache_utils import DynamicLayer

    class Buffered(DynamicLayer):
        def __init__(self, keys: Any, values: Any, room: int) -> None:
            super().__init__()
            b, h, n, d = keys.shape
            self.kbuf, self.vbuf = keys.new_empty((b, h, n + room, d)), values.new_empty((b, h, n + room, d))
            self.kbuf[:, :, :n], self.vbuf[:, :, :n] = keys, values
            self.length, self.keys, self.values = n, self.kbuf[:, :, :n], self.vbuf[:, :, :n]
            self.is_initialized, self.device, self.dtype = True, keys.device, keys.dtype

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
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

    return Buffered


class _Batch:
    """The rows decoding together in their slots, the cache and the attention mask.

    Each slot's columns are ``[prefix][padding][prompt rest + reply]``: the first rows are prefilled together;
    a later one takes a finished row's slot, its part of the cache written in place so that it ends at the
    current last column (columns are inserted after the prefix, for every slot, when it does not fit).
    Columns no slot attends to any more are dropped once they are a quarter of the cache, and when the last
    prompts are in, finished slots are taken out (:meth:`compact`).
    """

    def __init__(self, model: Any, device: Any, shared: int, prefix_kv: list[tuple[Any, Any]], pad: int,
                 room: int, cache_arg: str):
        import torch

        self.model, self.device, self.shared, self.prefix_kv, self.pad = model, device, shared, prefix_kv, pad
        self.room = room  # columns the cache keeps free for the replies
        self.cache_arg = cache_arg  # what the model's forward calls its cache (cache_argument)
        self.rows: list[_Row | None] = []
        self.cache: Any = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)

    def free(self) -> list[int]:
        """The slots of finished rows."""
        return [slot for slot, row in enumerate(self.rows) if row is None]

    def admit(self, prompts: list[Sequence[int]], indices: list[int]) -> None:
        """Prefill ``prompts`` (after the shared prefix) into the free slots (the first ones: new slots); each
        gets its first token."""
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
        rows = [_Row(index, p + len(rest), [first]) for index, rest, first in zip(indices, rests, firsts, strict=True)]
        new_kv = [(layer.keys, layer.values) for layer in cache.layers]
        if self.cache is None:
            self._set(new_kv, mask)
            self.rows = rows
        else:
            self._fill(self.free()[:k], new_kv, [len(r) for r in rests], rows)

    def _fill(self, slots: list[int], new_kv: list[tuple[Any, Any]], lengths: list[int], rows: list[_Row]) -> None:
        """Write prefilled rows into ``slots``, each ending at the cache's last column."""
        p = self.shared
        end = self.mask.shape[1]
        short = max(lengths) - (end - p)
        if short > 0:  # a rest longer than what follows the prefix: make room for it in every slot
            kv, mask = self._widen([(layer.keys, layer.values) for layer in self.cache.layers], self.mask, end + short)
            self._set(kv, mask)
            end += short
        for j, (slot, n, row) in enumerate(zip(slots, lengths, rows, strict=True)):
            for layer, (keys, values) in zip(self.cache.layers, new_kv, strict=True):
                layer.kbuf[slot, :, end - n:end] = keys[j, :, keys.shape[2] - n:]
                layer.vbuf[slot, :, end - n:end] = values[j, :, values.shape[2] - n:]
            self.mask[slot] = 0
            self.mask[slot, :p] = 1
            self.mask[slot, end - n:] = 1
            self.rows[slot] = row
        dead = int((~self.mask.bool().any(0)).sum())
        if dead > max(16, end // 4):
            self.compact()

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

    def step(self) -> None:
        """One token for every row (every slot holds one)."""
        import torch

        rows = [row for row in self.rows if row is not None]
        ones = self.mask.new_ones((len(rows), 1))
        self.mask = torch.cat([self.mask, ones], dim=1)
        ids = torch.tensor([[row.tokens[-1]] for row in rows], device=self.device)
        positions = torch.tensor([[row.position] for row in rows], device=self.device)
        result = self.model(input_ids=ids, attention_mask=self.mask, position_ids=positions,
                            use_cache=True, **{self.cache_arg: self.cache})
        for row, token in zip(rows, result.logits[:, -1].argmax(-1).tolist(), strict=True):
            row.tokens.append(token)
            row.position += 1

    def compact(self) -> None:
        """Take the finished rows' slots out; drop the columns no remaining row attends to."""
        import torch

        keep = [slot for slot, row in enumerate(self.rows) if row is not None]
        self.rows = [self.rows[slot] for slot in keep]
        if not self.rows:
            self.cache, self.mask = None, self.mask[:0]
            return
        index = torch.tensor(keep, device=self.device)
        mask = self.mask.index_select(0, index)
        columns = mask.any(0).nonzero().squeeze(1)
        if len(keep) == self.mask.shape[0] and len(columns) == mask.shape[1]:
            return
        kv = []
        for layer in self.cache.layers:
            k, v = layer.keys.index_select(0, index), layer.values.index_select(0, index)
            kv.append((k.index_select(2, columns), v.index_select(2, columns)))
        self._set(kv, mask.index_select(1, columns))


__all__ = ["MIN_PREFIX", "PACK_BODY_BYTES", "PACK_BODY_STEPS", "base_model", "common_prefix", "greedy", "model_lock",
           "packed_weights", "unsupported"]
