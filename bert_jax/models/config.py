"""BertConfig: the one encoder config: every field of an HF BERT config.json, the family variants (RoBERTa,
ALBERT, DistilBERT) and bert_jax's compute switches.

Field names and defaults follow HF ``BertConfig`` (bert-base-uncased) so a BERT config.json round-trips; a Google
``bert_config.json`` reads the same way (its "gelu" means the tanh form: see ``from_google_json``). The other
families' config.json keys are translated by models/families.py.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any

import jax
import jax.numpy as jnp

from bert_jax.models.activations import gelu

# HF config.json keys that describe bookkeeping, generation or other frameworks, not the encoder's maths.
_HF_IGNORED_KEYS = frozenset(
    {
        "architectures", "transformers_version", "torch_dtype", "dtype", "_name_or_path",
        "use_cache", "gradient_checkpointing", "classifier_dropout", "id2label", "label2id", "num_labels",
        "finetuning_task", "problem_type", "bos_token_id", "eos_token_id", "sep_token_id", "output_past",
        "is_decoder", "add_cross_attention", "tie_word_embeddings", "output_hidden_states",
        "output_attentions", "return_dict", "directionality", "pooler_fc_size", "pooler_num_attention_heads",
        "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type", "tokenizer_class", "_attn_implementation",
    }
)

_ACTIVATIONS = {
    "gelu": None,  # exact erf form unless gelu_approximate
    "gelu_python": False,
    "gelu_new": True,
    "gelu_pytorch_tanh": True,
    "gelu_fast": True,
    "relu": None,
    "silu": None,
    "swish": None,
}

REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")

PRESETS: dict[str, dict[str, int]] = {
    # Google's compact-model grid (L/H, heads = H/64, FFN = 4H) and the two paper models.
    "tiny": dict(num_hidden_layers=2, hidden_size=128),
    "mini": dict(num_hidden_layers=4, hidden_size=256),
    "small": dict(num_hidden_layers=4, hidden_size=512),
    "medium": dict(num_hidden_layers=8, hidden_size=512),
    "base": dict(num_hidden_layers=12, hidden_size=768),
    "large": dict(num_hidden_layers=24, hidden_size=1024),
    # MiniLM-L6-H384 (all-MiniLM-L6-v2, the checkpoint the tests fine-tune): 12 heads of 32, FFN 1536.
    "minilm-l6": dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536),
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    # --- HF BertConfig fields ---
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    # --- family variants (models/families.py; default = BERT) ---
    # bert | roberta | xlm-roberta | albert | distilbert: decides the HF names (convert.py), the config.json
    # keys (families.py), RoBERTa's positions (counted over non-pad tokens from pad_token_id + 1) and the
    # sentence-level pretraining head (BERT NSP, ALBERT SOP, none for RoBERTa and DistilBERT).
    model_type: str = "bert"
    embedding_size: int | None = None  # ALBERT: embeddings this wide, projected to hidden_size; None = hidden
    share_layers: bool = False  # ALBERT: one layer's params applied num_hidden_layers times
    use_pooler: bool = True  # DistilBERT has none (its classifiers read the first token)
    # type_vocab_size=0: no token-type embeddings (DistilBERT); RoBERTa has 1 (every token type 0).
    # --- bert_jax switches ---
    dtype: str = "float32"  # compute dtype (bfloat16 on accelerators); LayerNorm/softmax stats stay fp32
    param_dtype: str = "float32"
    gelu_approximate: bool = False  # tanh GELU, as Google's TF code computes it
    scan_layers: bool = False  # True: nn.scan over layers (params stacked on a leading `layers` axis)
    remat_policy: str = "none"  # one of REMAT_POLICIES
    attention_implementation: str = "xla"  # see models/attention.py: xla, cudnn (NVIDIA bf16), splash (TPU)
    # Word embeddings as a one-hot matmul instead of a gather (TPUs prefer it for large batches; it costs
    # 2·vocab·hidden FLOPs per token each way). Token types and positions are never gathered: models/bert.py.
    one_hot_word_embeddings: bool = False

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.type_vocab_size, int) or self.type_vocab_size < 0:
            raise ValueError(f"BertConfig.type_vocab_size must be an int >= 0 (0: no token types), "
                             f"got {self.type_vocab_size!r}")
        if self.embedding_size is not None and (not isinstance(self.embedding_size, int) or self.embedding_size <= 0):
            raise ValueError(f"BertConfig.embedding_size must be a positive int or None, got {self.embedding_size!r}")
        from bert_jax.models.families import FAMILIES

        if self.model_type not in FAMILIES:
            raise ValueError(f"BertConfig.model_type={self.model_type!r} is not supported; bert_jax builds "
                             f"{', '.join(FAMILIES)}")
        if self.share_layers and self.scan_layers:
            raise ValueError("BertConfig.share_layers applies one layer's params in a loop; scan_layers (params "
                             "stacked per layer) does not apply: set scan_layers=False")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig.hidden_size={self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"BertConfig.hidden_act={self.hidden_act!r}; expected one of {sorted(_ACTIVATIONS)}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"BertConfig.remat_policy={self.remat_policy!r}; expected one of {REMAT_POLICIES}")
        if self.position_embedding_type != "absolute":
            raise ValueError(
                f"BertConfig.position_embedding_type={self.position_embedding_type!r} is not supported; "
                "BERT uses learned 'absolute' positions"
            )
        for name in ("dtype", "param_dtype"):
            try:
                jnp.dtype(getattr(self, name))
            except TypeError:
                raise ValueError(f"BertConfig.{name}={getattr(self, name)!r} is not a dtype name") from None
        self._check_attention_implementation()

    def _check_attention_implementation(self) -> None:
        from bert_jax.models.attention import FUSED_WITHOUT_DROPOUT, IMPLEMENTATIONS

        name = self.attention_implementation
        if name not in IMPLEMENTATIONS:
            raise ValueError(f"BertConfig.attention_implementation={name!r}; expected one of {sorted(IMPLEMENTATIONS)}")
        if name in FUSED_WITHOUT_DROPOUT and self.attention_probs_dropout_prob > 0:
            raise ValueError(
                f"BertConfig.attention_implementation={name!r} has no attention dropout but "
                f"attention_probs_dropout_prob={self.attention_probs_dropout_prob}; set it to 0.0 "
                "(hidden dropout stays) or use attention_implementation='xla'")
        if name == "cudnn" and jnp.dtype(self.dtype) not in (jnp.bfloat16, jnp.float16):
            raise ValueError(f"BertConfig.attention_implementation='cudnn' needs dtype bfloat16 or float16, "
                             f"got {self.dtype!r}")

    # --- derived values ---
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def embedding_width(self) -> int:
        """Width of the embedding tables: ALBERT's embedding_size, else hidden_size."""
        return self.embedding_size or self.hidden_size

    @property
    def position_offset(self) -> int:
        """Row of position 0: RoBERTa numbers positions from pad_token_id + 1 (fairseq's convention)."""
        return self.pad_token_id + 1 if self.model_type in ("roberta", "xlm-roberta") else 0

    @property
    def sentence_head(self) -> str | None:
        """The sentence-level pretraining objective: 'nsp' (BERT), 'sop' (ALBERT) or None."""
        return {"bert": "nsp", "albert": "sop"}.get(self.model_type)

    @property
    def compute_dtype(self):
        return jnp.dtype(self.dtype)

    @property
    def params_dtype(self):
        return jnp.dtype(self.param_dtype)

    def activation(self):
        """The hidden activation as a JAX function; 'gelu' follows ``gelu_approximate``."""
        approximate = _ACTIVATIONS[self.hidden_act]
        if self.hidden_act in ("relu",):
            return jax.nn.relu
        if self.hidden_act in ("silu", "swish"):
            return jax.nn.silu
        if approximate is None:
            approximate = self.gelu_approximate
        if approximate:
            return lambda x: jax.nn.gelu(x, approximate=True)
        return gelu

    # --- construction ---
    @classmethod
    def preset(cls, name: str, **overrides) -> "BertConfig":
        """Named sizes tiny/mini/small/medium/base/large with heads = H/64 and FFN = 4H (minilm-l6: its own), or
        a published model of another family by its name (roberta-base, albert-base-v2, distilbert-base, ...:
        families.py)."""
        from bert_jax.models.families import FAMILY_PRESETS

        if name in FAMILY_PRESETS:
            return cls.from_dict({**FAMILY_PRESETS[name], **overrides})
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; expected one of {list(PRESETS) + list(FAMILY_PRESETS)}")
        size = dict(PRESETS[name])
        hidden = size["hidden_size"]
        size.setdefault("num_attention_heads", hidden // 64)
        size.setdefault("intermediate_size", 4 * hidden)
        size.update(overrides)
        return cls.from_dict(size)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "BertConfig", ignore_hf_keys: bool = True) -> "BertConfig":
        """Builds a config; unknown keys are an error naming the key (and a close match), HF bookkeeping
        keys (architectures, transformers_version, ...) are ignored when ``ignore_hf_keys``."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key in fields:
                kwargs[key] = value
            elif ignore_hf_keys and key in _HF_IGNORED_KEYS:
                continue
            else:
                close = difflib.get_close_matches(key, sorted(fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{source}: unknown config key {key!r}{hint}")
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str, **overrides) -> "BertConfig":
        """An HF config.json of any supported family (its model_type decides; none means BERT)."""
        from bert_jax.models.families import from_hf_dict

        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object of config keys")
        return from_hf_dict(values, source=path, **overrides)

    @classmethod
    def from_google_json(cls, path: str, **overrides) -> "BertConfig":
        """Google's bert_config.json: its "gelu" is computed with the tanh approximation in modeling.py."""
        overrides.setdefault("gelu_approximate", True)
        return cls.from_json_file(path, **overrides)

    def replace(self, **changes) -> "BertConfig":
        return dataclasses.replace(self, **changes)

    def to_hf_dict(self, architectures: list[str] | None = None) -> dict[str, Any]:
        """config.json as transformers writes it for this family's model."""
        from bert_jax.models.families import to_hf_dict

        return to_hf_dict(self, architectures)


_names = [f.name for f in dataclasses.fields(BertConfig)]
HF_FIELDS = tuple(_names[: _names.index("position_embedding_type") + 1])  # the fields HF's config.json has
