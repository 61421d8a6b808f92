"""Pretraining step throughput of bert_jax beside HF transformers BertForPreTraining (PyTorch), same run.

Both train the same architecture on the same random examples (MLM at 15% of each example's real tokens +
NSP), fp32 on CPU or bf16 on accelerators, with AdamW; the median step time of ``--repeats`` timed steps
after warm-up is reported as examples/s, real tokens/s, MFU (where the device has a known peak) and the
ratio ours/peer. The peer computes MLM logits at every position, as BertForPreTraining does; ours gathers
the masked positions first: that difference is part of what is measured.

``--padding=0.5`` draws example lengths so that about half of a padded batch is padding (BERT phase 2 data
has many short documents); ``--packed`` then feeds ours the same examples packed several to a row while
the peer gets the padded rows, and the comparison is in real tokens/s.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from bert_jax import flops
from bert_jax.bench import peer, report
from bert_jax.bench.runners import ours_train_step, peer_train_step
from bert_jax.bench.timing import interleaved_seconds, warm_up
from bert_jax.data.packing import pack_lengths, pack_rows
from bert_jax.models.bert import BertConfig
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.tasks.pretrain import PretrainingStep


def _peer_modes(text: str) -> str:
    unknown = sorted(set(text.split(",")) - {"eager", "compile"})
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer mode(s) {', '.join(unknown)}; expected eager and/or compile")
    return text


def add_common_arguments(parser: argparse.ArgumentParser, seq: int, batch: int) -> None:
    parser.add_argument("--size", default="base", help="BertConfig preset")
    parser.add_argument("--vocab", type=int, default=0, help="vocab size instead of the preset's (0 = the preset's)")
    parser.add_argument("--seq", type=int, default=seq)
    parser.add_argument("--batch", type=int, default=batch, help="examples per step")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default=None, help="compute dtype; default float32 on CPU, bfloat16 elsewhere")
    parser.add_argument("--attention", default="xla", help="ours: comma-separated attention implementations")
    parser.add_argument("--remat", default="none", help="ours: BertConfig.remat_policy")
    parser.add_argument("--scan", action="store_true", help="ours: nn.scan over layers instead of unrolled layers")
    parser.add_argument("--dropout", type=float, default=None,
                        help="both: hidden (and, for xla, attention) dropout instead of the preset's 0.1")
    parser.add_argument("--prng", default=None, help="ours: jax_default_prng_impl (threefry2x32, rbg, unsafe_rbg)")
    parser.add_argument("--no-peer", action="store_true", help="time bert_jax only")
    parser.add_argument("--peer-modes", default="eager", type=_peer_modes,
                        help="comma-separated: eager, compile (torch.compile)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, seq=128, batch=8)
    parser.add_argument("--padding", type=float, default=0.0, help="expected padding fraction of padded rows")
    parser.add_argument("--packed", action="store_true", help="ours also runs on the examples packed per row")
    parser.add_argument("--only-packed", action="store_true", help="ours runs packed rows only (saves a compile)")


def compute_dtype(args) -> str:
    if args.prng:  # dropout masks are drawn with this key implementation
        jax.config.update("jax_default_prng_impl", args.prng)
    return args.dtype or ("float32" if jax.devices()[0].platform == "cpu" else "bfloat16")


def model_config(args, implementation: str = "xla") -> BertConfig:
    """The preset in the benchmark's dtype. The fused kernels have no attention dropout, so when any of
    them is benchmarked every row (ours and the peer) runs without it, to time the same model."""
    fused = any(name != "xla" for name in args.attention.split(","))
    dropout = {}
    if args.dropout is not None:
        dropout = {"hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout}
    if fused:
        dropout["attention_probs_dropout_prob"] = 0.0
    vocab = {"vocab_size": args.vocab} if getattr(args, "vocab", 0) else {}
    return BertConfig.preset(args.size, dtype=compute_dtype(args), attention_implementation=implementation,
                             remat_policy=args.remat, scan_layers=args.scan, **dropout, **vocab)


def example_lengths(rng: np.random.Generator, n: int, seq: int, padding: float) -> np.ndarray:
    """Lengths uniform on [lo, seq] with mean (1 - padding)·seq (all ``seq`` when padding is 0)."""
    if padding <= 0:
        return np.full(n, seq)
    lo = max(8, int(round(2 * (1 - padding) * seq - seq)))
    return rng.integers(lo, seq + 1, n)


def _examples(config: BertConfig, lengths: np.ndarray, seed: int):
    """Per example: token ids ([CLS] first, ids ≥ 5), token types (second half B) and MLM positions
    (15% of the non-[CLS] tokens, sorted)."""
    rng = np.random.default_rng(seed)
    ids, types, positions = [], [], []
    for length in lengths:
        tokens = rng.integers(5, config.vocab_size, length)
        tokens[0] = 2  # [CLS] of a small vocab; never a prediction
        ids.append(tokens)
        types.append((np.arange(length) >= length // 2).astype(np.int32))
        count = max(1, int(round(0.15 * length)))
        positions.append(np.sort(rng.choice(np.arange(1, length), count, replace=False)))
    return ids, types, positions


def padded_batch(config: BertConfig, lengths: np.ndarray, seq: int, seed: int = 0) -> dict:
    """One row per example, padded to ``seq``: the layout of Google's pretraining data."""
    ids, types, positions = _examples(config, lengths, seed)
    rng = np.random.default_rng(seed + 1)
    predictions = max(len(p) for p in positions)
    batch = {name: np.zeros((len(lengths), width), dtype) for name, width, dtype in (
        ("input_ids", seq, np.int32), ("token_type_ids", seq, np.int32), ("attention_mask", seq, np.int32),
        ("masked_lm_positions", predictions, np.int32), ("masked_lm_ids", predictions, np.int32),
        ("masked_lm_weights", predictions, np.float32))}
    for row, (tokens, token_types, where) in enumerate(zip(ids, types, positions, strict=True)):
        batch["input_ids"][row, :len(tokens)] = tokens
        batch["token_type_ids"][row, :len(tokens)] = token_types
        batch["attention_mask"][row, :len(tokens)] = 1
        batch["masked_lm_positions"][row, :len(where)] = where
        batch["masked_lm_ids"][row, :len(where)] = rng.integers(5, config.vocab_size, len(where))
        batch["masked_lm_weights"][row, :len(where)] = 1.0
    batch["next_sentence_label"] = rng.integers(0, 2, len(lengths)).astype(np.int32)
    return batch


