"""CoNLL-2003 NER: tag every word; the label sits on a word's first sub-word, the others are ignored
in the loss (-1) and in prediction. Entity precision/recall/F1 as conlleval (and seqeval's default
mode) count them. Optional document context: the paper's "maximal document context", i.e. the
sentence's neighbours in its document fill the rest of the window (unlabelled).

Sources (data/conll_data.py): CoNLL-2003 column files (``task.tag_scheme`` 'bio', or 'iob1' for the
original eng.* files), TFDS ``conll2003`` or Hugging Face datasets (eriktks/conll2003). Evaluators
(tasks/ner_eval.py): entity scores, and the predictions written back in CoNLL format (the input columns +
the predicted tag), which conlleval reads.
"""

from __future__ import annotations

import logging

import jax.numpy as jnp
import numpy as np

from bert_jax.data import conll_data, ner_windows
from bert_jax.data.loaders import Features
from bert_jax.data.ner_windows import IGNORE
from bert_jax.data.readers import CONLL_TAGS, ConllSentence
from bert_jax.models.heads import TokenTaggingHead
from bert_jax.tasks.base import register
from bert_jax.tasks.finetune import FinetuneTask, in_order
from bert_jax.tasks.losses import cross_entropy_with_integer_labels
from bert_jax.tasks.ner_eval import ConllFile, EntityScores

log = logging.getLogger(__name__)


@register("ner")
class NerTask(FinetuneTask):
    selection_metric = "f1"

    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        if config.task.tag_scheme not in ("bio", "iob1"):  # checked before any file is read
            raise ValueError(f"config.task.tag_scheme={config.task.tag_scheme!r}; expected 'bio' or 'iob1'")
        self.labels = CONLL_TAGS
        self._sentences: dict[str, list[ConllSentence]] = {}
        self._word_positions: dict[str, list[tuple[int, np.ndarray]]] = {}  # per feature: (sentence, first pieces)
        self._pieces = ner_windows.WordPieces(self.tokenizer)

    # ------------------------------------------------------------------------------------ data
    def sentences(self, split: str) -> list[ConllSentence]:
        if split not in self._sentences:
            out = conll_data.read_split(split, self.config.data, self.config.task.tag_scheme)
            if split == "train":
                out = [out[i] for i in self.limit(len(out))]
            self._sentences[split] = out
            log.info("ner %s: %d sentences", split, len(out))
        return self._sentences[split]

    def featurize(self, split: str) -> Features:
        windows = ner_windows.featurize(self.sentences(split), self._pieces, self.labels, self.tokenizer,
                                        self.max_length, self.config.task.document_context)
        self._word_positions[split] = windows.word_positions
        return Features(windows.arrays, np.diff(windows.arrays["input_ids"].starts),
                        seq_keys=("input_ids", "token_type_ids", "attention_mask", "labels"))

    def test_splits(self):
        if not self.config.task.predict_test:
            return ()
        return ("test",) if conll_data.has_split("test", self.config.data) else ()

    # ------------------------------------------------------------------------------- model side
    def head(self):
        return TokenTaggingHead(self.model_config, len(self.labels))

    def inputs(self, batch):
        return {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}

    def loss(self, outputs, batch):
        logits = outputs["logits"].astype(jnp.float32)
        labels = batch["labels"]
        weights = (labels != IGNORE).astype(jnp.float32)
        per_token = cross_entropy_with_integer_labels(logits, jnp.maximum(labels, 0))
        count = jnp.maximum(jnp.sum(weights), 1.0)
        accuracy = jnp.sum((jnp.argmax(logits, -1) == labels) * weights) / count
        return jnp.sum(per_token * weights) / count, {"token_accuracy": accuracy}

    def predict(self, outputs, batch):
        return {"prediction": jnp.argmax(outputs["logits"], -1).astype(jnp.int32),
                "example_index": batch["example_index"]}

    # ------------------------------------------------------------------------------- host side
    def postprocess(self, predictions, split) -> dict[int, list[str]]:
        """Predicted tags of the words of each predicted sentence (all of them after a full pass), by
        sentence index; words without sub-words (nothing left after normalisation) are 'O'."""
        sentences = self.sentences(split)
        tags = {}
        ordered = in_order(predictions)
        for feature, row in zip(ordered["example_index"], ordered["prediction"], strict=True):
            sentence, first = self._word_positions[split][feature]
            words = tags.setdefault(sentence, ["O"] * len(sentences[sentence].words))
            for word, position in first:
                words[word] = self.labels[int(row[position])]
        return dict(sorted(tags.items()))

    def evaluators(self):
        return (EntityScores(self), ConllFile(self, self.eval_splits + self.test_splits()))
