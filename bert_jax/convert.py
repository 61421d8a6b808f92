"""Checkpoint interop: HF (safetensors / pytorch_model.bin; BERT, RoBERTa, ALBERT, DistilBERT) ⇄ bert_jax,
Google TF1 checkpoint → bert_jax.

hf_names.py maps our param paths to each family's HF state-dict names (and Google's TF variable names).
Values convert by one rule: a ``kernel`` is HF's ``weight`` transposed and reshaped to our [in..., out...]
layout; everything else is a reshape.
"""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Any, Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import hf_names, io_utils
from bert_jax.models.bert import BertConfig, BertModel
from bert_jax.models.heads import BertWithHead, PretrainingHeads

log = logging.getLogger(__name__)

Params = dict[str, Any]
NameOf = Callable[[tuple], str]  # unstacked param path → HF tensor name
# Buffers a checkpoint may carry that are not params.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def encoder_names(family: str, prefix: str = "") -> NameOf:
    """Encoder param path → ``family``'s HF name, after ``prefix`` (the model prefix in a with-head dict)."""
    return lambda path: prefix + hf_names.hf_name(path, family)


def head_names(family: str, head_params: Params) -> NameOf:
    """Head param path → ``family``'s HF name (pretraining heads sit under BERT's 'cls.')."""
    prefix = hf_names.head_prefix(head_params)
    return lambda path: hf_names.hf_name(path, family, prefix)


# ------------------------------------------------------------------------------------ layer stacking
def unstack_layers(encoder: Params) -> Params:
    """{'encoder': {'layer': stacked}} → {'encoder': {'layer_0': ..., ...}}; other keys untouched."""
    if "layer" not in encoder.get("encoder", {}):
        return encoder
    stacked = encoder["encoder"]["layer"]
    n = jax.tree_util.tree_leaves(stacked)[0].shape[0]
    layers = {f"layer_{i}": jax.tree_util.tree_map(lambda a, i=i: a[i], stacked) for i in range(n)}
    return {**encoder, "encoder": layers}


def stack_layers(encoder: Params, num_layers: int) -> Params:
    layers = [encoder["encoder"][f"layer_{i}"] for i in range(num_layers)]
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *layers)
    return {**encoder, "encoder": {"layer": stacked}}


# -------------------------------------------------------------------------------- value conversion
def _leaves(tree: Params, prefix: tuple = ()) -> Iterator[tuple[tuple[str, ...], Any, Params]]:
    """(path, leaf, parent dict) for every leaf of a nested dict."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value, tree


def _num_in_axes(leaf_name: str, shape: tuple, parent: Params) -> int:
    """Kernels are [in..., out...]; the sibling bias has the out axes, so the rest are inputs."""
    if leaf_name != "kernel":
        return 0
    return len(shape) - len(np.shape(parent["bias"]))


def _hf_shape(leaf_name: str, shape: tuple, n_in: int) -> tuple:
    """HF's shape: Linear weights [out, in]; embedding tables as ours; vectors flat."""
    if n_in:
        return (math.prod(shape[n_in:]), math.prod(shape[:n_in]))
    return tuple(shape) if leaf_name == "embedding" else (math.prod(shape),)


def to_hf_tensors(tree: Params, name_of: NameOf) -> dict[str, np.ndarray]:
    """Unstacked param tree → {HF name: array in HF layout}."""
    out = {}
    for path, value, parent in _leaves(tree):
        value = np.asarray(value, dtype=np.float32)
        n_in = _num_in_axes(path[-1], value.shape, parent)
        if n_in:  # [in..., out...] → HF's [out, in]
            hf = value.reshape(math.prod(value.shape[:n_in]), -1).T
        else:
            hf = value.reshape(_hf_shape(path[-1], value.shape, 0))
        out[name_of(path)] = hf
    return out


class MissingTensorError(KeyError):
    def __str__(self) -> str:  # KeyError would print the repr, newlines escaped
        return str(self.args[0])


