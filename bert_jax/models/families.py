"""The BERT family's config.json dialects and published sizes, all read into the one ``BertConfig``.

transformers writes each family's config.json with its own keys: RoBERTa/XLM-R use BERT's, ALBERT adds
``embedding_size`` and layer groups, DistilBERT renames nearly everything (``dim``, ``n_layers``, ...). The
``model_type`` key decides; a config.json without one is BERT (Google's bert_config.json has none). What a family
fixes about the architecture (ALBERT shares its layers, DistilBERT has no token types and no pooler) is set here,
so a config.json cannot describe something transformers would build differently.
"""

from __future__ import annotations

from typing import Any

from bert_jax.models.config import HF_FIELDS, BertConfig

FAMILIES = ("bert", "roberta", "xlm-roberta", "albert", "distilbert")
ROBERTA_LIKE = ("roberta", "xlm-roberta")

# Architecture fields each family fixes (BertConfig field → value); anything else is free.
_FIXED: dict[str, dict[str, Any]] = {
    "bert": dict(embedding_size=None, share_layers=False, use_pooler=True),
    "roberta": dict(embedding_size=None, share_layers=False, use_pooler=True),
    "xlm-roberta": dict(embedding_size=None, share_layers=False, use_pooler=True),
    "albert": dict(share_layers=True, use_pooler=True),
    "distilbert": dict(embedding_size=None, share_layers=False, use_pooler=False, type_vocab_size=0,
                       layer_norm_eps=1e-12),
}

_ARCHITECTURES = {"bert": "BertModel", "roberta": "RobertaModel", "xlm-roberta": "XLMRobertaModel",
                  "albert": "AlbertModel", "distilbert": "DistilBertModel"}

# DistilBERT's config.json key → BertConfig field.
_DISTILBERT_KEYS = {
    "dim": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
    "hidden_dim": "intermediate_size", "activation": "hidden_act", "dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob", "vocab_size": "vocab_size",
    "max_position_embeddings": "max_position_embeddings", "initializer_range": "initializer_range",
    "pad_token_id": "pad_token_id",
}
# Keys of fine-tuning heads (their dropout) and tying that the encoder does not read.
_HEAD_KEYS = {"qa_dropout", "seq_classif_dropout", "tie_weights_", "classifier_dropout_prob"}
# Google's ALBERT code options that the published v1/v2 config.json files carry at their no-op values.
_ALBERT_NOOPS = {"down_scale_factor": 1, "gap_size": 0, "net_structure_type": 0, "num_memory_blocks": 0,
                 "layers_to_keep": []}

_ROBERTA_SIZE = dict(model_type="roberta", vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                     pad_token_id=1, layer_norm_eps=1e-5)
_ALBERT_SIZE = dict(model_type="albert", vocab_size=30000, embedding_size=128, hidden_act="gelu_new",
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, share_layers=True)

FAMILY_PRESETS: dict[str, dict[str, Any]] = {
    # The published checkpoints' sizes (their config.json on the HF hub).
    "roberta-base": dict(_ROBERTA_SIZE, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072),
    "roberta-large": dict(_ROBERTA_SIZE, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                          intermediate_size=4096),
    "albert-base-v2": dict(_ALBERT_SIZE, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072),
    "albert-large-v2": dict(_ALBERT_SIZE, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                            intermediate_size=4096),
    "albert-xlarge-v2": dict(_ALBERT_SIZE, hidden_size=2048, num_hidden_layers=24, num_attention_heads=16,
                             intermediate_size=8192),
    "albert-xxlarge-v2": dict(_ALBERT_SIZE, hidden_size=4096, num_hidden_layers=12, num_attention_heads=64,
                              intermediate_size=16384),
    "distilbert-base": dict(model_type="distilbert", vocab_size=30522, hidden_size=768, num_hidden_layers=6,
                            num_attention_heads=12, intermediate_size=3072, type_vocab_size=0, use_pooler=False),
}


def from_hf_dict(values: dict[str, Any], source: str = "config.json", **overrides) -> BertConfig:
    """An HF config.json's values (any supported family) → BertConfig; ``overrides`` are BertConfig fields."""
    values = dict(values)
    family = values.pop("model_type", None) or "bert"
    if family not in FAMILIES:
        raise ValueError(f"{source}: model_type {family!r} is not supported; bert_jax reads {', '.join(FAMILIES)}")
    for key in _HEAD_KEYS:
        values.pop(key, None)
    if family == "albert":
        for key, noop in _ALBERT_NOOPS.items():
            if values.pop(key, noop) != noop:
                raise ValueError(f"{source}: ALBERT with {key} != {noop!r} is not supported (no published ALBERT "
                                 "uses it)")
        for key in ("num_hidden_groups", "inner_group_num"):
            if values.pop(key, 1) != 1:
                raise ValueError(f"{source}: ALBERT with {key} != 1 is not supported (every published ALBERT "
                                 "shares one layer: num_hidden_groups = inner_group_num = 1)")
    if family == "distilbert":
        if values.pop("sinusoidal_pos_embds", False):
            raise ValueError(f"{source}: DistilBERT with sinusoidal_pos_embds is not supported (the published "
                             "checkpoints learn their positions)")
        values = {_DISTILBERT_KEYS.get(k, k): v for k, v in values.items()}
    fields = {**values, **_FIXED[family], "model_type": family, **overrides}
    return BertConfig.from_dict(fields, source=source)


def to_hf_dict(config: BertConfig, architectures: list[str] | None = None) -> dict[str, Any]:
    """config.json as transformers writes it for ``config.model_type``; a config transformers cannot build
    (e.g. a BERT with shared layers) is an error naming the field."""
    family = config.model_type
    for name, value in _FIXED[family].items():
        if getattr(config, name) != value:
            raise ValueError(f"BertConfig.{name}={getattr(config, name)!r} cannot be written as an HF {family} "
                             f"config.json: transformers' {family} models have {name}={value!r}")
    out = {name: getattr(config, name) for name in HF_FIELDS}
    if config.hidden_act == "gelu" and config.gelu_approximate:
        out["hidden_act"] = "gelu_new"  # HF's name for the tanh form
    if family == "albert":
        out.update(embedding_size=config.embedding_width, num_hidden_groups=1, inner_group_num=1)
    if family in ROBERTA_LIKE:
        out.update(bos_token_id=0, eos_token_id=2)
    if family == "distilbert":
        inverse = {v: k for k, v in _DISTILBERT_KEYS.items()}
        out = {inverse[k]: v for k, v in out.items() if k in inverse}
        out.update(sinusoidal_pos_embds=False, tie_weights_=True)
    out.update(model_type=family, architectures=architectures or [_ARCHITECTURES[family]])
    return out
