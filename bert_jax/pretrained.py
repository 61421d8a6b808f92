"""The one reader of a pretrained directory. Everything else asks ``resolve(path)``.

Layouts it knows, checked in this order:
  - a bert_jax workdir: ``checkpoints/`` (Orbax, the run's params) and ``model/`` (the encoder's HF
    config.json and the tokenizer files), which every run writes (``write_model_dir``);
  - an HF directory: ``config.json`` + ``model.safetensors`` | ``pytorch_model.bin``, tokenizer files beside;
  - a Google TF1 checkpoint directory: ``bert_config.json`` (its "gelu" is the tanh form) + ``bert_model.ckpt.*``
    (needs the `tf` extra), usually with ``vocab.txt``.
Tokenizer file names are data/tokenizer.py's (``tokenizer_file``); tensor names are convert.py's.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import flax.linen as nn
import jax
import numpy as np

from bert_jax.data.tokenizer import Tokenizer, load_tokenizer, tokenizer_file
from bert_jax.io_utils import write_json
from bert_jax.models.config import BertConfig

log = logging.getLogger(__name__)

HF_CONFIG = "config.json"
GOOGLE_CONFIG = "bert_config.json"
WORKDIR_MODEL = "model"  # a workdir's encoder config and tokenizer
WORKDIR_CHECKPOINTS = "checkpoints"


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A resolved pretrained directory: ``layout`` is 'workdir', 'hf' or 'google'."""

    path: str
    layout: str

    @property
    def model_dir(self) -> str:
        """Where the encoder's config and the tokenizer files are."""
        return os.path.join(self.path, WORKDIR_MODEL) if self.layout == "workdir" else self.path

    def model_config(self, **overrides) -> BertConfig:
        """The encoder's BertConfig; ``overrides`` are BertConfig fields to change."""
        if self.layout == "google":
            return BertConfig.from_google_json(os.path.join(self.path, GOOGLE_CONFIG), **overrides)
        return BertConfig.from_json_file(os.path.join(self.model_dir, HF_CONFIG), **overrides)

    @property
    def has_tokenizer(self) -> bool:
        return tokenizer_file(self.model_dir) is not None

    def tokenizer(self, lowercase: bool | None = None) -> Tokenizer:
        return load_tokenizer(self.model_dir, lowercase=lowercase)

    def load_params(self, with_head: bool, mlm_only: bool = False) -> dict:
        """{'bert': encoder params (the source's layer layout), 'head': its MLM+NSP (SOP) heads with
        ``with_head``, its MLM head alone with ``mlm_only``} as host arrays. A workdir gives its run's params:
        'head' is that run's task head."""
        if self.layout == "workdir":
            from bert_jax.checkpoint import Checkpointer

            return Checkpointer(self.path).restore(None)["params"]
        from bert_jax import convert

        config = self.model_config()
        head = ("mlm" if mlm_only else "pretraining") if with_head else None
        _, params = convert.load_weights(self.path, config, head, google=self.layout == "google")
        return params if with_head else {"bert": params}


def resolve(path: str) -> Pretrained:
    """Which layout ``path`` holds; a clear error when it is none of them."""
    if os.path.isdir(os.path.join(path, WORKDIR_CHECKPOINTS)):
        if not os.path.exists(os.path.join(path, WORKDIR_MODEL, HF_CONFIG)):
            raise FileNotFoundError(f"{path}: a bert_jax workdir without {WORKDIR_MODEL}/{HF_CONFIG} (written by "
                                    "every run since its first step); it cannot describe its encoder")
        return Pretrained(path, "workdir")
    if os.path.exists(os.path.join(path, HF_CONFIG)):
        return Pretrained(path, "hf")
    if os.path.exists(os.path.join(path, GOOGLE_CONFIG)):
        return Pretrained(path, "google")
    raise FileNotFoundError(f"{path}: neither an HF directory ({HF_CONFIG}) nor a TF checkpoint ({GOOGLE_CONFIG}) "
                            f"nor a bert_jax workdir ({WORKDIR_CHECKPOINTS}/)")


