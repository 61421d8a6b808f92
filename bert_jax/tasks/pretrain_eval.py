"""Pretraining's evaluator: held-out MLM and sentence-objective (NSP / SOP) scores."""

from __future__ import annotations

import numpy as np

from bert_jax.evaluation import Evaluator


class MaskedLmScores(Evaluator):
    """Held-out MLM accuracy/loss/perplexity, NSP (or ALBERT's SOP: ``sop_accuracy``) accuracy where the model
    has a sentence head, and the most-frequent-token baseline (always predicting the commonest masked token
    of the split); in distillation also the teacher's accuracy on the same masked positions."""

    splits = ("eval",)

    def __init__(self, tokenizer, sentence_head: str | None = "nsp"):
        self.tokenizer = tokenizer
        self.sentence_head = sentence_head

    def run(self, predictions, split):
        w = predictions["masked_lm_weights"] > 0
        labels = predictions["masked_lm_ids"][w]
        counts = np.bincount(labels)
        mlm_loss = float(np.mean(predictions["mlm_nll"][w]))
        metrics = {
            "mlm_accuracy": float(np.mean(predictions["mlm_prediction"][w] == labels)),
            "mlm_loss": mlm_loss,
            "mlm_perplexity": float(np.exp(mlm_loss)),
            "mlm_most_frequent_token_accuracy": float(counts.max() / counts.sum()),
            "mlm_most_frequent_token": self.tokenizer.id_to_token(int(counts.argmax())),
            "masked_tokens": int(w.sum()),
        }
        if "teacher_mlm_prediction" in predictions:  # distillation: the teacher on the same masked positions
            metrics["teacher_mlm_accuracy"] = float(np.mean(predictions["teacher_mlm_prediction"][w] == labels))
        if self.sentence_head:
            real = predictions["next_sentence_weights"] > 0
            correct = predictions["nsp_prediction"] == predictions["next_sentence_label"]
            metrics[f"{self.sentence_head}_accuracy"] = float(np.mean(correct[real]))
        return metrics, []
