"""Latency: mean, median and 95th percentile of per-example seconds (batched time shared per example)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Per-example latency in seconds; predictions are the timings, references are unused."


class Latency(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description="predictions: seconds per example",
            features=datasets.Features({"predictions": datasets.Value("float64"),
                                        "references": datasets.Value("float64")}))

    def _compute(self, predictions, references, return_per_example=False):
        arr = np.asarray(predictions, dtype=float)
        result = {"latency_s": float(arr.mean()) if arr.size else 0.0,
                  "latency_p50_s": float(np.percentile(arr, 50)) if arr.size else 0.0,
                  "latency_p95_s": float(np.percentile(arr, 95)) if arr.size else 0.0,
                  "total_s": float(arr.sum())}
        if return_per_example:
            result["per_example"] = arr.tolist()
        return result
