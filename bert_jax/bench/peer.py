"""The peer every benchmark runs beside ours: HF transformers (PyTorch) with SDPA attention, bf16
autocast on GPU, fused AdamW, and torch.compile where asked and where it works."""

from __future__ import annotations

import contextlib

from bert_jax.models.config import BertConfig

SHARED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
                 "type_vocab_size", "initializer_range", "layer_norm_eps")


def available() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def hf_config(config: BertConfig, **extra):
    """The same architecture as ``config`` for transformers, SDPA attention."""
    import transformers

    return transformers.BertConfig(**{k: getattr(config, k) for k in SHARED_FIELDS}, attn_implementation="sdpa",
                                   **extra)


def autocast(dtype: str):
    """bf16 autocast on GPU when ``dtype`` is bfloat16 (params stay fp32, as ours); nothing otherwise."""
    import torch

    if dtype != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(device(), dtype=torch.bfloat16)


def compiled(model, mode: str):
    """``mode``: 'eager' or 'compile' (torch.compile, dynamic shapes allowed)."""
    import torch

    return torch.compile(model, dynamic=None) if mode == "compile" else model


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def tensors(batch: dict, names) -> dict:
    """numpy → torch long tensors on the peer's device."""
    import torch

    return {name: torch.as_tensor(batch[name], dtype=torch.long, device=device()) for name in names}
