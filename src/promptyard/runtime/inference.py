"""Batched inference primitives shared by tuning (validation) and evals.

- :func:`score_choices`: sum log-prob of each choice continuation after each prompt, batched over
  examples x choices. Batches are length-sorted (little padding) and the LM head runs only at the
  positions that are scored, not over the whole sequence and vocabulary.
- :func:`score_choices_bf16`: the same on a bfloat16 copy of the model, close calls re-scored in fp32
  (:mod:`promptyard.runtime.precision`).
- :func:`generate`: batched generation; greedy through :mod:`promptyard.runtime.decoding`.

Both accept a :class:`~promptyard.core.protocols.LoadedModel` whose ``model`` may be a PEFT model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from promptyard.core.errors import EvalError
from promptyard.core.lookups import runs_as
from promptyard.runtime import decoding as decoding_loop
from promptyard.runtime import precision as precisions


def join_choice(prompt: str, choice: str) -> str:
    """The continuation text for ``choice``: a space in between unless one side already has whitespace."""
    if not prompt or prompt[-1].isspace() or choice[:1].isspace():
        return choice
    return " " + choice


class _GatherHead:
    """Replaces ``lm_head`` for one forward pass: project only the gathered (row, position) states."""

    def __init__(self, head: Any, rows: Any, positions: Any, seq_len: int):
        self.head, self.rows, self.positions, self.seq_len = head, rows, positions, seq_len

    def __call__(self, hidden: Any) -> Any:
        # prompt tuning / p-tuning prepend virtual tokens: shift positions by what was added in front
        offset = hidden.shape[1] - self.seq_len
        return self.head(hidden[self.rows, self.positions + offset])


@contextlib.contextmanager
def scored_positions(model: Any, rows: Any, positions: Any, seq_len: int) -> Iterator[None]:
    """Within the block, the model's logits are ``[len(rows), vocab]`` for the given positions only."""
    import torch

    base = decoding_loop.base_model(model)
    head = base.lm_head
    wrapper = _GatherHead(head, rows, positions, seq_len)

    class Head(torch.nn.Module):
        def forward(self, hidden):  # noqa: D401 - a thin module so nn.Module attribute rules hold
            return wrapper(hidden)

    with decoding_loop.model_lock(model):  # no other thread's call runs through the swapped head
        base._modules["lm_head"] = Head()
        try:
            yield
        finally:
            base._modules["lm_head"] = head


