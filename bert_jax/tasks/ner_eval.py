"""NER's evaluators, reading the predicted tags of each sentence's words (NerTask.postprocess): entity
precision/recall/F1 as conlleval counts them, and the predictions in CoNLL format."""

from __future__ import annotations

import os

import numpy as np

from bert_jax import metrics
from bert_jax.evaluation import Evaluator
from bert_jax.io_utils import write_text


class EntityScores(Evaluator):
    """precision, recall, f1 over entities (conlleval; seqeval's default mode) and word-level token_accuracy."""

    def __init__(self, task):
        self.task, self.splits = task, task.eval_splits

    def run(self, tags_by_sentence, split):
        predicted = list(tags_by_sentence.values())
        gold = [self.task.sentences(split)[i].tags for i in tags_by_sentence]
        out = metrics.entity_f1(gold, predicted)
        flat_gold = [t for s in gold for t in s]
        flat_pred = [t for s in predicted for t in s]
        out["token_accuracy"] = float(np.mean([g == p for g, p in zip(flat_gold, flat_pred, strict=True)]))
        return out, []


class ConllFile(Evaluator):
    """predictions/<split>.conll: each word's input columns and its predicted tag (conlleval's input);
    a -DOCSTART- line starts each document when the source is the CoNLL files."""

    final = True

    def __init__(self, task, splits: tuple[str, ...]):
        self.task, self.splits = task, splits

    def run(self, tags_by_sentence, split):
        lines, document = [], None
        sentences = self.task.sentences(split)
        for i, tags in tags_by_sentence.items():
            sentence = sentences[i]
            if sentence.document != document and self.task.config.data.source == "files":
                lines += ["-DOCSTART- -X- -X- O", ""]
                document = sentence.document
            lines += [" ".join([*cells, tag]) for cells, tag in zip(sentence.lines, tags, strict=True)] + [""]
        path = os.path.join(self.task.predictions_dir(), f"{split}.conll")
        write_text(path, "\n".join(lines))
        return {}, [path]
