"""Device mesh and logical-axis rules: the only place where model axis names meet mesh axis names.

Mesh axes are ``data``, ``fsdp`` and ``tensor``. The batch is split over data×fsdp; ``fsdp`` also splits
the ``embed`` axis of params (ZeRO-3 style: gathered per layer inside the step); ``tensor`` splits heads,
MLP and vocab (Megatron style).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")

# Every logical name the model uses; a preset maps each to mesh axes or None (replicated).
LOGICAL_NAMES = ("act_batch", "act_len", "act_embed", "act_heads", "act_mlp", "act_vocab",
                 "vocab", "embed", "heads", "kv", "mlp", "layers", "position", "type_vocab")

Rules = tuple[tuple[str, Any], ...]


def _rules(**mapped) -> Rules:
    return tuple((name, mapped.get(name)) for name in LOGICAL_NAMES)


def dp_rules() -> Rules:
    """Pure data parallelism: batch split, every param replicated."""
    return _rules(act_batch=BATCH_AXES)


def fsdp_rules() -> Rules:
    """Batch over data×fsdp; params split on their `embed` axis over fsdp."""
    return _rules(act_batch=BATCH_AXES, embed="fsdp")


def fsdp_tp_rules() -> Rules:
    """fsdp plus tensor parallelism over heads, MLP and vocab (params and the matching activations)."""
    return _rules(act_batch=BATCH_AXES, embed="fsdp", heads="tensor", mlp="tensor", vocab="tensor",
                  act_heads="tensor", act_mlp="tensor", act_vocab="tensor")


PRESETS = {"dp": dp_rules, "fsdp": fsdp_rules, "fsdp_tp": fsdp_tp_rules}


def get_rules(preset_or_pairs: str | Sequence[tuple[str, Any]]) -> Rules:
    """A preset name ('dp', 'fsdp', 'fsdp_tp') or explicit (logical, mesh) pairs."""
    if isinstance(preset_or_pairs, str):
        if preset_or_pairs not in PRESETS:
            raise ValueError(f"sharding preset {preset_or_pairs!r} is not known; expected one of {list(PRESETS)}")
        return PRESETS[preset_or_pairs]()
    return tuple((str(k), v) for k, v in preset_or_pairs)


def resolve_mesh_shape(shape: dict[str, int], num_devices: int) -> dict[str, int]:
    """Fills one -1 so that the product is ``num_devices``; clear errors otherwise."""
    unknown = set(shape) - set(MESH_AXES)
    if unknown:
        raise ValueError(f"mesh axes {sorted(unknown)} are not known; expected a subset of {MESH_AXES}")
    sizes = {axis: int(shape.get(axis, 1)) for axis in MESH_AXES}
    fill = [a for a, s in sizes.items() if s == -1]
    if len(fill) > 1:
        raise ValueError(f"mesh {shape}: at most one axis may be -1")
    known = math.prod(s for s in sizes.values() if s != -1)
    if any(s == 0 or s < -1 for s in sizes.values()):
        raise ValueError(f"mesh {shape}: sizes must be positive (or -1 to fill in)")
    if fill:
        if num_devices % known:
            raise ValueError(f"mesh {shape} cannot fill -1: {num_devices} devices are not divisible by {known}")
        sizes[fill[0]] = num_devices // known
    if math.prod(sizes.values()) != num_devices:
        raise ValueError(f"mesh {shape} needs {math.prod(sizes.values())} devices but {num_devices} are present")
    return sizes


def make_mesh(shape: dict[str, int], dcn_shape: dict[str, int] | None = None,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
    """Mesh over (data, fsdp, tensor). ``dcn_shape`` (multi-slice) gives how many slices each axis spans;
    ``shape`` is then per slice. Axis types are Auto: Linen's logical constraints need them."""
    devices = list(devices if devices is not None else jax.devices())
    if dcn_shape:
        from jax.experimental import mesh_utils

        num_slices = math.prod(int(dcn_shape.get(a, 1)) for a in MESH_AXES)
        ici = resolve_mesh_shape(shape, len(devices) // num_slices)
        dcn = resolve_mesh_shape(dcn_shape, num_slices)
        grid = mesh_utils.create_hybrid_device_mesh([ici[a] for a in MESH_AXES], [dcn[a] for a in MESH_AXES],
                                                    devices)
    else:
        sizes = resolve_mesh_shape(shape, len(devices))
        grid = np.asarray(devices).reshape([sizes[a] for a in MESH_AXES])
    return Mesh(grid, MESH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * len(MESH_AXES))


def mesh_context(mesh: Mesh):
    """Makes ``mesh`` the ambient mesh for jit and Linen's logical constraints."""
    set_mesh = getattr(jax, "set_mesh", None) or getattr(jax.sharding, "use_mesh", None)
    return set_mesh(mesh) if set_mesh is not None else mesh


def param_shardings(abstract_boxed: Any, mesh: Mesh, rules: Rules) -> Any:
    """NamedShardings for a tree of boxed (nn.Partitioned) params or their eval_shape."""
    specs = nn.get_partition_spec(abstract_boxed)
    return nn.logical_to_mesh_sharding(specs, mesh, rules)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over data×fsdp, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def describe(params: Any, shardings: Any) -> str:
    """One line per param: path, shape, spec; logged once at start-up."""
    lines = []
    flat_s = jax.tree_util.tree_leaves(shardings, is_leaf=lambda x: isinstance(x, NamedSharding))
    for (path, leaf), sharding in zip(jax.tree_util.tree_leaves_with_path(params), flat_s, strict=True):
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        lines.append(f"{name:70s} {str(tuple(leaf.shape)):20s} {sharding.spec}")
    return "\n".join(lines)