def from_hf_tensors(template: Params, fetch: Callable[[str], np.ndarray | None], describe: Callable[[str], str],
                    name_of: NameOf, dtype) -> Params:
    """Fills an unstacked template (arrays or ShapeDtypeStructs in our layout) from HF-named tensors.

    Raises with the tensor's name and both shapes on a mismatch, and lists the missing tensors.
    """
    result: Params = {}
    missing = []
    for path, leaf, parent in _leaves(template):
        name = name_of(path)
        shape = tuple(leaf.shape)
        n_in = _num_in_axes(path[-1], shape, parent)
        value = fetch(name)
        if value is None:
            missing.append(f"{describe(name)} is missing (needed for param {'/'.join(path)})")
            continue
        want = _hf_shape(path[-1], shape, n_in)
        if tuple(value.shape) != want:
            raise ValueError(
                f"{describe(name)} has shape {tuple(value.shape)}, expected {want} "
                f"(param {'/'.join(path)} of shape {shape} from the model config)"
            )
        value = np.asarray(value, dtype=np.float32)
        converted = value.T.reshape(shape) if n_in else value.reshape(shape)
        node = result
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = converted.astype(dtype)
    if missing:
        more = f"\n... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise MissingTensorError(f"{len(missing)} tensors missing:\n" + "\n".join(missing[:10]) + more)
    return result


# --------------------------------------------------------------------------------- reading sources
class TensorSource:
    """HF-named tensors from a checkpoint, normalised: no model prefix ('bert.', 'roberta.', ...), LayerNorm
    gamma/beta → weight/bias."""

    def __init__(self, location: str, tensors: dict[str, np.ndarray], display: Callable[[str], str] | None = None):
        self.location = location
        self.tensors = tensors
        self._display = display or (lambda name: f"tensor {name!r}")
        self.used: set[str] = set()

    def fetch(self, name: str) -> np.ndarray | None:
        value = self.tensors.get(name)
        if value is not None:
            self.used.add(name)
        return value

    def describe(self, name: str) -> str:
        return f"{self._display(name)} in {self.location}"

    def has_any(self, prefix: str) -> bool:
        return any(k.startswith(prefix) for k in self.tensors)

    def unused(self, derived: tuple[str, ...] = ()) -> list[str]:
        """Tensors nothing read, other than buffers and ``derived`` ones (the tied decoder)."""
        return sorted(k for k in self.tensors if k not in self.used and k not in _BUFFERS + derived)


def _normalise_hf_key(key: str) -> str:
    key = hf_names.strip_model_prefix(key)
    key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
    return re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)


def read_hf_tensors(directory: str) -> TensorSource:
    """model.safetensors (preferred) or pytorch_model.bin from an HF model directory."""
    st_path = os.path.join(directory, "model.safetensors")
    pt_path = os.path.join(directory, "pytorch_model.bin")
    if os.path.exists(st_path):
        from safetensors.numpy import load_file

        raw, location = load_file(st_path), st_path
    elif os.path.exists(pt_path):
        try:
            import torch
        except ImportError:
            raise ImportError(f"{pt_path} is a PyTorch pickle; reading it needs torch (pip install torch)") from None
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
        raw, location = {k: v.float().numpy() for k, v in state.items()}, pt_path
    else:
        raise FileNotFoundError(f"{directory}: no model.safetensors or pytorch_model.bin")
    return TensorSource(location, {_normalise_hf_key(k): np.asarray(v) for k, v in raw.items()})


def read_tf_tensors(checkpoint_prefix: str, wanted_hf_names: list[str]) -> TensorSource:
    """Google TF1 checkpoint → HF-named tensors (kernels transposed to HF's [out, in])."""
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError("reading a TF checkpoint needs TensorFlow: pip install 'bert_jax[tf]'") from None
    reader = tf.train.load_checkpoint(checkpoint_prefix)
    available = reader.get_variable_to_shape_map()
    tensors = {}
    def full_tf_name(hf: str) -> str:  # encoder names live under bert/ in TF, heads under cls/
        return hf_names.tf_name(hf if hf.startswith("cls.") else f"bert.{hf}")

    for hf in wanted_hf_names:
        name = full_tf_name(hf)
        if name in available:
            value = reader.get_tensor(name)
            tensors[hf] = value.T if name.endswith("/kernel") else value
    return TensorSource(checkpoint_prefix, tensors, lambda hf: f"TF variable {full_tf_name(hf)!r}")


# ----------------------------------------------------------------------------------------- public API
def _find_tf_checkpoint(path: str) -> str | None:
    for name in ("bert_model.ckpt", "model.ckpt"):
        if os.path.exists(os.path.join(path, name + ".index")):
            return os.path.join(path, name)
    latest = os.path.join(path, "checkpoint")
    if os.path.exists(latest):
        match = re.search(r'model_checkpoint_path:\s*"([^"]+)"', open(latest).read())
        if match:
            return os.path.join(path, match.group(1))
    return None


