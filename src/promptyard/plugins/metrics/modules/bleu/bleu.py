"""Corpus BLEU (sacrebleu, default 13a tokenisation, one reference per prediction)."""

import datasets
import evaluate
from sacrebleu.metrics import BLEU

_DESCRIPTION = "sacrebleu corpus BLEU on a 0-100 scale; return_stats adds per-example sufficient statistics."


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="Post, 2018",
            inputs_description="predictions, references: text",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, return_stats=False):
        bleu = BLEU()
        score = bleu.corpus_score(list(predictions), [list(references)])
        result = {"bleu": float(score.score), "brevity_penalty": float(score.bp)}
        if return_stats:
            # [sys_len, ref_len, correct_1..4, total_1..4] per example: they add up over a corpus,
            # which is what lets a bootstrap recompute BLEU for a resample without re-tokenising
            segments = bleu._extract_corpus_statistics(list(predictions), [list(references)])
            result["stats"] = [list(map(float, s)) for s in segments]
        return result
