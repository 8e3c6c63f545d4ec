"""Length-grouped batches with dynamic padding, and the loss computed only where there are targets."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from promptyard.runtime.inference import scored_positions
from promptyard.tuning.features import IGNORE_INDEX

#: a shuffle window of this many batches is sorted by length: little padding, still random order
GROUP_BATCHES = 64


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Indices in batches of similar length: shuffle, sort within windows, cut, shuffle the batches."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * GROUP_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def epoch_batches(lengths: list[int], spans: Sequence[range], weights: Sequence[float], batch_size: int,
                  seed: int) -> list[list[int]]:
    """One epoch's batches: :func:`length_grouped_batches` for one task, :func:`mixed_batches` for a mix."""
    if len(spans) == 1:
        return length_grouped_batches(lengths, batch_size, seed)
    return mixed_batches(lengths, spans, weights, batch_size, seed)


def share_by_weight(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders); a task never gets 0: it gets 1 more."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    out = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda k: (out[k] - exact[k], k))
    for k in by_remainder[: total - sum(out)]:
        out[k] += 1
    return [max(1, n) for n in out]


def mixed_batches(lengths: list[int], spans: Sequence[range], weights: Sequence[float], batch_size: int,
                  seed: int) -> list[list[int]]:
    """Batches over several tasks' rows (task ``k`` holds the rows ``spans[k]``), mixed by weight.

    Each batch holds one task's rows (length-grouped within the task, so padding stays low). An epoch has as
    many batches as all tasks' rows make, shared out in proportion to the weights: a task whose share exceeds
    its own rows goes round them again (reshuffled), one whose share is smaller sees a different part of its
    rows each epoch. The tasks' batches are interleaved at random. A function of ``seed`` alone, so a resumed
    run skips exactly the batches it had consumed.
    """
    rng = random.Random(seed)
    total = sum(math.ceil(len(span) / batch_size) for span in spans)
    quotas = share_by_weight(total, weights)
    per_task: list[list[list[int]]] = []
    for span, quota in zip(spans, quotas, strict=True):
        own = [lengths[i] for i in span]
        batches: list[list[int]] = []
        while len(batches) < quota:
            batches += [[span.start + i for i in b]
                        for b in length_grouped_batches(own, batch_size, seed=rng.randrange(2**31))]
        per_task.append(batches[:quota])
    order = [k for k, quota in enumerate(quotas) for _ in range(quota)]
    rng.shuffle(order)
    taken = [iter(batches) for batches in per_task]
    return [next(taken[k]) for k in order]


def collate(feats: list[dict[str, Any]], pad_id: int, *, causal: bool) -> dict[str, Any]:
    """Right-pad a batch to its own longest sequence (never to a fixed maximum)."""
    import torch

    width = max(len(f["input_ids"]) for f in feats)
    ids = torch.full((len(feats), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(feats), width), dtype=torch.long)
    labels = torch.full((len(feats), width), IGNORE_INDEX, dtype=torch.long) if causal else None
    for r, f in enumerate(feats):
        n = len(f["input_ids"])
        ids[r, :n] = torch.tensor(f["input_ids"], dtype=torch.long)
        mask[r, :n] = 1
        if causal:
            labels[r, :n] = torch.tensor(f["labels"], dtype=torch.long)
    if not causal:
        labels = torch.tensor([f["labels"] for f in feats], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def batch_loss(model: Any, batch: dict[str, Any], *, causal: bool, device: Any) -> tuple[Any, Any, int]:
    """Mean loss over the batch's target tokens (causal) or examples (encoder).

    Returns ``(loss, logits, n_targets)``. For causal models the LM head runs only at the positions
    that predict a target token: the prompt's positions cost no vocabulary projection.
    """
    import torch


    ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    if not causal:
        out = model(input_ids=ids, attention_mask=mask)
        labels = batch["labels"].to(device)
        return torch.nn.functional.cross_entropy(out.logits.float(), labels), out.logits, len(labels)
    labels = batch["labels"]
    # position p predicts the token at p + 1
    rows, cols = torch.nonzero(labels[:, 1:] != IGNORE_INDEX, as_tuple=True)
    targets = labels[rows, cols + 1].to(device)
    with scored_positions(model, rows.to(device), cols.to(device), ids.shape[1]):
        logits = model(input_ids=ids, attention_mask=mask).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), targets)
    return loss, logits, int(targets.numel())
