"""Pretraining step throughput of bert_jax beside HF transformers BertForPreTraining (PyTorch), same run.

Both train the same architecture on the same random batch (MLM at 15% of positions + NSP), fp32 on CPU
or bf16 on accelerators, with AdamW; the median step time of ``--repeats`` timed steps after warm-up is
reported as sequences/s, tokens/s, MFU (where the device has a known peak) and the ratio ours/peer.
The peer computes MLM logits at every position, as BertForPreTraining does; ours gathers the masked
positions first: that difference is part of what is measured.
"""

from __future__ import annotations

import argparse
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import flops
from bert_jax.bench.timing import median_seconds
from bert_jax.models.bert import BertConfig
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.optim import create_optimizer
from bert_jax.step import create_state, train_step
from bert_jax.tasks.pretrain import pretraining_inputs, pretraining_loss


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="base", help="BertConfig preset")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default=None, help="compute dtype; default float32 on CPU, bfloat16 elsewhere")
    parser.add_argument("--no-peer", action="store_true", help="time bert_jax only")
    parser.add_argument("--torch-compile", action="store_true", help="torch.compile the peer's model")


def _batch(config: BertConfig, batch: int, seq: int, predictions: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    positions = np.sort(np.stack([rng.choice(np.arange(1, seq), predictions, replace=False) for _ in range(batch)]), 1)
    return {
        "input_ids": rng.integers(5, config.vocab_size, (batch, seq)).astype(np.int32),
        "token_type_ids": (np.arange(seq)[None] >= seq // 2).astype(np.int32).repeat(batch, 0),
        "attention_mask": np.ones((batch, seq), np.int32),
        "masked_lm_positions": positions.astype(np.int32),
        "masked_lm_ids": rng.integers(5, config.vocab_size, (batch, predictions)).astype(np.int32),
        "masked_lm_weights": np.ones((batch, predictions), np.float32),
        "next_sentence_label": rng.integers(0, 2, batch).astype(np.int32),
    }


class _LossOnly:
    """The pretraining task's loss and inputs, without its data preparation."""

    inputs = staticmethod(pretraining_inputs)
    loss = staticmethod(pretraining_loss)


def time_ours(config: BertConfig, batch: dict, repeats: int) -> float:
    model = BertWithHead(config, PretrainingHeads(config))
    tx = create_optimizer("adamw", 1e-4)
    task = _LossOnly()
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.jit(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)))(
        jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    device_batch = jax.device_put({k: jnp.asarray(v) for k, v in batch.items()})
    holder = {"state": state}

    def one():
        holder["state"], metrics = step(holder["state"], device_batch)
        jax.block_until_ready(metrics["loss"])

    return median_seconds(one, repeats, warmup=2)  # the first call compiles


def time_peer(config: BertConfig, batch: dict, repeats: int, dtype: str, compile_model: bool) -> float:
    import torch
    import transformers

    device = "cuda" if torch.cuda.is_available() else "cpu"
    hf_config = transformers.BertConfig(**{k: getattr(config, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
        "type_vocab_size", "initializer_range", "layer_norm_eps")}, attn_implementation="sdpa")
    model = transformers.BertForPreTraining(hf_config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01,
                                  fused=device == "cuda")
    forward = torch.compile(model) if compile_model else model
    labels = np.full(batch["input_ids"].shape, -100, np.int64)
    np.put_along_axis(labels, batch["masked_lm_positions"].astype(np.int64), batch["masked_lm_ids"], axis=1)
    tensors = {
        "input_ids": torch.tensor(batch["input_ids"], dtype=torch.long, device=device),
        "token_type_ids": torch.tensor(batch["token_type_ids"], dtype=torch.long, device=device),
        "attention_mask": torch.tensor(batch["attention_mask"], dtype=torch.long, device=device),
        "labels": torch.tensor(labels, device=device),
        "next_sentence_label": torch.tensor(batch["next_sentence_label"], dtype=torch.long, device=device),
    }
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def one():
        with autocast:
            loss = forward(**tensors).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    return median_seconds(one, repeats, warmup=2)  # the first call compiles


def run(args) -> int:
    on_cpu = jax.devices()[0].platform == "cpu"
    dtype = args.dtype or ("float32" if on_cpu else "bfloat16")
    config = BertConfig.preset(args.size, dtype=dtype)
    predictions = max(1, int(round(args.seq * 0.15)))
    batch = _batch(config, args.batch, args.seq, predictions)
    flops_per_step = args.batch * flops.pretraining_flops_per_sequence(config, args.seq, predictions)
    kind = jax.devices()[0].device_kind
    print(f"pretraining step: BERT-{args.size}, batch {args.batch} × seq {args.seq}, {predictions} predictions/seq, "
          f"{dtype}, {jax.device_count()} × {kind}, jax {jax.__version__}")
    rows = [("bert_jax (jax.jit, gathered MLM)", time_ours(config, batch, args.repeats))]
    if not args.no_peer:
        try:
            import torch

            torch.set_num_threads(max(1, torch.get_num_threads()))
            rows.append((f"HF BertForPreTraining (torch {torch.__version__}, sdpa"
                         f"{', compiled' if args.torch_compile else ''})",
                         time_peer(config, batch, args.repeats, dtype, args.torch_compile)))
        except ImportError:
            print("torch/transformers not installed: no peer")
    tokens = args.batch * args.seq
    print(f"{'':52s} {'step s':>8s} {'seq/s':>8s} {'tokens/s':>10s} {'MFU':>6s}")
    for name, seconds in rows:
        utilisation = flops.mfu(flops_per_step, seconds, 1, kind)
        mfu_text = f"{100 * utilisation:5.1f}%" if utilisation is not None else "   n/a"
        print(f"{name:52s} {seconds:8.3f} {args.batch / seconds:8.2f} {tokens / seconds:10.0f} {mfu_text}")
    if len(rows) == 2:
        print(f"ratio ours/peer (tokens/s): {rows[1][1] / rows[0][1]:.2f}x")
    return 0
