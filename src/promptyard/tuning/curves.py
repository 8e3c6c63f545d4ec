"""Training curves: the history as JSON and a PNG plot (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_curves(run_dir: Path, steps: list[dict[str, Any]], evals: list[dict[str, Any]],
                metric_name: str) -> tuple[Path, Path | None]:
    """Write ``curves.json`` and ``curves.png``; the PNG is skipped (None) if matplotlib is missing."""
    json_path = run_dir / "curves.json"
    json_path.write_text(json.dumps({"train": steps, "eval": evals, "metric": metric_name}, indent=1))
    try:
        # Figure + the Agg canvas directly: no pyplot, so no GUI backend and a faster import
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return json_path, None
    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    if steps:
        left.plot([s["step"] for s in steps], [s["loss"] for s in steps], label="train loss", alpha=0.7)
    if evals:
        left.plot([e["step"] for e in evals], [e["val_loss"] for e in evals], "o-", label="validation loss")
        right.plot([e["step"] for e in evals], [e["val_metric"] for e in evals], "o-", color="tab:green")
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.legend()
    right.set_xlabel("step")
    right.set_ylabel(f"validation {metric_name}")
    fig.tight_layout()
    png_path = run_dir / "curves.png"
    fig.savefig(png_path, dpi=90)
    return json_path, png_path
