"""What every fine-tuning task shares: the encoder config and tokenizer of ``init_from``, featurized
splits held on the host, the epoch-based shuffled training stream, padded eval batches that carry
``example_index`` (-1 on padding rows), and batches cut to a multiple of ``pad_to_multiple_of`` tokens,
which removes most padding while the step compiles only once per width.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import os

import jax
import numpy as np

from bert_jax import flops, pretrained
from bert_jax.config_base import model_overrides
from bert_jax.data.packing import pack_lengths, pack_rows
from bert_jax.data.tokenizer import TOKENIZER_FILES, Tokenizer, load_tokenizer
from bert_jax.models.bert import BertConfig
from bert_jax.tasks.base import Task


@dataclasses.dataclass
class Features:
    """A featurized split. ``arrays`` share the leading example axis [N, ...]; the keys in ``seq_keys``
    end in a token axis of length max_seq_length, cut per batch to the batch's width (``bucket_width``).
    ``lengths`` [N]: real tokens of each example (the longest choice for multiple choice)."""

    arrays: dict[str, np.ndarray]
    lengths: np.ndarray
    seq_keys: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, index: np.ndarray, width: int) -> dict[str, np.ndarray]:
        return {k: (v[index, ..., :width] if k in self.seq_keys else v[index]) for k, v in self.arrays.items()}


def bucket_width(length: int, max_length: int, multiple: int) -> int:
    """Width of a batch whose longest row has ``length`` tokens: the next multiple of ``multiple``, capped at
    max_length (0 = always max_length). Multiples of 32 give ≤ 4 shapes up to 128 (so ≤ 4 compilations) and
    pad GLUE batches to ~1.2× their longest row, where powers of two padded STS-B and MRPC to ~1.5×."""
    if not multiple:
        return max_length
    return min(max_length, -(-int(length) // multiple) * multiple)


class TrainBatches:
    """Item k = global batch k of an endless stream: epoch e is a permutation of the examples drawn
    from (seed, e), epochs follow each other without dropping a remainder. Each process takes its
    contiguous slice of the global batch. Pure function of k, so resume needs only the step."""

    def __init__(self, features: Features, global_batch: int, seed: int, max_length: int, multiple: int,
                 process_index: int = 0, process_count: int = 1):
        self.features, self.global_batch, self.seed = features, global_batch, seed
        self.max_length, self.multiple = max_length, multiple
        per_host = global_batch // process_count
        self.host_slice = slice(process_index * per_host, (process_index + 1) * per_host)
        self._epoch_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return 2**62  # endless; the trainer stops at total_steps

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._epoch_cache:
            self._epoch_cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.features))}
        return self._epoch_cache[epoch]

    def indices(self, k: int) -> np.ndarray:
        n = len(self.features)
        positions = np.arange(k * self.global_batch, (k + 1) * self.global_batch)
        return np.array([self._order(int(p // n))[p % n] for p in positions])

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        index = self.indices(k)
        width = bucket_width(self.features.lengths[index].max(), self.max_length, self.multiple)
        return self.features.take(index[self.host_slice], width)


class PackedTrainBatches(TrainBatches):
    """TrainBatches' examples (global batch k = the same indices) packed up to ``max_per_row`` per row of
    ``max_length`` tokens (data/packing.py). The row count is rounded up to ``row_multiple``, so a run
    sees a few shapes, not one per batch. Per-example arrays (labels) become [rows, max_per_row] with
    ``label_weights`` 1 at filled [CLS] slots. Each process takes its contiguous slice of the rows."""

    def __init__(self, features: Features, global_batch: int, seed: int, max_length: int, max_per_row: int,
                 row_multiple: int, process_index: int = 0, process_count: int = 1):
        super().__init__(features, global_batch, seed, max_length, 0)
        self.max_per_row, self.row_multiple = max_per_row, row_multiple
        self.process_index, self.process_count = process_index, process_count

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        index = self.indices(k)
        lengths = self.features.lengths[index]
        rows = [[int(index[j]) for j in row] for row in pack_lengths(lengths, self.max_length, self.max_per_row)]
        count = -(-len(rows) // self.row_multiple) * self.row_multiple
        arrays = self.features.arrays
        tokens = {int(i): arrays["input_ids"][i, :n] for i, n in zip(index, lengths, strict=True)}
        types = {int(i): arrays["token_type_ids"][i, :n] for i, n in zip(index, lengths, strict=True)}
        batch = pack_rows(tokens, types, rows + [[]] * (count - len(rows)), self.max_length, self.max_per_row)
        slot = batch.pop("example_index")
        filled = slot >= 0
        for name, values in arrays.items():
            if name not in self.features.seq_keys:
                batch[name] = np.where(filled, values[np.maximum(slot, 0)], 0).astype(values.dtype)
        batch["label_weights"] = filled.astype(np.float32)
        per_host = count // self.process_count
        return {name: v[self.process_index * per_host:(self.process_index + 1) * per_host] for name, v in batch.items()}


class EvalBatches:
    """One pass in length order (little padding); the last batch is filled with copies of a real row
    whose ``example_index`` is -1, so every batch has the same size and padding is never scored."""

    def __init__(self, features: Features, global_batch: int, max_length: int, multiple: int,
                 process_index: int = 0, process_count: int = 1):
        self.features, self.global_batch, self.max_length, self.multiple = features, global_batch, max_length, multiple
        self.order = np.argsort(features.lengths, kind="stable")
        per_host = global_batch // process_count
        self.host_slice = slice(process_index * per_host, (process_index + 1) * per_host)

    def __len__(self) -> int:
        return math.ceil(len(self.features) / self.global_batch)

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        real = self.order[k * self.global_batch:(k + 1) * self.global_batch]
        index = np.concatenate([real, np.full(self.global_batch - len(real), real[0])])
        example_index = np.concatenate([real, np.full(self.global_batch - len(real), -1)]).astype(np.int32)
        width = bucket_width(self.features.lengths[real].max(), self.max_length, self.multiple)
        batch = self.features.take(index, width)
        batch["example_index"] = example_index
        return {k: v[self.host_slice] for k, v in batch.items()}


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
    if init and pretrained.resolve(init).has_tokenizer:
        return pretrained.resolve(init).tokenizer(lowercase=lowercase)
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
    """Base of GLUE, SWAG and NER: subclasses implement ``featurize(split) -> Features`` and the heads,
    losses, predictions and metrics. ``eval_splits`` are scored every evaluation; ``test_splits()``
    are only predicted at the end; ``selection_metric`` picks the best checkpoint (higher is better)."""

    eval_splits: tuple[str, ...] = ("dev",)
    selection_metric = "accuracy"
    packable = False  # True where training batches may be packed (one pooled [CLS] per example)

    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        self.tokenizer: Tokenizer = tokenizer_for(config)
        self.model_config = model_config_for(config, self.tokenizer.vocab_size)
        self.max_length = config.data.max_seq_length
        if self.max_length > self.model_config.max_position_embeddings:
            raise ValueError(f"config.data.max_seq_length={self.max_length} exceeds the model's "
                             f"max_position_embeddings={self.model_config.max_position_embeddings}")
        self._features: dict[str, Features] = {}
        if config.data.get("pack_per_row", 1) > 1 and not self.packable:
            raise ValueError(f"config.data.pack_per_row={config.data.pack_per_row}: packing is for sentence(-pair) "
                             f"classification (GLUE); task {config.task.name!r} needs pack_per_row=1")

    @abc.abstractmethod
    def featurize(self, split: str) -> Features:
        """The split's examples as host arrays (GLUE, SWAG and NER each implement it)."""

    def features(self, split: str) -> Features:
        if split not in self._features:
            self._features[split] = self.featurize(split)
        return self._features[split]

    @property
    def num_train_examples(self) -> int:
        return len(self.features("train"))

    def predictions_dir(self) -> str:
        path = os.path.join(self.workdir, "predictions")
        os.makedirs(path, exist_ok=True)
        return path

    def dataset(self, split: str):
        cfg = self.config
        process = {"process_index": jax.process_index(), "process_count": jax.process_count()}
        multiple = cfg.data.pad_to_multiple_of
        pack = cfg.data.get("pack_per_row", 1)
        if split == "train" and pack > 1:
            return PackedTrainBatches(self.features(split), cfg.batch_size, cfg.seed, self.max_length, pack,
                                      cfg.data.packed_row_multiple, **process)
        if split == "train":
            return TrainBatches(self.features(split), cfg.batch_size, cfg.seed, self.max_length, multiple, **process)
        return EvalBatches(self.features(split), cfg.eval_batch_size, self.max_length, multiple, **process)

    def flops_per_example(self) -> float:
        """Train FLOPs (3× forward) of one full-length example (all its choices)."""
        rows = self.features("train").arrays["input_ids"].size // (len(self.features("train")) * self.max_length)
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
