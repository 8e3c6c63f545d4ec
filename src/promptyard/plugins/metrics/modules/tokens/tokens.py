"""Tokens: mean and total tokens per example (prompt plus generated)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Tokens per example; predictions are the token counts, references are unused."


class Tokens(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description="predictions: tokens per example",
            features=datasets.Features({"predictions": datasets.Value("float64"),
                                        "references": datasets.Value("float64")}))

    def _compute(self, predictions, references, return_per_example=False):
        arr = np.asarray(predictions, dtype=float)
        result = {"tokens": float(arr.mean()) if arr.size else 0.0, "total_tokens": float(arr.sum())}
        if return_per_example:
            result["per_example"] = arr.tolist()
        return result
