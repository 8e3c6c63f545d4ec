"""Helpers shared by CLI tests."""

from __future__ import annotations

# `tune run` options for a short real run on the toy data (tests.tuning.toydata)
FAST = ["--set", "train_sample=32", "--set", "val_sample=16", "--set", "eval_every=0", "--set", "batch_size=8",
        "--epochs", "2"]
