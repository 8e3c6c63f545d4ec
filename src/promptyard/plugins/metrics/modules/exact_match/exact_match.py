"""Exact match: the share of predictions equal to their reference after light normalisation."""

import datasets
import evaluate

_DESCRIPTION = "1 when prediction and reference are equal after stripping (and optionally lower-casing)."


def _normalise(text, ignore_case):
    text = " ".join(str(text).split())
    return text.lower() if ignore_case else text


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description="predictions, references: strings",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, ignore_case=False, return_per_example=False):
        scores = [float(_normalise(p, ignore_case) == _normalise(r, ignore_case))
                  for p, r in zip(predictions, references, strict=False)]
        result = {"exact_match": sum(scores) / len(scores) if scores else 0.0}
        if return_per_example:
            result["per_example"] = scores
        return result
