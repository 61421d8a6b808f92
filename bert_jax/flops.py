"""Analytic model FLOPs and device peaks → model FLOPs utilisation (MFU).

Counts matrix multiplies only (2·m·n·k each), as MFU is defined (PaLM appendix B; levanter's
flop_utils): elementwise work, softmax and LayerNorm are not "model FLOPs". Training = 3× forward
(backward costs two forward passes).
"""

from __future__ import annotations

from bert_jax.models.config import BertConfig

# Dense bf16 peak FLOP/s per chip from vendor datasheets (no sparsity). Keys are matched in order
# against jax's device_kind, case-insensitively.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("h200", 989e12),
    ("h100", 989e12),  # SXM; the PCIe card is 756e12
    ("a100", 312e12),
    ("tpu v6 lite", 918e12),  # v6e
    ("tpu v5 lite", 197e12),  # v5e
    ("tpu v5p", 459e12),
    ("tpu v5", 459e12),  # v5p reports itself as "TPU v5"
    ("tpu v4", 275e12),
)


def encoder_flops_per_token(config: BertConfig, seq_len: int) -> float:
    """Forward matmul FLOPs per token of the encoder: projections, FFN and the two attention matmuls."""
    H, inner, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    projections = 2 * 4 * H * H  # query, key, value, attention output
    ffn = 2 * 2 * H * inner
    attention = 2 * 2 * seq_len * H  # q·kᵀ and probs·v, every head together
    E = config.embedding_width  # ALBERT projects its E-wide embeddings to H first (shared layers cost the same)
    return L * (projections + ffn + attention) + (2 * E * H if E != H else 0)


def encoder_flops_per_sequence(config: BertConfig, length: int) -> float:
    """Forward matmul FLOPs of the encoder on one example of ``length`` real tokens (no padding)."""
    return length * encoder_flops_per_token(config, length)


def pretraining_flops_per_sequence(config: BertConfig, seq_len: int, num_predictions: int,
                                   training: bool = True) -> float:
    """Model FLOPs for one sequence of a pretraining step: encoder on every position, pooler + NSP (or SOP;
    none for RoBERTa and DistilBERT), and the MLM head (transform to the embedding width E + tied decoder)
    only at the ``num_predictions`` gathered positions."""
    H, V, E = config.hidden_size, config.vocab_size, config.embedding_width
    forward = seq_len * encoder_flops_per_token(config, seq_len)
    if config.sentence_head:
        forward += 2 * H * H + 2 * H * 2  # pooler, NSP / SOP
    forward += num_predictions * (2 * H * E + 2 * E * V)
    return 3 * forward if training else forward


def peak_flops(device_kind: str) -> float | None:
    """bf16 dense peak of one device, or None where no meaningful peak is known (CPU)."""
    kind = device_kind.lower()
    for key, value in PEAK_BF16_FLOPS:
        if key in kind:
            return value
    return None


def mfu(flops_per_step: float, step_seconds: float, num_devices: int, device_kind: str) -> float | None:
    """Model FLOPs utilisation in [0, 1], or None on devices without a peak (CPU)."""
    peak = peak_flops(device_kind)
    if peak is None or step_seconds <= 0:
        return None
    return flops_per_step / (step_seconds * num_devices * peak)