def build_model(config: BertConfig, head: str | nn.Module | None) -> nn.Module:
    if head is None:
        return BertModel(config)
    if head == "pretraining":
        return BertWithHead(config, PretrainingHeads(config))
    if head == "mlm":
        return BertWithHead(config, PretrainingHeads(config, with_sentence_head=False))
    if isinstance(head, nn.Module):
        return BertWithHead(config, head)
    raise ValueError(f"head must be None, 'pretraining', 'mlm' or a head module, got {head!r}")


def init_params(model: nn.Module, rng: jax.Array, seq_len: int = 8, **call_kwargs) -> Params:
    """Fresh, unboxed params for ``model``: {'embeddings', ...} or {'bert': ..., 'head': ...}."""
    ids = jnp.zeros((1, seq_len), jnp.int32)
    return nn.unbox(jax.jit(lambda r: model.init(r, ids, **call_kwargs))(rng))["params"]


def param_shapes(model: nn.Module, rng: jax.Array, seq_len: int = 8, **call_kwargs) -> Params:
    """``init_params``' tree as ShapeDtypeStructs, traced but not compiled."""
    ids = jnp.zeros((1, seq_len), jnp.int32)
    return jax.eval_shape(lambda r: nn.unbox(model.init(r, ids, **call_kwargs))["params"], rng)


def load_weights(path: str, config: BertConfig, head: str | nn.Module | None = None, google: bool = False,
                 rng: jax.Array | None = None) -> tuple[nn.Module, Params]:
    """The tensors of an HF directory (``google=False``) or a Google TF1 checkpoint directory as bert_jax
    params of ``config`` (pretrained.from_pretrained has the arguments' meaning)."""
    if google:
        prefix = _find_tf_checkpoint(path)
        if prefix is None:
            raise FileNotFoundError(f"{path}: bert_config.json but no bert_model.ckpt.index or 'checkpoint' file")
        source = None  # read below, once we know which names to ask for
    else:
        source = read_hf_tensors(path)

    model = build_model(config, head)
    flat_model = build_model(config.replace(scan_layers=False), head)
    call_kwargs = {"masked_positions": jnp.zeros((1, 1), jnp.int32)} if head in ("pretraining", "mlm") else {}
    rng = rng if rng is not None else jax.random.PRNGKey(0)
    # Shapes only: an initialisation is compiled (seconds for a BERT on CPU) only when something starts fresh.
    template = param_shapes(flat_model, rng, **call_kwargs)
    encoder_template = template.get("bert", template)
    head_template = template.get("head")

    initialised: list[Params] = []

    def fresh(part: str | None) -> Params:
        if not initialised:
            initialised.append(init_params(flat_model, rng, **call_kwargs))
        return initialised[0] if part is None else initialised[0][part]

    family = config.model_type
    if source is None:
        wanted = [hf_names.bert_name(p) for p, _, _ in _leaves(encoder_template)]
        if head_template is not None:
            wanted += [head_names("bert", head_template)(p) for p, _, _ in _leaves(head_template)]
        source = read_tf_tensors(prefix, wanted)

    dtype = config.params_dtype
    pooler_absent = _pooler_absent(encoder_template, source, family)
    if pooler_absent:
        encoder_template = {k: v for k, v in encoder_template.items() if k != "pooler"}
    encoder = from_hf_tensors(encoder_template, source.fetch, source.describe, encoder_names(family), dtype)
    if pooler_absent:
        pooler = fresh("bert" if head_template is not None else None)["pooler"]
        encoder["pooler"] = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), pooler)
    decoder = hf_names.DECODER[family]
    _check_tied_decoder(source, encoder, decoder + ".weight")
    params: Params = encoder
    if head_template is not None:
        head_params = _load_head(head_template, source, head in ("pretraining", "mlm"), dtype, family,
                                 lambda: fresh("head"))
        params = {"bert": encoder, "head": head_params}
    if config.scan_layers:
        params = _map_encoder(params, lambda enc: stack_layers(enc, config.num_hidden_layers))
    unused = source.unused((decoder + ".weight", decoder + ".bias"))
    if unused:
        log.info("%s: %d tensors not used: %s", source.location, len(unused), ", ".join(unused[:20]))
    return model, jax.tree_util.tree_map(jnp.asarray, params)


def _pooler_absent(encoder_template: Params, source: TensorSource, family: str) -> bool:
    """Whether the model has a pooler and the checkpoint none (a masked-LM model: RobertaForMaskedLM,
    BertForMaskedLM save no pooler); it then starts fresh, as transformers does. Nothing else may be missing."""
    pooler = encoder_template.get("pooler")
    if pooler is None:
        return False
    names = [encoder_names(family)(("pooler", *p)) for p, _, _ in _leaves(pooler)]
    if any(source.tensors.get(n) is not None for n in names):
        return False
    log.warning("%s has no pooler (%s): it starts fresh; fine-tuning heads on [CLS] train it", source.location,
                ", ".join(names))
    return True


