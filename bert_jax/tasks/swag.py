"""SWAG: pick the ending that follows a context, out of four.

Each choice is one row ``[CLS] sent1 [SEP] sent2 + ' ' + ending [SEP]`` (as HF's run_swag; the paper's
"given sentence" + "possible continuation"); batches are [batch, 4, seq], the model flattens them to
[batch·4, seq] and the head scores them back to [batch, 4]. Sources (data/swag_data.py): SWAG's released
CSV files (train.csv, val.csv, test.csv) or Hugging Face datasets (allenai/swag); TFDS has no SWAG builder.
Evaluators (tasks/swag_eval.py): accuracy, and predictions/<split>.csv with every choice's score.
"""

from __future__ import annotations

import logging

import jax.numpy as jnp
import numpy as np

from bert_jax.data import swag_data
from bert_jax.data.loaders import Features, token_features
from bert_jax.data.readers import SWAG_CHOICES, SwagExample
from bert_jax.models.heads import MultipleChoiceHead
from bert_jax.tasks.base import register
from bert_jax.tasks.finetune import FinetuneTask
from bert_jax.tasks.losses import cross_entropy_with_integer_labels
from bert_jax.tasks.swag_eval import ChoicesFile, SwagAccuracy

log = logging.getLogger(__name__)


@register("swag")
class SwagTask(FinetuneTask):
    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        swag_data.check_source(config.data)
        self._examples: dict[str, list[SwagExample]] = {}

    def examples(self, split: str) -> list[SwagExample]:
        if split not in self._examples:
            out = swag_data.read_split(split, self.config.data)
            if split != "test" and any(e.label is None for e in out):
                raise ValueError(f"{swag_data.describe(split, self.config.data)}: no labels; the {split} split "
                                 "needs labels")
            if split == "train":
                out = [out[i] for i in self.limit(len(out))]
            self._examples[split] = out
            log.info("swag %s: %d examples", split, len(out))
        return self._examples[split]

    def featurize(self, split: str) -> Features:
        ex = self.examples(split)
        contexts = [e.context for e in ex for _ in range(SWAG_CHOICES)]
        endings = [f"{e.start} {ending}".strip() for e in ex for ending in e.endings]
        labels = np.array([-1 if e.label is None else e.label for e in ex], np.int32)
        return token_features(self.tokenizer.encode_many(contexts, endings, self.max_length), self.tokenizer.pad_id,
                              {"labels": labels}, per_example=SWAG_CHOICES)

    def test_splits(self):
        return ("test",) if self.config.task.predict_test and swag_data.has_split("test", self.config.data) else ()

    def head(self):
        return MultipleChoiceHead(self.model_config, SWAG_CHOICES)

    def inputs(self, batch):
        return {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}

    def loss(self, outputs, batch):
        logits = outputs["logits"].astype(jnp.float32)  # [batch, choices]
        loss = jnp.mean(cross_entropy_with_integer_labels(logits, batch["labels"]))
        return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["labels"])}

    def predict(self, outputs, batch):
        logits = outputs["logits"].astype(jnp.float32)
        return {"prediction": jnp.argmax(logits, -1), "logits": logits, "example_index": batch["example_index"]}

    def evaluators(self):
        return (SwagAccuracy(self), ChoicesFile(self, self.eval_splits + self.test_splits()))
