"""Length-grouped batches with dynamic padding, and the loss computed only where there are targets."""

from __future__ import annotations

import random
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
