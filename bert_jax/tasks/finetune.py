"""What every fine-tuning task shares: the encoder config and tokenizer of ``init_from``, featurized
splits held on the host (data/loaders.py turns them into the epoch-based shuffled training stream and the
padded eval batches that carry ``example_index``, -1 on padding rows, cut to a multiple of
``pad_to_multiple_of`` tokens), the train_limit subset and the prediction order.
"""

from __future__ import annotations

import abc
import os

import numpy as np

from bert_jax import flops, pretrained
from bert_jax.config_base import model_overrides
from bert_jax.data.loaders import Features, FeatureSpec
from bert_jax.data.tokenizer import TOKENIZER_FILES, Tokenizer, load_tokenizer
from bert_jax.models.bert import BertConfig
from bert_jax.tasks.base import Task


def in_order(predictions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drops padding rows (example_index -1) and sorts by example index."""
    keep = predictions["example_index"] >= 0
    order = np.argsort(predictions["example_index"][keep], kind="stable")
    return {k: v[keep][order] for k, v in predictions.items()}


def tokenizer_for(config) -> Tokenizer:
    """config.data.vocab when given, else the tokenizer of ``config.init_from`` (pretrained.py finds it)."""
    lowercase = config.data.get("lowercase")
    if config.data.vocab:
        return load_tokenizer(config.data.vocab, lowercase=lowercase)
    init = config.init_from
    source = pretrained.resolve(init) if init else None
    if source is not None and source.has_tokenizer:
        return source.tokenizer(lowercase=lowercase)
    raise ValueError(f"config.data.vocab is empty and config.init_from ({init or 'empty'}) has no tokenizer "
                     f"files ({', '.join(TOKENIZER_FILES)}); give one of them")


def model_config_for(config, vocab_size: int) -> BertConfig:
    """The encoder of ``config.init_from`` (HF config.json, Google bert_config.json, or a bert_jax
    workdir's model/config.json: pretrained.py reads them), else ``config.model.preset``; ``config.model``
    fields override."""
    overrides = model_overrides(config)
    if config.init_from:
        model_config = pretrained.resolve(config.init_from).model_config(**overrides)
    else:
        model_config = BertConfig.preset(config.model.preset, vocab_size=vocab_size, **overrides)
    if vocab_size > model_config.vocab_size:
        raise ValueError(f"the tokenizer has {vocab_size} tokens but the model's vocab_size is "
                         f"{model_config.vocab_size}")
    return model_config


class FinetuneTask(Task):
    """Base of GLUE, SQuAD, SWAG and NER: subclasses implement ``featurize(split) -> Features``, the head,
    loss and predictions, and their evaluators. ``eval_splits`` are scored at every evaluation;
    ``test_splits()`` (test files that exist, with ``task.predict_test``) are only predicted at the end;
    ``selection_metric`` picks the best checkpoint (higher is better). Evaluators read the predictions of
    real examples in example order (``postprocess``)."""

    eval_splits: tuple[str, ...] = ("dev",)
    selection_metric = "accuracy"
    packable = False  # True where training batches may be packed (one pooled [CLS] per example)

    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        self.tokenizer: Tokenizer = tokenizer_for(config)
        self.model_config = model_config_for(config, self.tokenizer.vocab_size)
        self.max_length = config.data.max_seq_length
        longest = self.model_config.max_position_embeddings - self.model_config.position_offset
        if self.max_length > longest:
            raise ValueError(f"config.data.max_seq_length={self.max_length} exceeds the {longest} positions of the "
                             f"model (max_position_embeddings={self.model_config.max_position_embeddings}"
                             + (f" less RoBERTa's offset {self.model_config.position_offset})" if
                                self.model_config.position_offset else ")"))
        self._features: dict[str, Features] = {}
        if config.data.pack_per_row > 1 and not self.packable:
            raise ValueError(f"config.data.pack_per_row={config.data.pack_per_row}: packing is for sentence(-pair) "
                             f"classification (GLUE); task {config.task.name!r} needs pack_per_row=1")

    @abc.abstractmethod
    def featurize(self, split: str) -> Features:
        """The split's examples as host arrays (GLUE, SWAG and NER each implement it)."""

    def features(self, split: str) -> Features:
        if split not in self._features:
            self._features[split] = self.featurize(split)
        return self._features[split]

    def test_splits(self) -> tuple[str, ...]:
        return ()

    def postprocess(self, predictions: dict, split: str):
        return in_order(predictions)

    @property
    def num_train_examples(self) -> int:
        return len(self.features("train"))

    def predictions_dir(self) -> str:
        path = os.path.join(self.workdir, "predictions")
        os.makedirs(path, exist_ok=True)
        return path

    def data_spec(self, split: str) -> FeatureSpec:
        data = self.config.data
        return FeatureSpec(self.features(split), self.max_length, data.pad_to_multiple_of, data.pack_per_row,
                           data.packed_row_multiple, data.max_widths)

    def flops_per_example(self) -> float:
        """Train FLOPs (3× forward) of one full-length example (all its choices)."""
        rows = self.features("train").rows_per_example
        return 3 * rows * self.max_length * flops.encoder_flops_per_token(self.model_config, self.max_length)

    def flops_per_batch(self, batch: dict) -> float:
        """Of the batch as run: its length bucket, padding included (the model computes it)."""
        width = batch["input_ids"].shape[-1]
        return 3 * batch["input_ids"].size * flops.encoder_flops_per_token(self.model_config, width)

    def limit(self, n: int) -> np.ndarray:
        """Indices of a random subset of ``config.data.train_limit`` training examples (all when 0)."""
        limit = self.config.data.train_limit
        if not limit or limit >= n:
            return np.arange(n)
        # Fixed by the data, not the run seed: every seed of a sweep trains on the same subset.
        return np.sort(np.random.default_rng(12345).choice(n, limit, replace=False))