def _load_head(template: Params, source: TensorSource, required: bool, dtype, family: str,
               fresh: Callable[[], Params]) -> Params:
    name_of = head_names(family, template)
    names = [name_of(p) for p, _, _ in _leaves(template)]
    present = [n for n in names if source.tensors.get(n) is not None]
    if required or len(present) == len(names):
        log.info("loading head tensors %s from %s", names, source.location)
        return from_hf_tensors(template, source.fetch, source.describe, name_of, dtype)
    log.info("head tensors %s not all in %s: head starts fresh", names, source.location)
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), fresh())


def _check_tied_decoder(source: TensorSource, encoder: Params, decoder_name: str) -> None:
    decoder = source.tensors.get(decoder_name)
    if decoder is not None and not np.allclose(decoder, encoder["embeddings"]["word_embeddings"]["embedding"]):
        raise ValueError(
            f"{source.location}: {decoder_name} differs from the word embeddings; "
            "bert_jax ties the MLM decoder to them (as BERT does) and cannot load an untied decoder"
        )


def _map_encoder(params: Params, fn: Callable[[Params], Params]) -> Params:
    if "bert" in params:
        return {**params, "bert": fn(params["bert"])}
    return fn(params)


def hf_state_dict(params: Params, family: str = "bert") -> dict[str, np.ndarray]:
    """Our params (either layout, boxed or not) → ``family``'s HF state dict. With a head, encoder names get
    the model prefix ('bert.', 'roberta.', ...)."""
    params = jax.tree_util.tree_map(np.asarray, nn.unbox(params))
    params = _map_encoder(params, unstack_layers)
    if "bert" not in params:
        return to_hf_tensors(params, encoder_names(family))
    prefix = hf_names.model_prefix(family)
    out = to_hf_tensors(params["bert"], encoder_names(family, prefix))
    head = params.get("head", {})
    out.update(to_hf_tensors(head, head_names(family, head)))
    bias = hf_names.hf_name(("predictions", "bias"), family, "cls.")
    if bias in out:  # the tied decoder, written so any transformers version finds it
        decoder = hf_names.DECODER[family]
        out[decoder + ".weight"] = out[prefix + "embeddings.word_embeddings.weight"]
        out[decoder + ".bias"] = out[bias]
    return out


# What transformers class a saved directory holds: (family, has MLM head, has sentence head) → architecture.
_WITH_HEADS = {"bert": ("BertForMaskedLM", "BertForPreTraining"),
               "albert": ("AlbertForMaskedLM", "AlbertForPreTraining"),
               "roberta": ("RobertaForMaskedLM", None), "xlm-roberta": ("XLMRobertaForMaskedLM", None),
               "distilbert": ("DistilBertForMaskedLM", None)}


def save_pretrained(params: Params, config: BertConfig, out_dir: str, tokenizer=None) -> None:
    """Writes an HF directory (config.json, model.safetensors[, tokenizer files]) that transformers'
    AutoModel / AutoModelForMaskedLM (BertForPreTraining, AlbertForPreTraining) ``from_pretrained`` loads.
    Files appear atomically."""
    from safetensors.numpy import save_file

    family = config.model_type
    tensors = hf_state_dict(params, family)
    architectures = None
    if hf_names.hf_name(("predictions", "bias"), family, "cls.") in tensors:
        has_sentence_head = hf_names.hf_name(("seq_relationship", "bias"), family, "cls.") in tensors
        architectures = [_WITH_HEADS[family][has_sentence_head]]
        if family in ("roberta", "xlm-roberta"):  # RobertaForMaskedLM has no pooler (nothing trains ours there)
            tensors = {k: v for k, v in tensors.items() if not k.startswith("roberta.pooler.")}
    os.makedirs(out_dir, exist_ok=True)
    with io_utils.atomic_path(os.path.join(out_dir, "model.safetensors")) as tmp:
        # Copies: safetensors refuses tensors that share memory (the tied decoder).
        save_file({k: np.ascontiguousarray(v).copy() for k, v in tensors.items()}, tmp, metadata={"format": "pt"})
    io_utils.write_json(os.path.join(out_dir, "config.json"), config.to_hf_dict(architectures))
    if tokenizer is not None:
        tokenizer.save(out_dir)
