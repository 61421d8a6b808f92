"""Sentence-classification fine-tuning throughput on SST-2-like or MRPC-like lengths, ours beside HF (PyTorch).

Every row trains on the same examples, ``--batch`` examples per optimizer step, lengths drawn from SST-2's
(``--lengths=sst2``, single sentences) or MRPC's (``--lengths=mrpc``, sentence pairs) train-set length
distribution (below). The peer gets each batch padded to its longest example (HF's DataCollatorWithPadding,
multiple of 8). Ours runs the same batches padded as bert_jax's GLUE loader pads them (at most 4 widths,
multiples of 8, planned from the lengths: data/widths.py; ``--multiples=32,16`` adds a row per multiple,
every multiple a width) or, with ``--packed``, packed several examples to a ``--seq``-wide row, a fixed
number of rows per step, pooled at each example's [CLS]. An epoch of ``--steps``
batches is timed after a warm-up epoch that compiles every shape; examples/s and real tokens/s are per epoch.
"""

from __future__ import annotations

import argparse

import numpy as np

from bert_jax import flops
from bert_jax.bench import peer, report
from bert_jax.bench.pretrain_bench import add_common_arguments, compute_dtype, model_config
from bert_jax.bench.runners import Runner, ours_train_step, peer_train_step
from bert_jax.bench.timing import interleaved_seconds, warm_up
from bert_jax.data import widths
from bert_jax.data.packing import pack_lengths, pack_rows
from bert_jax.models.heads import BertWithHead, SequenceClassificationHead
from bert_jax.tasks.glue import classification_inputs, classification_loss

# Percentiles 0, 5, ..., 100 of SST-2 train lengths in uncased WordPiece tokens with [CLS] and [SEP]
# (67,349 sentences; mean 13.3, median 10, max 66), measured on GLUE's train.tsv with Google's vocab.txt.
SST2_LENGTH_PERCENTILES = (3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 10, 11, 13, 14, 16, 18, 20, 23, 27, 33, 66)
# The same for MRPC's sentence pairs ([CLS] a [SEP] b [SEP]; 3,668 pairs; mean 53.2, median 53, max 103).
MRPC_LENGTH_PERCENTILES = (19, 32, 36, 39, 41, 44, 45, 47, 50, 51, 53, 55, 57, 59, 61, 62, 64, 67, 70, 74, 103)
LENGTH_PERCENTILES = {"sst2": SST2_LENGTH_PERCENTILES, "mrpc": MRPC_LENGTH_PERCENTILES}
LENGTH_NAMES = {"sst2": "SST-2", "mrpc": "MRPC"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, seq=128, batch=32)
    parser.add_argument("--steps", type=int, default=16, help="batches per timed epoch")
    parser.add_argument("--packed", action="store_true", help="ours also runs packed rows")
    parser.add_argument("--max-per-row", type=int, default=16)
    add_lengths_argument(parser)
    parser.add_argument("--multiples", default="", type=_multiples,
                        help="ours: comma-separated padding multiples, one more row each, every multiple a width")


def add_lengths_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lengths", default="sst2", choices=sorted(LENGTH_PERCENTILES),
                        help="length distribution of the examples: SST-2's sentences or MRPC's sentence pairs")


def examples(vocab_size: int, n: int, lengths: str):
    """``n`` random examples with ``lengths``' distribution (sst2 | mrpc): (ids, types, labels, lengths)."""
    drawn = like_lengths(np.random.default_rng(0), n, LENGTH_PERCENTILES[lengths])
    return (*random_examples(vocab_size, drawn, pairs=lengths == "mrpc"), drawn)


