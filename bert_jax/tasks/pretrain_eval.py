"""Pretraining's evaluator: held-out MLM and NSP scores."""

from __future__ import annotations

import numpy as np

from bert_jax.evaluation import Evaluator


class MaskedLmScores(Evaluator):
    """Held-out MLM accuracy/loss/perplexity, NSP accuracy, and the most-frequent-token baseline (always
    predicting the commonest masked token of the split)."""

    splits = ("eval",)

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def run(self, predictions, split):
        w = predictions["masked_lm_weights"] > 0
        labels = predictions["masked_lm_ids"][w]
        counts = np.bincount(labels)
        mlm_loss = float(np.mean(predictions["mlm_nll"][w]))
        nsp_real = predictions["next_sentence_weights"] > 0
        return {
            "mlm_accuracy": float(np.mean(predictions["mlm_prediction"][w] == labels)),
            "mlm_loss": mlm_loss,
            "mlm_perplexity": float(np.exp(mlm_loss)),
            "mlm_most_frequent_token_accuracy": float(counts.max() / counts.sum()),
            "mlm_most_frequent_token": self.tokenizer.id_to_token(int(counts.argmax())),
            "nsp_accuracy": float(np.mean((predictions["nsp_prediction"] == predictions["next_sentence_label"])[
                nsp_real])),
            "masked_tokens": int(w.sum()),
        }, []
