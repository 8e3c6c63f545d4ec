"""A small, learnable sentiment data set written by the tests themselves."""

from __future__ import annotations

import json
import random
from pathlib import Path

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "fun"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "weak", "bad"]
FILLER = ["the film", "this movie", "the plot", "the acting", "its story", "the cast"]


def write_toy_sentiment(path: Path, n: int = 200, seed: int = 0) -> str:
    """JSONL rows ``{"text", "label"}`` whose label follows from one word; lengths vary (0-8 fillers)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["positive", "negative"])
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        fillers = [rng.choice(FILLER) for _ in range(rng.randint(0, 8))]
        text = " ".join([rng.choice(FILLER), "was", word, *fillers])
        rows.append({"text": text, "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


TOPICS = {"sport": ["match", "goal", "team", "coach"], "money": ["bank", "shares", "market", "profit"],
          "music": ["album", "band", "song", "concert"]}


def write_toy_topic(path: Path, n: int = 150, seed: int = 0) -> str:
    """JSONL rows ``{"text", "label"}`` of three topics, each told by one of its words among fillers."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(sorted(TOPICS))
        fillers = [rng.choice(FILLER) for _ in range(rng.randint(0, 6))]
        rows.append({"text": " ".join(["news about the", rng.choice(TOPICS[label]), *fillers]), "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)