def _multiples(text: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--multiples={text!r}: expected positive integers separated by commas")
    return values


def like_lengths(rng: np.random.Generator, n: int, percentiles=SST2_LENGTH_PERCENTILES) -> np.ndarray:
    """Inverse-CDF draws from a table of percentiles 0, 5, ..., 100 (linear between them)."""
    return np.round(np.interp(rng.uniform(0, 100, n), np.arange(0, 101, 5), percentiles)).astype(int)


def random_examples(vocab_size: int, lengths: np.ndarray, seed: int = 0, pairs: bool = False):
    """Per length: token ids ([CLS] random ids ≥ 5 [SEP]), token types (one segment, or with ``pairs`` the
    second half as segment B); and random 0/1 labels."""
    rng = np.random.default_rng(seed)
    ids = [np.concatenate([[2], rng.integers(5, vocab_size, n - 2), [3]]).astype(np.int32) for n in lengths]
    types = [(np.arange(n) >= n // 2).astype(np.int32) if pairs else np.zeros(n, np.int32) for n in lengths]
    return ids, types, rng.integers(0, 2, len(lengths)).astype(np.int32)


def padded_batches(ids, types, labels, batch: int, multiple: int, seq: int, max_widths: int = 0) -> list[dict]:
    """Consecutive batches, each padded to the narrowest width that holds its longest example: at most
    ``max_widths`` multiples of ``multiple`` planned from the lengths as the loaders plan them (0: every
    multiple)."""
    planned = widths.plan_shuffled(np.array([len(i) for i in ids]), batch, seq, multiple, max_widths)
    out = []
    for start in range(0, len(ids) - batch + 1, batch):
        members = range(start, start + batch)
        width = widths.fit(max(len(ids[i]) for i in members), planned)
        arrays = {name: np.zeros((batch, width), np.int32) for name in ("input_ids", "token_type_ids",
                                                                         "attention_mask")}
        for row, i in enumerate(members):
            arrays["input_ids"][row, :len(ids[i])] = ids[i]
            arrays["token_type_ids"][row, :len(ids[i])] = types[i]
            arrays["attention_mask"][row, :len(ids[i])] = 1
        arrays["labels"] = labels[start:start + batch]
        out.append(arrays)
    return out


def packed_batches(ids, types, labels, batch: int, seq: int, max_per_row: int) -> list[dict]:
    """The same consecutive batches, each packed into the same (largest needed) number of rows."""
    groups = []
    for start in range(0, len(ids) - batch + 1, batch):
        members = list(range(start, start + batch))
        groups.append([[members[j] for j in row] for row in pack_lengths([len(ids[i]) for i in members], seq,
                                                                        max_per_row)])
    rows = max(len(g) for g in groups)
    out = []
    for group in groups:
        arrays = pack_rows(ids, types, group + [[]] * (rows - len(group)), seq, max_per_row)
        index = arrays.pop("example_index")
        arrays["labels"] = np.where(index >= 0, labels[np.maximum(index, 0)], 0).astype(np.int32)
        arrays["label_weights"] = (index >= 0).astype(np.float32)
        out.append(arrays)
    return out


class _Classification:
    """GLUE's classification inputs and loss (one example per row padded, one per [CLS] slot packed)."""

    inputs = staticmethod(classification_inputs)
    loss = staticmethod(classification_loss)


def ours_epoch(config, batches: list[dict]) -> Runner:
    """Our train step (2-way classification head, AdamW) over ``batches``."""
    return ours_train_step(BertWithHead(config, SequenceClassificationHead(config, 2)), _Classification(), batches,
                           lr=2e-5)


def peer_epoch(config, batches: list[dict], dtype: str, mode: str) -> Runner:
    import transformers

    model = transformers.BertForSequenceClassification(peer.hf_config(config, num_labels=2)).to(peer.device())
    tensors = [peer.tensors(b, ("input_ids", "token_type_ids", "attention_mask", "labels")) for b in batches]
    return peer_train_step(peer.compiled(model.train(), mode), tensors, dtype, lr=2e-5)


def run(args) -> int:
    dtype = compute_dtype(args)
    config = model_config(args)
    n = args.batch * args.steps
    ids, types, labels, lengths = examples(config.vocab_size, n, args.lengths)
    real = int(lengths.sum())
    epoch_flops = sum(3 * flops.encoder_flops_per_sequence(config, int(length)) for length in lengths)
    report.header(f"fine-tuning (2-way classification): BERT-{args.size}, {args.steps} steps × {args.batch} "
                  f"{LENGTH_NAMES[args.lengths]}-like examples (mean {lengths.mean():.1f} tokens)", dtype)
    loader = padded_batches(ids, types, labels, args.batch, widths.DEFAULT_MULTIPLE, args.seq, widths.DEFAULT_LIMIT)
    layouts = [(f"padded to {len({b['input_ids'].shape[1] for b in loader})} widths", loader)]
    layouts += [(f"padded to ×{multiple}", padded_batches(ids, types, labels, args.batch, multiple, args.seq))
                for multiple in args.multiples]
    if args.packed:
        packed = packed_batches(ids, types, labels, args.batch, args.seq, args.max_per_row)
        layouts.append((f"packed, {len(packed[0]['input_ids'])} rows × {args.seq}", packed))
    sides = {}  # row label → (warmed-up runner, ours?); each call is one epoch of args.steps steps
    for implementation in args.attention.split(","):
        for layout, batches in layouts:
            runner = ours_epoch(model_config(args, implementation), batches)
            warm_up(runner.call, 1)
            sides[f"bert_jax {implementation}, {layout}"] = (runner, True)
    if not args.no_peer and peer.available():
        batches = padded_batches(ids, types, labels, args.batch, 8, args.seq)
        for mode, runner in peer.warmed_modes(args.peer_modes, lambda mode: peer_epoch(config, batches, dtype, mode),
                                              warmup=1):
            sides[f"HF BertForSequenceClassification sdpa {mode}, padded ×8"] = (runner, False)
    seconds = interleaved_seconds({label: runner.call for label, (runner, _) in sides.items()}, args.repeats)
    rows = []
    for label, (runner, ours) in sides.items():
        runner.check()
        rows.append(report.Timing(label, seconds[label].per(args.steps), args.batch, real // args.steps,
                                  epoch_flops / args.steps, ours=ours))
    report.print_table(rows)
    return 0
