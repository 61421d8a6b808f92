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


def adamw(model, lr: float, **kwargs):
    """torch AdamW, fused on GPU (the fastest stock update)."""
    import torch

    return torch.optim.AdamW(model.parameters(), lr=lr, fused=device() == "cuda", **kwargs)


def training_step(model, optimizer, tensors: dict, dtype: str) -> None:
    """Forward (autocast), backward, update; ``tensors`` include the labels, so ``.loss`` is the HF loss."""
    with autocast(dtype):
        loss = model(**tensors).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def warmed_modes(modes: str, build, warmup: int):
    """Yields (mode, runner) for each comma-separated mode, ``build(mode)`` called ``warmup`` times (compile,
    autotuning); a mode that fails there (torch.compile can, on some stacks) is reported and skipped so the
    other rows still print."""
    for mode in modes.split(","):
        try:
            runner = build(mode)
            for _ in range(warmup):
                runner.call()
        except Exception as error:
            print(f"peer {mode} failed: {type(error).__name__}: {str(error)[:300]}")
            continue
        yield mode, runner
