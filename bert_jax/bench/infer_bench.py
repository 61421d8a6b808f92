"""Encoder inference throughput (BertModel forward with pooler, no gradients), ours beside HF (PyTorch).

The same full-length random batch (``--batch`` × ``--seq``, no padding) through both; ours is one jitted
forward (params fp32, compute in the benchmark dtype), the peer runs under torch.inference_mode with bf16
autocast on GPU. Median of ``--repeats`` calls after warm-up.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import flops
from bert_jax.bench import peer, report
from bert_jax.bench.pretrain_bench import add_common_arguments, compute_dtype, model_config
from bert_jax.bench.timing import median_seconds
from bert_jax.convert import init_params
from bert_jax.models.bert import BertModel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, seq=128, batch=128)


def time_ours(config, batch: dict, repeats: int) -> float:
    model = BertModel(config)
    params = init_params(model, jax.random.PRNGKey(0))
    forward = jax.jit(lambda p, b: model.apply({"params": p}, **b).pooled_output)
    device_batch = jax.device_put({k: jnp.asarray(v) for k, v in batch.items()})
    return median_seconds(lambda: jax.block_until_ready(forward(params, device_batch)), repeats, warmup=2)


def time_peer(config, batch: dict, repeats: int, dtype: str, mode: str) -> float:
    import torch
    import transformers

    model = peer.compiled(transformers.BertModel(peer.hf_config(config)).to(peer.device()).eval(), mode)
    tensors = peer.tensors(batch, batch.keys())

    def one():
        with torch.inference_mode(), peer.autocast(dtype):
            model(**tensors)
        peer.synchronize()

    return median_seconds(one, repeats, warmup=3)


def run(args) -> int:
    dtype = compute_dtype(args)
    config = model_config(args)
    rng = np.random.default_rng(0)
    batch = {"input_ids": rng.integers(5, config.vocab_size, (args.batch, args.seq)).astype(np.int32),
             "token_type_ids": np.zeros((args.batch, args.seq), np.int32),
             "attention_mask": np.ones((args.batch, args.seq), np.int32)}
    tokens = args.batch * args.seq
    step_flops = args.batch * flops.encoder_flops_per_sequence(config, args.seq)
    report.header(f"inference: BERT-{args.size} forward, batch {args.batch} × seq {args.seq}", dtype)
    rows = []
    for implementation in args.attention.split(","):
        seconds = time_ours(model_config(args, implementation), batch, args.repeats)
        rows.append(report.Timing(f"bert_jax {implementation}", seconds, args.batch, tokens, step_flops, ours=True))
    if not args.no_peer and peer.available():
        for mode, seconds in peer.time_modes(args.peer_modes, lambda mode: time_peer(
                config, batch, args.repeats, dtype, mode)):
            rows.append(report.Timing(f"HF BertModel sdpa {mode}", seconds, args.batch, tokens, step_flops,
                                      ours=False))
    report.print_table(rows)
    return 0
