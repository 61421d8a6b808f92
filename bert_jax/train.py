"""The one trainer, in labelled phases:
mesh → task/data → model → shapes & shardings → state (resume | init_from | scratch) → jitted step → loop.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from bert_jax import flops, sharding, tasks
from bert_jax import step as steps
from bert_jax.checkpoint import Checkpointer, PreemptionFlag
from bert_jax.io_utils import write_json
from bert_jax.logging_utils import MetricsLogger, plot_curves
from bert_jax.models.heads import BertWithHead
from bert_jax.optim import create_optimizer, warmup_then_decay

log = logging.getLogger(__name__)


def check_config(config) -> None:
    """Errors that need no compute: batch divisibility and schedule sanity."""
    if config.total_steps <= 0:
        raise ValueError(f"config.total_steps must be positive, got {config.total_steps}")
    if config.batch_size % jax.process_count():
        raise ValueError(f"config.batch_size={config.batch_size} is not divisible by {jax.process_count()} processes")


def _record_config(config, workdir: str) -> None:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):  # the first run's config describes the workdir
        write_json(path, json.loads(config.to_json_best_effort()))


def _to_global(batch: dict, data_sharding: NamedSharding) -> dict:
    return {k: jax.make_array_from_process_local_data(data_sharding, np.asarray(v)) for k, v in batch.items()}


def evaluate(task, dataset, params, eval_fn, data_sharding, max_batches: int) -> dict:
    """Runs eval_fn over up to max_batches batches, gathers predictions on the host, task.evaluate."""
    n = len(dataset) if max_batches <= 0 else min(len(dataset), max_batches)
    if n == 0:
        raise ValueError("the eval split has fewer examples than one eval batch (config.eval_batch_size)")
    gathered: dict[str, list] = {}
    for i in range(n):
        predictions = jax.device_get(eval_fn(params, _to_global(dataset[i], data_sharding)))
        for k, v in predictions.items():
            gathered.setdefault(k, []).append(np.asarray(v))
    return task.evaluate({k: np.concatenate(v) for k, v in gathered.items()}, "eval")


def run(config, workdir: str) -> dict:
    """Trains (or resumes) in ``workdir``; returns the final eval results."""
    os.makedirs(workdir, exist_ok=True)
    check_config(config)

    # --- mesh: fails fast when the shape does not fit the devices
    devices = jax.devices()[: config.num_devices] if config.num_devices else None
    mesh = sharding.make_mesh(dict(config.mesh), dict(config.dcn_mesh) if config.get("dcn_mesh") else None, devices)
    rules = sharding.get_rules(config.sharding)
    data_sharding = sharding.batch_sharding(mesh)
    data_parallel = mesh.shape["data"] * mesh.shape["fsdp"]
    for name in ("batch_size", "eval_batch_size"):
        if config[name] % data_parallel:
            raise ValueError(f"config.{name}={config[name]} is not divisible by the data-parallel size "
                             f"{data_parallel} (mesh {dict(mesh.shape)})")

    # --- task and data
    task = tasks.get(config.task.name)(config, workdir)
    train_data, eval_data = task.dataset("train"), task.dataset("eval")
    _record_config(config, workdir)

    # --- model and optimizer
    model = BertWithHead(task.model_config, task.head())
    schedule = warmup_then_decay(config.optim.learning_rate, config.optim.warmup_steps, config.total_steps,
                                 config.optim.schedule, config.optim.power)
    tx = create_optimizer(config.optim.name, schedule, weight_decay=config.optim.weight_decay,
                          b1=config.optim.b1, b2=config.optim.b2, eps=config.optim.eps or None,
                          clip_norm=config.optim.clip_norm or None, accumulate_steps=config.optim.accumulate_steps)

    # --- shapes and shardings
    example = {k: np.asarray(v)[:1] for k, v in train_data[0].items()}
    create = functools.partial(steps.create_state, model=model, tx=tx, example=example, task=task)
    rng = jax.random.PRNGKey(config.seed)
    with sharding.mesh_context(mesh), nn.logical_axis_rules(rules):
        abstract = jax.eval_shape(create, rng)
        state_shardings = nn.logical_to_mesh_sharding(nn.get_partition_spec(abstract), mesh, rules)
        log.info("parameters:\n%s", sharding.describe(_strip_boxes(abstract.params), state_shardings.params))

        # --- state: resume ▸ init_from ▸ scratch
        checkpointer = Checkpointer(workdir, config.keep_checkpoints, config.async_checkpointing)
        init = jax.jit(lambda r: nn.unbox(create(r)), out_shardings=state_shardings)
        if checkpointer.latest_step() is not None:
            target = jax.tree_util.tree_map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                                            _strip_boxes(abstract), state_shardings)
            state = checkpointer.restore(target)
            log.info("resumed from %s step %d", checkpointer.directory, int(state.step))
        else:
            state = init(rng)
            if config.init_from:
                state = state.replace(params=_load_init(config.init_from, state.params, config.init_head))

        # --- jitted steps
        replicated = NamedSharding(mesh, PartitionSpec())
        train_fn = jax.jit(functools.partial(steps.train_step, model=model, task=task, tx=tx),
                           in_shardings=(state_shardings, data_sharding), out_shardings=(state_shardings, replicated),
                           donate_argnums=0)
        eval_fn = jax.jit(functools.partial(steps.eval_step, model=model, task=task),
                          in_shardings=(state_shardings.params, data_sharding))
        results = _loop(config, workdir, task, state, train_fn, eval_fn, train_data, eval_data, data_sharding,
                        checkpointer, schedule)
    return results


def _strip_boxes(tree):
    """nn.Partitioned → its value, without the sharding constraint nn.unbox applies under a mesh."""
    is_box = lambda x: isinstance(x, nn.Partitioned)  # noqa: E731
    return jax.tree_util.tree_map(lambda x: x.value if is_box(x) else x, tree, is_leaf=is_box)


def _load_init(path: str, params: dict, with_head: bool) -> dict:
    """Encoder weights (and the head, with ``with_head``) from an HF dir, a TF checkpoint or a bert_jax
    workdir; whatever is not loaded keeps its fresh initialisation."""
    from bert_jax.convert import from_pretrained

    if os.path.isdir(os.path.join(path, "checkpoints")):
        source = Checkpointer(path).restore(None)["params"]
    else:
        _, loaded = from_pretrained(path, head="pretraining" if with_head else None)
        source = loaded if with_head else {"bert": loaded}
    parts = ["bert", "head"] if with_head else ["bert"]
    out = dict(params)
    for part in parts:
        if part not in source:
            raise ValueError(f"config.init_from={path} has no '{part}' params (config.init_head={with_head})")
        ours = params[part]
        theirs = source[part]
        mismatched = [
            f"{'/'.join(str(getattr(k, 'key', k)) for k in p)}: {tuple(np.shape(a))} vs {tuple(b.shape)}"
            for (p, a), b in zip(jax.tree_util.tree_leaves_with_path(theirs), jax.tree_util.tree_leaves(ours),
                                 strict=True) if tuple(np.shape(a)) != tuple(b.shape)
        ]
        if mismatched:
            raise ValueError(f"config.init_from={path}: {part} shapes differ from the model's: {mismatched[:5]}")
        out[part] = jax.tree_util.tree_map(lambda a, b: jax.device_put(jnp.asarray(a, b.dtype), b.sharding),
                                           theirs, ours)
    log.info("init_from %s: loaded %s; %s", path, " and ".join(parts),
             "nothing initialised fresh" if with_head else "head initialised fresh")
    return out


def _loop(config, workdir, task, state, train_fn, eval_fn, train_data, eval_data, data_sharding, checkpointer,
          schedule) -> dict:
    preemption = PreemptionFlag()
    logger = MetricsLogger(workdir)
    device_kind = jax.devices()[0].device_kind
    flops_per_step = config.batch_size * task.flops_per_example()
    start = int(state.step)
    pending, real_tokens = [], 0
    last_time = time.perf_counter()
    results = {}
    try:
        for step in range(start, config.total_steps):
            host_batch = train_data[step]
            real_tokens += int(np.sum(host_batch["attention_mask"])) * jax.process_count()
            state, metrics = train_fn(state, _to_global(host_batch, data_sharding))
            pending.append(metrics)
            done = step + 1
            if done % config.log_every == 0 or done == config.total_steps:
                values = {k: float(np.mean([m[k] for m in jax.device_get(pending)])) for k in pending[0]}
                now = time.perf_counter()
                seconds = (now - last_time) / len(pending)
                values.update(learning_rate=float(schedule(step)), step_time=seconds,
                              tokens_per_second=real_tokens / (now - last_time))
                utilisation = flops.mfu(flops_per_step, seconds, jax.device_count(), device_kind)
                if utilisation is not None:
                    values["mfu"] = utilisation
                if not all(np.isfinite(v) for v in values.values()):
                    raise FloatingPointError(f"non-finite metrics at step {done}: {values}")
                logger.write(done, "train", values)
                pending, real_tokens, last_time = [], 0, time.perf_counter()
            if done % config.eval_every == 0 or done == config.total_steps:
                results = evaluate(task, eval_data, state.params, eval_fn, data_sharding, config.eval_batches)
                logger.write(done, "eval", results)
                last_time = time.perf_counter()
            if done % config.ckpt_every == 0 or done == config.total_steps or preemption.requested:
                checkpointer.save(done, state, force=preemption.requested or done == config.total_steps)
            if preemption.requested:
                log.warning("SIGTERM: checkpoint of step %d written; exiting", done)
                break
        else:
            if start >= config.total_steps:
                results = evaluate(task, eval_data, state.params, eval_fn, data_sharding, config.eval_batches)
            write_json(os.path.join(workdir, "eval_results.json"), {"step": int(state.step), **results})
            plot_curves(workdir)
    finally:
        checkpointer.close()
        logger.close()
        preemption.restore_handler()
    return results
