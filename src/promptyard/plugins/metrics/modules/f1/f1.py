"""F1, macro or micro averaged over the labels present in references or predictions (scikit-learn)."""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = "F1 of label strings; average='macro' (default) or 'micro'; zero_division counts as 0."


class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", 
            inputs_description="predictions, references: label strings",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, average="macro"):
        value = f1_score(references, predictions, average=average, zero_division=0)
        return {"f1": float(value)}