def _pad_right(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def _device(model: Any) -> Any:
    return next(model.parameters()).device


def token_logprobs(model: Any, sequences: list[list[int]], targets: list[list[tuple[int, int]]],
                   pad_id: int) -> list[list[float]]:
    """For each sequence, the log-prob of each (position, token) target, in one right-padded batch.

    ``(p, t)`` scores token ``t`` as the prediction made at position ``p`` (i.e. the token at p+1).
    """
    import torch

    ids, mask = _pad_right(sequences, pad_id)
    rows = torch.tensor([i for i, tg in enumerate(targets) for _ in tg], dtype=torch.long)
    positions = torch.tensor([p for tg in targets for p, _ in tg], dtype=torch.long)
    tokens = torch.tensor([t for tg in targets for _, t in tg], dtype=torch.long)
    device = _device(model)
    rows, positions = rows.to(device), positions.to(device)
    with torch.inference_mode():
        if hasattr(decoding_loop.base_model(model), "lm_head"):
            with scored_positions(model, rows, positions, ids.shape[1]):
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        else:  # an architecture without ``lm_head``: full logits, then pick
            full = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logits = full[rows, positions + full.shape[1] - ids.shape[1]]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    picked = logprobs[torch.arange(len(tokens)), tokens.to(logprobs.device)].tolist()
    out, k = [], 0
    for tg in targets:
        out.append(picked[k: k + len(tg)])
        k += len(tg)
    return out


def _encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def score_choices(loaded: Any, prompts: list[str], choices: list[str],
                  batch_size: int = 16) -> list[list[float]]:
    """``scores[i][j]`` = sum log-prob of ``choices[j]`` continuing ``prompts[i]``.

    Causal models: when every choice is one token, one pass per prompt reads them all at the last
    position; otherwise each (prompt, choice) pair is a sequence. Encoders: the classification head's
    log-probs, with ``choices[j]`` standing for label index ``j``.
    """
    if not prompts:
        return []
    if not choices:
        raise EvalError("score_choices needs at least one choice")
    if runs_as(loaded.kind) == "encoder":
        return _score_encoder(loaded, prompts, choices, batch_size)
    tok = loaded.tokenizer
    prompt_ids = _encode(tok, prompts)
    if any(not p for p in prompt_ids):
        raise EvalError("a prompt rendered to no tokens", hint="check the template and the data rows")
    # continuations depend on whether the prompt ends in whitespace: encode both spellings once
    spelled = {c: {join_choice("x", c), join_choice(" ", c)} for c in choices}
    encoded = {s: ids for ss in spelled.values()
               for s, ids in zip(sorted(ss), _encode(tok, sorted(ss)), strict=True)}
    pairs = []  # (example, choice, sequence, [(position, token)])
    for i, (prompt, ids) in enumerate(zip(prompts, prompt_ids, strict=True)):
        for j, choice in enumerate(choices):
            cont = encoded[join_choice(prompt, choice)]
            if not cont:
                raise EvalError(f"choice {choice!r} encodes to no tokens")
            start = len(ids) - 1
            pairs.append((i, j, ids, cont, [(start + k, t) for k, t in enumerate(cont)]))
    scores = [[0.0] * len(choices) for _ in prompts]
    model = loaded.model
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    if all(len(p[3]) == 1 for p in pairs):
        # one pass per prompt: every single-token choice is read off the prompt's last position
        by_prompt: dict[int, list] = {}
        for i, j, _ids, _cont, tg in pairs:
            by_prompt.setdefault(i, []).append((j, tg[0]))
        order = sorted(by_prompt, key=lambda i: len(prompt_ids[i]))
        for b in range(0, len(order), batch_size):
            batch = order[b: b + batch_size]
            targets = [[t for _, t in by_prompt[i]] for i in batch]
            got = token_logprobs(model, [prompt_ids[i] for i in batch], targets, pad)
            for i, values in zip(batch, got, strict=True):
                for (j, _), value in zip(by_prompt[i], values, strict=True):
                    scores[i][j] = value
        return scores
    pairs.sort(key=lambda p: len(p[2]) + len(p[3]))
    for b in range(0, len(pairs), batch_size):
        batch = pairs[b: b + batch_size]
        got = token_logprobs(model, [list(p[2]) + list(p[3]) for p in batch], [p[4] for p in batch], pad)
        for (i, j, *_), values in zip(batch, got, strict=True):
            scores[i][j] = float(sum(values))
    return scores


def score_choices_bf16(loaded: Any, prompts: list[str], choices: list[str], batch_size: int = 16, *,
                       state_key: str = "", recheck_margin: float = precisions.RECHECK_MARGIN,
                       ) -> tuple[list[list[float]], list[int]]:
    """:func:`score_choices` on a bf16 copy of the model; rows whose best two choices lie within
    ``recheck_margin`` are re-scored on the fp32 model. Returns the scores and the re-scored rows.

    ``state_key`` names the model's state (weights and active adapter): the bf16 copy is reused while
    it stays the same. ``recheck_margin=0`` re-scores nothing (pure bf16).
    """
    fast = precisions.for_precision(loaded, "bf16", state_key)
    scores = score_choices(fast, prompts, choices, batch_size=batch_size)
    close = precisions.close_calls(scores, recheck_margin) if recheck_margin > 0 else []
    if close:
        exact = score_choices(loaded, [prompts[i] for i in close], choices, batch_size=batch_size)
        for i, row in zip(close, exact, strict=True):
            scores[i] = row
    return scores, close


def _score_encoder(loaded: Any, prompts: list[str], choices: list[str], batch_size: int) -> list[list[float]]:
    import torch

    n_labels = loaded.model.config.num_labels
    if len(choices) != n_labels:
        raise EvalError(f"the encoder's head has {n_labels} labels but {len(choices)} choices were given",
                        hint="load the encoder with num_labels equal to the number of choices")
    tok = loaded.tokenizer
    encoded = tok(list(prompts), truncation=True)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out: list[list[float]] = [[] for _ in prompts]
    device = _device(loaded.model)
    for b in range(0, len(order), batch_size):
        batch = order[b: b + batch_size]
        ids, mask = _pad_right([encoded[i] for i in batch], tok.pad_token_id or 0)
        with torch.inference_mode():
            logits = loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        for i, row in zip(batch, torch.log_softmax(logits.float(), -1).tolist(), strict=True):
            out[i] = row
    return out


def generate(loaded: Any, prompts: list[str], max_new_tokens: int = 32, batch_size: int = 8,
             **decoding: Any) -> list[str]:
    """Generate a continuation per prompt (batched, length-sorted); only the new text.

    Greedy decoding goes through :func:`promptyard.runtime.decoding.greedy` (shared prefix prefilled once,
    continuous batching); sampling and whatever else that loop does not cover (see
    :func:`~promptyard.runtime.decoding.unsupported`) through ``model.generate`` on left-padded batches.
    """
    import torch

    if runs_as(loaded.kind) != "causal":
        raise EvalError("generation needs a causal language model", where=loaded.ref,
                        hint="use a causal model such as smollm2-135m")
    if batch_size < 1:
        raise EvalError(f"batch size must be at least 1, got {batch_size}", where="decoding.batch_size")
    tok = loaded.tokenizer
    encoded = _encode(tok, prompts)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    decoding.setdefault("do_sample", False)
    eos = _eos_ids(loaded.model, tok)
    if not decoding["do_sample"]:
        for key in ("temperature", "top_p", "top_k"):
            decoding.pop(key, None)
        if all(encoded) and decoding_loop.unsupported(loaded.model, decoding) is None:
            replies = decoding_loop.greedy(loaded.model, encoded, max_new_tokens=max_new_tokens,
                                           batch_size=batch_size, eos=eos, pad=pad)
            return [tok.decode(r, skip_special_tokens=True) for r in replies]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out = [""] * len(prompts)
    device = _device(loaded.model)
    for b in range(0, len(order), batch_size):
        batch = order[b: b + batch_size]
        width = max(len(encoded[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            seq = encoded[i]
            ids[r, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[r, width - len(seq):] = 1
        with torch.inference_mode(), decoding_loop.model_lock(loaded.model):
            result = loaded.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                           max_new_tokens=max_new_tokens, pad_token_id=pad,
                                           eos_token_id=sorted(eos) or None, **decoding)
        for r, i in enumerate(batch):
            reply = result[r, width:].tolist()
            # a row that ended before the others is padded after its EOS (pad may be a plain token: id 0)
            end = next((k + 1 for k, token in enumerate(reply) if token in eos), len(reply))
            out[i] = tok.decode(reply[:end], skip_special_tokens=True)
    return out


def _eos_ids(model: Any, tok: Any) -> set[int]:
    """The tokens that end a reply: the tokenizer's EOS, else the model's generation config's (both paths of
    :func:`generate` stop at these; ``generate(eos_token_id=None)`` would stop at none)."""
    eos = tok.eos_token_id
    if eos is None:
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        return set()
    return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}
