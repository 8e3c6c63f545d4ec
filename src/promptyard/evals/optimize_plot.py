"""A plot of an optimisation: each scored candidate's validation score against the calls spent so far."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def progress_points(record: dict[str, Any]) -> list[tuple[int, float, str]]:
    """(calls spent when scored, validation score, candidate name) for every validation scoring round."""
    points = []
    for c in record["candidates"]:
        for s in c["scores"]:
            if s["split"] == "validation" and s["value"] is not None:
                points.append((int(s["calls_total"]), float(s["value"]), c["name"]))
    return sorted(points)


def plot_progress(record: dict[str, Any], path: str | Path) -> Path:
    """Write a PNG: every scoring as a dot, the best score so far as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = progress_points(record)
    higher = True
    fig, ax = plt.subplots(figsize=(7, 4))
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.scatter(xs, ys, s=14, alpha=0.6, label="a candidate scored")
        best, line = None, []
        for y in ys:
            best = y if best is None or (y > best if higher else y < best) else best
            line.append(best)
        ax.step(xs, line, where="post", color="black", label="best so far")
        ax.legend(loc="lower right")
    ax.set_xlabel("model calls spent")
    ax.set_ylabel(f"validation {record['metric']}")
    ax.set_title(f"{record['id']}: {record['optimizer']} on {record['prompt']}")
    out = Path(path)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
