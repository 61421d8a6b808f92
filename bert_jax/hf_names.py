"""Param names: bert_jax param paths ⇄ HF state-dict names of each family, and Google TF1 variable names.

Our param tree follows HF's BERT module names, so a path maps to a BERT name by one rule (``bert_name``); the
other families' names are a table over the BERT names (``family_name``): RoBERTa renames only its MLM head,
ALBERT its one shared layer and heads, DistilBERT nearly everything. Encoder names carry no model prefix here
(``bert.``, ``roberta.``, ...): readers strip it (``strip_model_prefix``) and writers add ``model_prefix``.
"""

from __future__ import annotations

import re

_LEAF_TO_HF = {"kernel": "weight", "embedding": "weight", "scale": "weight", "bias": "bias"}
_TF_SPECIAL = {
    "cls.predictions.bias": "cls/predictions/output_bias",
    "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",  # [2, H], HF's orientation
    "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
}
_MODEL_PREFIX = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.", "albert": "albert.",
                 "distilbert": "distilbert."}

# Per family: the module of a layer (BERT's encoder.layer.{i} → ...) and its submodules' names.
_LAYER_MODULE = {"albert": "encoder.albert_layer_groups.0.albert_layers.0", "distilbert": "transformer.layer.{i}"}
_LAYER_PARTS = {
    "albert": {
        "attention.self.query": "attention.query", "attention.self.key": "attention.key",
        "attention.self.value": "attention.value", "attention.output.dense": "attention.dense",
        "attention.output.LayerNorm": "attention.LayerNorm", "intermediate.dense": "ffn",
        "output.dense": "ffn_output", "output.LayerNorm": "full_layer_layer_norm",
    },
    "distilbert": {
        "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
        "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
        "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
        "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
    },
}
# Other modules: BERT name (without the leaf) → the family's.
_MODULES = {
    "roberta": {"cls.predictions.transform.dense": "lm_head.dense",
                "cls.predictions.transform.LayerNorm": "lm_head.layer_norm", "cls.predictions": "lm_head"},
    "albert": {"pooler.dense": "pooler", "cls.predictions.transform.dense": "predictions.dense",
               "cls.predictions.transform.LayerNorm": "predictions.LayerNorm", "cls.predictions": "predictions",
               "cls.seq_relationship": "sop_classifier.classifier"},
    "distilbert": {"cls.predictions.transform.dense": "vocab_transform",
                   "cls.predictions.transform.LayerNorm": "vocab_layer_norm", "cls.predictions": "vocab_projector"},
}
_MODULES["xlm-roberta"] = _MODULES["roberta"]
# The tied MLM decoder as each family stores it (rebuilt from the word embeddings, never read as a param).
DECODER = {"bert": "cls.predictions.decoder", "roberta": "lm_head.decoder", "xlm-roberta": "lm_head.decoder",
           "albert": "predictions.decoder", "distilbert": "vocab_projector"}


def bert_name(path: tuple[str, ...]) -> str:
    """Unstacked param path → HF BERT name, e.g. ('encoder', 'layer_3', 'output', 'dense', 'kernel') →
    'encoder.layer.3.output.dense.weight'. Encoder names carry no 'bert.' prefix here."""
    *modules, leaf = path
    modules = [f"layer.{m[len('layer_'):]}" if re.fullmatch(r"layer_\d+", m) else m for m in modules]
    return ".".join(modules + [_LEAF_TO_HF[leaf]])


def family_name(name: str, family: str) -> str:
    """An HF BERT name (heads under 'cls.', encoder unprefixed) → the same tensor's name in ``family``."""
    if family == "bert":
        return name
    module, leaf = name.rsplit(".", 1)
    layer = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)", module)
    if layer and family in _LAYER_MODULE:
        parts = _LAYER_PARTS[family]
        return f"{_LAYER_MODULE[family].format(i=layer.group(1))}.{parts.get(layer.group(2), layer.group(2))}.{leaf}"
    return f"{_MODULES.get(family, {}).get(module, module)}.{leaf}"


def hf_name(path: tuple[str, ...], family: str = "bert", prefix: str = "") -> str:
    """Unstacked param path (under ``prefix``: 'cls.' for pretraining heads) → ``family``'s HF name."""
    return family_name(prefix + bert_name(path), family)


def model_prefix(family: str) -> str:
    """The encoder's prefix in a with-head state dict: 'bert.', 'roberta.', 'albert.', 'distilbert.'."""
    return _MODEL_PREFIX[family]


def strip_model_prefix(key: str) -> str:
    for prefix in set(_MODEL_PREFIX.values()):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def tf_name(name: str) -> str:
    """HF BERT name (with 'bert.' for encoder tensors) → Google TF1 variable name."""
    if name in _TF_SPECIAL:
        return _TF_SPECIAL[name]
    *modules, leaf = re.sub(r"layer\.(\d+)", r"layer_\1", name).split(".")
    if modules[-1] == "LayerNorm":
        leaf = {"weight": "gamma", "bias": "beta"}[leaf]
    elif modules[-1].endswith("_embeddings"):
        return "/".join(modules)
    elif leaf == "weight":
        leaf = "kernel"
    return "/".join(modules + [leaf])


def head_prefix(head_params: dict) -> str:
    """HF's BertForPreTraining keeps its heads under 'cls.'; fine-tuning heads sit at the top level."""
    return "cls." if "predictions" in head_params or "seq_relationship" in head_params else ""