def packed_batch(padded: dict, seq: int, max_per_row: int = 8) -> dict:
    """The examples of ``padded`` packed several to a row (same tokens, MLM targets and NSP labels)."""
    lengths = padded["attention_mask"].sum(1)
    rows = pack_lengths(lengths, seq, max_per_row)
    ids = [padded["input_ids"][i, :n] for i, n in enumerate(lengths)]
    types = [padded["token_type_ids"][i, :n] for i, n in enumerate(lengths)]
    batch = pack_rows(ids, types, rows, seq, max_per_row)
    counts = padded["masked_lm_weights"].sum(1).astype(int)
    predictions = max(sum(counts[i] for i in members) for members in rows)
    for name, dtype in (("masked_lm_positions", np.int32), ("masked_lm_ids", np.int32),
                        ("masked_lm_weights", np.float32)):
        batch[name] = np.zeros((len(rows), predictions), dtype)
    batch["next_sentence_label"] = np.zeros((len(rows), max_per_row), np.int32)
    batch["next_sentence_weights"] = np.zeros((len(rows), max_per_row), np.float32)
    for r, members in enumerate(rows):
        used = 0
        for k, i in enumerate(members):
            n = counts[i]
            batch["masked_lm_positions"][r, used:used + n] = padded["masked_lm_positions"][i, :n] + \
                batch["cls_positions"][r, k]
            batch["masked_lm_ids"][r, used:used + n] = padded["masked_lm_ids"][i, :n]
            batch["masked_lm_weights"][r, used:used + n] = 1.0
            batch["next_sentence_label"][r, k] = padded["next_sentence_label"][i]
            batch["next_sentence_weights"][r, k] = 1.0
            used += n
    del batch["example_index"]
    return batch


def peer_pretraining_model(config: BertConfig):
    import transformers

    return transformers.BertForPreTraining(peer.hf_config(config)).to(peer.device()).train()


def peer_tensors(padded: dict) -> dict:
    import torch

    labels = np.full(padded["input_ids"].shape, -100, np.int64)
    for row in range(len(labels)):
        n = int(padded["masked_lm_weights"][row].sum())
        labels[row, padded["masked_lm_positions"][row, :n]] = padded["masked_lm_ids"][row, :n]
    tensors = peer.tensors(padded, ("input_ids", "token_type_ids", "attention_mask", "next_sentence_label"))
    tensors["labels"] = torch.as_tensor(labels, device=peer.device())
    return tensors


def run(args) -> int:
    dtype = compute_dtype(args)
    config = model_config(args)
    lengths = example_lengths(np.random.default_rng(0), args.batch, args.seq, args.padding)
    padded = padded_batch(config, lengths, args.seq)
    real = int(lengths.sum())
    step_flops = sum(flops.pretraining_flops_per_sequence(config, int(n), max(1, int(round(0.15 * n))))
                     for n in lengths)
    report.header(f"pretraining step: BERT-{args.size}, {args.batch} examples × seq {args.seq} "
                  f"({100 * (1 - real / (args.batch * args.seq)):.0f}% padding when padded)", dtype)
    layouts = [] if args.only_packed else [("padded", padded)]
    if args.packed or args.only_packed:
        packed = packed_batch(padded, args.seq)
        layouts.append((f"packed into {len(packed['input_ids'])} rows", packed))
    sides = {}  # row label → (warmed-up runner, ours?)
    for implementation in args.attention.split(","):
        model = BertWithHead(model_config(args, implementation), PretrainingHeads(config))
        for layout, batch in layouts:
            runner = ours_train_step(model, PretrainingStep(), [batch])
            warm_up(runner.call, 2)  # the first call compiles
            sides[f"bert_jax {implementation}, {layout}"] = (runner, True)
    if not args.no_peer and peer.available():
        model, tensors = peer_pretraining_model(config), [peer_tensors(padded)]
        for mode, runner in peer.warmed_modes(args.peer_modes, lambda mode: peer_train_step(
                peer.compiled(model, mode), tensors, dtype, eps=1e-6, weight_decay=0.01), warmup=3):
            sides[f"HF BertForPreTraining sdpa {mode}, padded"] = (runner, False)  # compile + autotune in warm-up
    seconds = interleaved_seconds({label: runner.call for label, (runner, _) in sides.items()}, args.repeats)
    rows = []
    for label, (runner, ours) in sides.items():
        runner.check()
        rows.append(report.Timing(label, seconds[label].per(runner.steps), args.batch, real, step_flops, ours=ours))
    report.print_table(rows)
    return 0