def from_pretrained(path: str, head: str | nn.Module | None = None, rng: jax.Array | None = None,
                    **config_overrides) -> tuple[nn.Module, dict]:
    """Loads an HF directory or a Google TF1 checkpoint directory.

    Args:
      path: directory with config.json + model.safetensors|pytorch_model.bin, or bert_config.json +
        bert_model.ckpt.* (TF1; needs the `tf` extra; "gelu" there means the tanh form).
      head: None → ``BertModel`` params; 'pretraining' → MLM+NSP heads loaded from ``cls.*`` (required; MLM+SOP
        for ALBERT, MLM alone for RoBERTa and DistilBERT); 'mlm' → the MLM head alone (a *ForMaskedLM);
        a head module → its HF-named tensors are loaded when all are present, else it starts fresh.
      config_overrides: BertConfig fields to change (dtype, scan_layers, remat_policy, ...).
    Returns:
      (model, params) with params unboxed, stacked over layers when ``scan_layers``.
    """
    from bert_jax import convert

    source = resolve(path)
    if source.layout == "workdir":
        raise ValueError(f"{path} is a bert_jax workdir: start a run from it with --config.init_from={path}, or "
                         "export its params with save_pretrained")
    return convert.load_weights(path, source.model_config(**config_overrides), head, source.layout == "google", rng)


def write_model_dir(workdir: str, model_config: BertConfig, tokenizer: Tokenizer | None) -> None:
    """A workdir's ``model/``: the encoder's HF config.json and the tokenizer, so that the workdir can be a
    later run's init_from. Written once: the first run describes the workdir."""
    model_dir = os.path.join(workdir, WORKDIR_MODEL)
    if os.path.exists(os.path.join(model_dir, HF_CONFIG)):
        return
    os.makedirs(model_dir, exist_ok=True)
    if tokenizer is not None:
        tokenizer.save(model_dir)
    write_json(os.path.join(model_dir, HF_CONFIG), model_config.to_hf_dict())


def _key_paths(tree) -> set[str]:
    return {"/".join(str(getattr(k, "key", k)) for k in p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)}


def _layers_like(theirs: dict, ours: dict) -> dict:
    """Encoder params in our layer layout: stacked under encoder/layer (nn.scan) or encoder/layer_i
    (unrolled), whichever layout init_from was saved in."""
    from bert_jax.convert import stack_layers, unstack_layers

    stacked_ours = "layer" in ours.get("encoder", {})
    stacked_theirs = "layer" in theirs.get("encoder", {})
    if stacked_ours and not stacked_theirs:
        return stack_layers(theirs, len(theirs.get("encoder", {})))
    if stacked_theirs and not stacked_ours:
        return unstack_layers(theirs)
    return theirs


def place_like(theirs, ours, what: str):
    """``theirs`` (host arrays, the same tree as ``ours``) as arrays of ``ours``' dtypes on ``ours``'
    shardings, each its own buffer (the train state is donated: two params must never share one); differing
    shapes are an error naming ``what`` and the params."""
    mismatched = [
        f"{'/'.join(str(getattr(k, 'key', k)) for k in p)}: {tuple(np.shape(a))} vs {tuple(b.shape)}"
        for (p, a), b in zip(jax.tree_util.tree_leaves_with_path(theirs), jax.tree_util.tree_leaves(ours),
                             strict=True) if tuple(np.shape(a)) != tuple(b.shape)
    ]
    if mismatched:
        raise ValueError(f"{what} shapes differ from the model's: {mismatched[:5]}")
    return jax.tree_util.tree_map(lambda a, b: jax.device_put(np.array(a, dtype=b.dtype), b.sharding), theirs, ours)


def loaded_parts(with_head: bool) -> tuple[str, ...]:
    """The top-level param subtrees ``load_into`` replaces whole."""
    return ("bert", "head") if with_head else ("bert",)


def load_into(path: str, params: dict, with_head: bool) -> dict:
    """``params`` ({'bert', 'head'}, sharded) with the encoder (and the head, with ``with_head``) of the
    pretrained directory ``path`` put in, on the same shardings; whatever is not loaded keeps its fresh
    initialisation. Another layer layout (nn.scan stacked or unrolled) is converted; another architecture
    is an error naming the params only on one side."""
    source = resolve(path).load_params(with_head)
    parts = loaded_parts(with_head)
    out = dict(params)
    for part in parts:
        if part not in source:
            raise ValueError(f"config.init_from={path} has no '{part}' params (config.init_head={with_head})")
        ours = params[part]
        theirs = _layers_like(source[part], ours) if part == "bert" else source[part]
        only_theirs, only_ours = _key_paths(theirs) - _key_paths(ours), _key_paths(ours) - _key_paths(theirs)
        if only_theirs or only_ours:
            raise ValueError(f"config.init_from={path}: {part} params do not match the model's (another layer "
                             f"count or architecture): only in init_from {sorted(only_theirs)[:5]}, only in the "
                             f"model {sorted(only_ours)[:5]}")
        out[part] = place_like(theirs, ours, f"config.init_from={path}: {part}")
    log.info("init_from %s: loaded %s; %s", path, " and ".join(parts),
             "nothing initialised fresh" if with_head else "head initialised fresh")
    return out
