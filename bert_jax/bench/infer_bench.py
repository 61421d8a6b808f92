"""Encoder inference throughput (BertModel forward with pooler, no gradients), ours beside HF (PyTorch).

The same full-length random batch (``--batch`` × ``--seq``, no padding) through both; ours is one jitted
forward (params fp32, compute in the benchmark dtype) compiled as the trainer compiles its evaluation
(``compile_options.forward_only()``), the peer runs under torch.inference_mode with bf16
autocast on GPU. Median of ``--repeats`` calls after warm-up.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import compile_options, flops
from bert_jax.bench import peer, report
from bert_jax.bench.pretrain_bench import add_common_arguments, compute_dtype, model_config
from bert_jax.bench.runners import Runner
from bert_jax.bench.timing import interleaved_seconds, warm_up
from bert_jax.convert import init_params
from bert_jax.models.bert import BertModel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, seq=128, batch=128)


def ours_forward(config, batch: dict) -> Runner:
    """One jitted forward of BertModel + pooler per call."""
    model = BertModel(config)
    params = init_params(model, jax.random.PRNGKey(0))
    forward = jax.jit(lambda p, b: model.apply({"params": p}, **b).pooled_output,
                      compiler_options=compile_options.forward_only())
    device_batch = jax.device_put({k: jnp.asarray(v) for k, v in batch.items()})
    return Runner(lambda: jax.block_until_ready(forward(params, device_batch)),
                  hlo=lambda: forward.lower(params, device_batch).compile().as_text())


def peer_forward(config, batch: dict, dtype: str, mode: str) -> Runner:
    import torch
    import transformers

    model = peer.compiled(transformers.BertModel(peer.hf_config(config)).to(peer.device()).eval(), mode)
    tensors = peer.tensors(batch, batch.keys())

    def call():
        with torch.inference_mode(), peer.autocast(dtype):
            model(**tensors)
        peer.synchronize()

    return Runner(call)


def random_batch(config, batch: int, seq: int) -> dict:
    """Full-length rows of random token ids ≥ 5, one segment."""
    rng = np.random.default_rng(0)
    return {"input_ids": rng.integers(5, config.vocab_size, (batch, seq)).astype(np.int32),
            "token_type_ids": np.zeros((batch, seq), np.int32), "attention_mask": np.ones((batch, seq), np.int32)}


def run(args) -> int:
    dtype = compute_dtype(args)
    config = model_config(args)
    batch = random_batch(config, args.batch, args.seq)
    tokens = args.batch * args.seq
    step_flops = args.batch * flops.encoder_flops_per_sequence(config, args.seq)
    report.header(f"inference: BERT-{args.size} forward, batch {args.batch} × seq {args.seq}", dtype)
    sides = {}  # row label → (warmed-up call, ours?)
    for implementation in args.attention.split(","):
        sides[f"bert_jax {implementation}"] = (warm_up(ours_forward(model_config(args, implementation), batch).call,
                                                       2), True)
    if not args.no_peer and peer.available():
        for mode, runner in peer.warmed_modes(args.peer_modes, lambda mode: peer_forward(config, batch, dtype, mode),
                                              warmup=3):
            sides[f"HF BertModel sdpa {mode}"] = (runner.call, False)
    seconds = interleaved_seconds({label: call for label, (call, _) in sides.items()}, args.repeats)
    report.print_table([report.Timing(label, seconds[label], args.batch, tokens, step_flops, ours=ours)
                        for label, (_, ours) in sides.items()])
    return 0
