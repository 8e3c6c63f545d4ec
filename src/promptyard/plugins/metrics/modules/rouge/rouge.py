"""ROUGE-1, ROUGE-2 and ROUGE-L F-measure (rouge_score), averaged over examples."""

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = "Mean F-measure of rouge1, rouge2 and rougeL (with Porter stemming)."
_TYPES = ("rouge1", "rouge2", "rougeL")


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="Lin, 2004",
            inputs_description="predictions, references: text",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, use_stemmer=True, return_per_example=False):
        scorer = rouge_scorer.RougeScorer(list(_TYPES), use_stemmer=use_stemmer)
        rows = [scorer.score(r, p) for p, r in zip(predictions, references, strict=False)]
        n = max(len(rows), 1)
        result = {t: sum(row[t].fmeasure for row in rows) / n for t in _TYPES}
        result = {"rougeL": result["rougeL"], "rouge1": result["rouge1"], "rouge2": result["rouge2"]}
        if return_per_example:
            result["per_example"] = [row["rougeL"].fmeasure for row in rows]
        return result
