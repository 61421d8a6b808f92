"""SQuAD v1.1 and v2.0: extractive QA with start/end logits over question + context windows.

Featurisation (windows, doc stride, offsets) is in data/squad_windows.py, answer selection (n-best,
null odds) in tasks/squad_answers.py (the task's postprocess), the evaluators in tasks/squad_eval.py, EM/F1
and the null-threshold search in metrics.py. Sources
(data/squad_data.py): the SQuAD JSON files in ``data.dir`` (``data.train_file`` / ``data.dev_file``), TFDS
``squad/v1.1`` / ``squad/v2.0`` or Hugging Face datasets (rajpurkar/squad, rajpurkar/squad_v2);
``data.train_articles`` / ``data.dev_articles`` ("start:stop") take a slice of the articles, to train on
some articles of a file and evaluate on others.

Results (official names): exact, f1 (and the v2.0 HasAns_/NoAns_ breakdown) at
``task.null_score_diff_threshold``; for v2.0 also best_exact, best_exact_thresh, best_f1 and
best_f1_thresh, the official evaluate-v2.0 search of the threshold, run on the best non-null answers
(so that it can find any threshold, not only those above the one the predictions were cut at).
An epoch is one pass over the training windows (as HF's Trainer counts; Google's run_squad counts
questions). Files in predictions/<split>/: predictions.json (qid → text), nbest_predictions.json and, for v2.0,
null_odds.json, which evaluate-v2.0.py reads with --na-prob-file.
"""

from __future__ import annotations

import logging

import jax.numpy as jnp

from bert_jax.data import squad_data, squad_windows
from bert_jax.data.loaders import Features
from bert_jax.data.readers import DataError, SquadExample, parse_articles
from bert_jax.models.heads import SpanHead
from bert_jax.tasks.base import register
from bert_jax.tasks.finetune import FinetuneTask, in_order
from bert_jax.tasks.losses import cross_entropy_with_integer_labels
from bert_jax.tasks.squad_answers import Answers, best_answers
from bert_jax.tasks.squad_eval import NullThresholdSearch, PredictionFiles, SquadScores

log = logging.getLogger(__name__)

VERSIONS = ("v1.1", "v2.0")
@register("squad")
class SquadTask(FinetuneTask):
    selection_metric = "f1"

    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        if config.task.subtask not in VERSIONS:
            raise ValueError(f"config.task.subtask={config.task.subtask!r}; expected one of {VERSIONS}")
        self.version_2 = config.task.subtask == "v2.0"
        if config.task.doc_stride < 1:
            raise ValueError(f"config.task.doc_stride={config.task.doc_stride}; expected ≥ 1")
        data = config.data
        self._articles = {"train": parse_articles(data.train_articles, "train_articles"),
                          "dev": parse_articles(data.dev_articles, "dev_articles")}
        self._examples: dict[str, list[SquadExample]] = {}
        self._windows: dict[str, squad_windows.SquadWindows] = {}

    # ------------------------------------------------------------------------------------ data
    def examples(self, split: str) -> list[SquadExample]:
        if split not in self._examples:
            out = squad_data.read_split(split, self.config.task.subtask, self.config.data, self._articles[split])
            if not self.version_2 and any(e.is_impossible for e in out):
                raise DataError(f"{squad_data.describe(split, self.config.task.subtask, self.config.data)}: has "
                                "unanswerable questions (is_impossible); use configs/squad.py:version=2")
            if split == "train":
                out = [out[i] for i in self.limit(len(out))]
            self._examples[split] = out
            log.info("squad %s: %d questions", split, len(out))
        return self._examples[split]

    def windows(self, split: str) -> squad_windows.SquadWindows:
        if split not in self._windows:
            task = self.config.task
            self._windows[split] = squad_windows.featurize(
                self.examples(split), self.tokenizer, self.max_length, task.doc_stride, task.max_query_length,
                training=split == "train", out_of_span=task.out_of_span)
        return self._windows[split]

    def featurize(self, split: str) -> Features:
        windows = self.windows(split)
        log.info("squad %s: %d windows", split, len(windows.lengths))
        return Features(windows.arrays, windows.lengths)

    # ------------------------------------------------------------------------------- model side
    def head(self):
        return SpanHead(self.model_config)

    def inputs(self, batch):
        return {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}

    @staticmethod
    def _masked(logits, attention_mask):
        # Padding can never be an answer; masking it also makes the loss independent of the batch's width.
        return jnp.where(attention_mask > 0, logits.astype(jnp.float32), -1e9)

    def loss(self, outputs, batch):
        """Mean of the start and end cross-entropies (Google's and HF's loss)."""
        start = self._masked(outputs["start_logits"], batch["attention_mask"])
        end = self._masked(outputs["end_logits"], batch["attention_mask"])
        loss = (cross_entropy_with_integer_labels(start, batch["start_positions"])
                + cross_entropy_with_integer_labels(end, batch["end_positions"])) / 2
        exact = (jnp.argmax(start, -1) == batch["start_positions"]) & (jnp.argmax(end, -1) == batch["end_positions"])
        return jnp.mean(loss), {"span_accuracy": jnp.mean(exact)}

    def predict(self, outputs, batch):
        return {"start_logits": self._masked(outputs["start_logits"], batch["attention_mask"]),
                "end_logits": self._masked(outputs["end_logits"], batch["attention_mask"]),
                "example_index": batch["example_index"]}

    # ------------------------------------------------------------------------------- host side
    def postprocess(self, predictions, split) -> Answers:
        """The n-best answers (and null odds) of each predicted question, from its windows' logits."""
        ordered = in_order(predictions)
        windows = self.windows(split)
        index = ordered["example_index"]
        task = self.config.task
        return best_answers(self.examples(split), windows.example[index], ordered["start_logits"],
                            ordered["end_logits"], windows.offsets[index], windows.max_context[index],
                            task.n_best_size, task.max_answer_length, with_null=self.version_2)

    def gold(self, split: str, qids) -> dict[str, list[str]]:
        """The reference answers of the questions ``qids`` ([''] for an unanswerable one)."""
        by_id = {e.qid: e for e in self.examples(split)}
        return {q: ([t for t, _ in by_id[q].answers] if not by_id[q].is_impossible else [""]) for q in qids}

    def evaluators(self):
        scores = (SquadScores(self),) + ((NullThresholdSearch(self),) if self.version_2 else ())
        return scores + (PredictionFiles(self),)
