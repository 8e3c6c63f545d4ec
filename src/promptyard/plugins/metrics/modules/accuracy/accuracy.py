"""Accuracy: the share of predictions equal to their reference (scikit-learn)."""

import datasets
import evaluate
from sklearn.metrics import accuracy_score

_DESCRIPTION = "Accuracy = correct predictions / all predictions. Labels are compared as strings."


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", 
            inputs_description="predictions, references: label strings",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, return_per_example=False):
        result = {"accuracy": float(accuracy_score(references, predictions))}
        if return_per_example:
            result["per_example"] = [float(p == r) for p, r in zip(predictions, references, strict=False)]
        return result
