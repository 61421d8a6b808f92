"""The one trainer, in labelled phases:
mesh → task/data → model → shapes & shardings → state (resume | init_from | scratch) → jitted step → loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from bert_jax import compile_options, distributed, flops, pretrained, run_plan, sharding, tasks
from bert_jax import step as steps
from bert_jax import workdir as workdir_lib
from bert_jax.checkpoint import BestCheckpoint, Checkpointer, PreemptionFlag, describe_error
from bert_jax.data.global_batches import to_global
from bert_jax.data.loaders import host_batches
from bert_jax.evaluation import evaluate, splits_read
from bert_jax.io_utils import write_json
from bert_jax.logging_utils import MetricsLogger, Progress, plot_curves
from bert_jax.models.heads import BertWithHead
from bert_jax.optim import create_optimizer, warmup_then_decay

log = logging.getLogger(__name__)


def optimizer_for(config, total_steps: int, warmup_steps: int):
    """(learning-rate schedule, optax chain) of config.optim."""
    schedule = warmup_then_decay(config.optim.learning_rate, warmup_steps, total_steps,
                                 config.optim.schedule, config.optim.power)
    tx = create_optimizer(config.optim.name, schedule, weight_decay=config.optim.weight_decay,
                          b1=config.optim.b1, b2=config.optim.b2, eps=config.optim.eps or None,
                          clip_norm=config.optim.clip_norm or None, accumulate_steps=config.optim.accumulate_steps)
    return schedule, tx


def with_frozen_params(tx, task):
    """``tx`` over the params the task trains; the subtrees ``task.frozen_subtrees`` names (a distillation
    teacher) get zero updates and no optimizer state."""
    paths = tuple(task.frozen_subtrees)
    if not paths:
        return tx

    def trainable(tree):
        tree = dict(tree)
        for path in paths:
            node = tree
            for key in path[:-1]:
                node[key] = dict(node[key])
                node = node[key]
            node.pop(path[-1])
        return tree

    def init(params):
        return tx.init(trainable(params))

    def update(updates, state, params=None, **extra_args):
        # schedule_values passes on; grad_norm does not: train_step measured it over every gradient, the frozen
        # subtrees' too, and the clip must measure the trained params' own (it does when given none).
        extra_args.pop("grad_norm", None)
        new, state = optax.with_extra_args_support(tx).update(
            trainable(updates), state, None if params is None else trainable(params), **extra_args)
        out = jax.tree_util.tree_map(jnp.zeros_like, updates)
        for key, value in new.items():
            out[key] = _merge(out[key], value)
        return out, state

    return optax.GradientTransformationExtraArgs(init, update)


def _merge(full: dict, part: dict) -> dict:
    """``full`` with ``part``'s leaves in place (part holds a subset of full's keys)."""
    if not isinstance(full, dict):
        return part
    return {k: _merge(v, part[k]) if k in part else v for k, v in full.items()}


def jit_train_step(model, task, tx, state_shardings, data_sharding: NamedSharding):
    """The trainer's step ``(state, batch, schedule_values)``: state donated, batch split over data×fsdp, the
    learning-rate schedule's numbers (optim.WarmupThenDecay.values) and the metrics replicated. The numbers are
    an input, not constants: runs that differ in learning rate, warmup or length compile one program and
    share it through the persistent compilation cache (a sweep's learning rates, a longer rerun). aot.py
    compiles this same function for TPU topologies."""
    replicated = NamedSharding(data_sharding.mesh, PartitionSpec())
    return jax.jit(functools.partial(steps.train_step, model=model, task=task, tx=tx),
                   in_shardings=(state_shardings, data_sharding, replicated),
                   out_shardings=(state_shardings, replicated), donate_argnums=0)


def _record_config(config, workdir: str, task, write_config: bool) -> None:
    """config.json (the run) and model/ (the encoder's HF config.json and the vocab), so that a workdir
    can be ``init_from`` of a later run. The first run's config describes the workdir (until a resume
    with ``allow_config_change`` replaces it)."""
    if jax.process_index() != 0:
        return
    if write_config:
        write_json(os.path.join(workdir, "config.json"), _config_dict(config))
    pretrained.write_model_dir(workdir, task.model_config, getattr(task, "tokenizer", None))


def _config_dict(config) -> dict:
    return json.loads(config.to_json_best_effort())


def run(config, workdir: str) -> dict:
    """Trains (or resumes) in ``workdir``; returns the final eval results. The workdir is locked for the
    run, and a workdir that holds another config is refused (unless ``allow_config_change``)."""
    os.makedirs(workdir, exist_ok=True)
    with workdir_lib.WorkdirLock(workdir) if jax.process_index() == 0 else contextlib.nullcontext():
        write_config = workdir_lib.check_stored_config(os.path.join(workdir, "config.json"), _config_dict(config),
                                                config.allow_config_change)
        results = _run(config, workdir, write_config)
    # The processes leave together. At exit JAX's shutdown barrier gives the last process only 300 s, and
    # the end of a run is uneven: process 0 alone writes the prediction files and the plot (minutes for
    # SQuAD's n-best on a large dev set), the others finish their checkpoint writes.
    distributed.wait_for_all("bert_jax: run finished")
    return results


def _run(config, workdir: str, write_config: bool) -> dict:
    run_plan.check_run_settings(config)

    # --- mesh: fails fast when the shape does not fit the devices
    devices = jax.devices()[: config.num_devices] if config.num_devices else None
    mesh = sharding.make_mesh(dict(config.mesh), dict(config.dcn_mesh) or None, devices)
    distributed.connect_collectives(mesh)
    rules = sharding.get_rules(config.sharding)
    data_sharding = sharding.batch_sharding(mesh)
    run_plan.check_batch_sizes(config, dict(mesh.shape))

    # --- task and data
    task = tasks.get(config.task.name)(config, workdir)
    train_data = host_batches(task, config, "train")
    evaluators = task.evaluators()
    # Every split any evaluator reads is read now: a bad file fails before training, not after it.
    eval_sets = {split: host_batches(task, config, split) for split in splits_read(evaluators, final=True)}
    total_steps, warmup_steps, steps_per_epoch = run_plan.schedule_steps(config, task)
    plan = run_plan.cadence(config, total_steps, steps_per_epoch)
    log.info("%s: %d steps (%d warmup)%s", task.name, total_steps, warmup_steps,
             f", {steps_per_epoch} per epoch" if steps_per_epoch else "")
    _record_config(config, workdir, task, write_config)

    # --- model and optimizer
    model = BertWithHead(task.model_config, task.head())
    schedule, tx = optimizer_for(config, total_steps, warmup_steps)
    tx = with_frozen_params(tx, task)

    # --- shapes and shardings
    example = {k: np.asarray(v)[:1] for k, v in train_data[0].items()}
    create = functools.partial(steps.create_state, model=model, tx=tx, example=example, task=task)
    # Every key of the run (init, dropout) is of config.prng_impl: JAX reads the default when it makes one.
    jax.config.update("jax_default_prng_impl", config.prng_impl)
    rng = jax.random.PRNGKey(config.seed)
    with sharding.mesh_context(mesh), nn.logical_axis_rules(rules):
        abstract = jax.eval_shape(create, rng)
        state_shardings = nn.logical_to_mesh_sharding(nn.get_partition_spec(abstract), mesh, rules)
        log.info("parameters:\n%s", sharding.describe(strip_boxes(abstract.params), state_shardings.params))

        # --- state: resume ▸ init_from ▸ scratch
        checkpointer = Checkpointer(workdir, config.keep_checkpoints, config.async_checkpointing)
        to_load = pretrained.loaded_parts(config.init_head) if config.init_from else ()
        init = jax.jit(lambda r: _zeros_for(nn.unbox(create(r)), to_load), out_shardings=state_shardings)
        target = sharded_shapes(abstract, state_shardings)
        state = checkpointer.restore_newest_readable(target) if checkpointer.latest_step() is not None else None
        if state is not None:
            log.info("resumed from %s step %d", checkpointer.directory, int(state.step))
        else:
            state = init(rng)
            state = state.replace(params=task.initial_params(state.params))
            if config.init_from:
                state = state.replace(params=pretrained.load_into(config.init_from, state.params, config.init_head))

        # --- jitted steps
        train_fn = jit_train_step(model, task, tx, state_shardings, data_sharding)
        eval_fn = jax.jit(functools.partial(steps.eval_step, model=model, task=task),
                          in_shardings=(state_shardings.params, data_sharding),
                          compiler_options=compile_options.forward_only())
        best = None
        if config.select_best and task.selection_metric:
            best = BestCheckpoint(workdir, task.selection_metric)
        params_target = sharded_shapes(abstract.params, state_shardings.params)
        loop = Loop(config, workdir, task, evaluators, plan, train_fn, eval_fn, train_data, eval_sets, data_sharding,
                    checkpointer, schedule, best)
        return loop.run(state, params_target)


def _zeros_for(state, parts: tuple[str, ...]):
    """The fresh state with the param subtrees ``parts`` as zeros: init_from replaces them whole, so XLA need
    not compute (nor compile) their random initialisation, which is most of the init program (MiniLM's
    encoder: a 4-5 s compile per fine-tuning run on CPU). The optimizer's fresh state depends only on the
    shapes, and the subtrees kept (the head) get the same values as in a full initialisation: Flax derives
    each param's key from its module path."""
    if not parts:
        return state
    zeros = {part: jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), state.params[part])
             for part in parts}
    return state.replace(params={**state.params, **zeros})


def sharded_shapes(abstract, shardings):
    """ShapeDtypeStructs of an eval_shape tree (boxed or not) carrying ``shardings``: the targets of an Orbax
    restore and of an ahead-of-time compile."""
    return jax.tree_util.tree_map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                                  strip_boxes(abstract), shardings)


def strip_boxes(tree):
    """nn.Partitioned → its value, without the sharding constraint nn.unbox applies under a mesh."""
    is_box = lambda x: isinstance(x, nn.Partitioned)  # noqa: E731
    return jax.tree_util.tree_map(lambda x: x.value if is_box(x) else x, tree, is_leaf=is_box)


@dataclasses.dataclass
class Loop:
    """Train → log → evaluate (keep the best) → checkpoint, until total_steps or SIGTERM; then the
    final results and prediction files from the selected params."""

    config: Any
    workdir: str
    task: Any
    evaluators: tuple
    plan: run_plan.Cadence
    train_fn: Any
    eval_fn: Any
    train_data: Any
    eval_sets: dict  # split → host batches, every split an evaluator reads
    data_sharding: NamedSharding
    checkpointer: Checkpointer
    schedule: Any
    best: BestCheckpoint | None

    def evaluate(self, params, final: bool = False) -> dict:
        """The evaluators' metrics; ``final`` adds the final evaluators (prediction files, test splits)."""
        return evaluate(self.task, self.evaluators, self.eval_sets, params, self.eval_fn, self.data_sharding,
                        self.config.eval_batches, final)

    def run(self, state, params_target) -> dict:
        config, plan = self.config, self.plan
        preemption = PreemptionFlag()
        logger = MetricsLogger(self.workdir, enabled=jax.process_index() == 0)
        progress = Progress(plan.total_steps)
        values = self.schedule.values  # replicated on every device of every process (the step's input)
        schedule_values = jax.make_array_from_callback(values.shape, NamedSharding(self.data_sharding.mesh,
                                                                                  PartitionSpec()), lambda i: values[i])
        device_kind = jax.devices()[0].device_kind
        start = int(state.step)
        pending, real_tokens, step_flops = [], 0, 0.0
        last_time = time.perf_counter()
        results = {}
        try:
            for step in range(start, plan.total_steps):
                host_batch = self.train_data[step]
                real_tokens += int(np.sum(host_batch["attention_mask"])) * jax.process_count()
                step_flops += self.task.flops_per_batch(host_batch) * jax.process_count()
                state, metrics = self.train_fn(state, to_global(host_batch, self.data_sharding), schedule_values)
                pending.append(metrics)
                done = step + 1
                if done % config.log_every == 0 or done == plan.total_steps:
                    values = self._interval_metrics(jax.device_get(pending), done)
                    now = time.perf_counter()
                    seconds = (now - last_time) / len(pending)
                    values.update(learning_rate=float(self.schedule(step)), step_time=seconds,
                                  tokens_per_second=real_tokens / (now - last_time))
                    utilisation = flops.mfu(step_flops / len(pending), seconds, jax.device_count(), device_kind)
                    if utilisation is not None:
                        values["mfu"] = utilisation
                    logger.write(done, "train", values, progress.describe(done))
                    pending, real_tokens, step_flops, last_time = [], 0, 0.0, time.perf_counter()
                if done % plan.eval_every == 0 or done == plan.total_steps:
                    # The host dispatches steps ahead of the device: wait for them, so that the steps since the
                    # last log line keep their time and the evaluation's own time is left out of step_time.
                    jax.block_until_ready(state)
                    eval_start = time.perf_counter()
                    log.info("step %d: evaluation starts", done)
                    results = self.evaluate(state.params, final=done == plan.total_steps)
                    logger.write(done, "eval", results)
                    if self.best is not None:
                        self.best.update(done, state.params, results)
                    last_time += time.perf_counter() - eval_start
                stop = preemption.stop_at(done)
                if done % plan.ckpt_every == 0 or done == plan.total_steps or stop:
                    self.checkpointer.save(done, state, force=stop or done == plan.total_steps)
                if stop:
                    log.warning("SIGTERM: checkpoint of step %d written; exiting", done)
                    return results
            if start >= plan.total_steps:
                results = self.evaluate(state.params, final=True)
            self._finish(int(state.step), state.params, results, params_target)
            if jax.process_index() == 0:
                plot_curves(self.workdir)
        finally:
            self.checkpointer.close()
            logger.close()
            preemption.restore_handler()
        return results

    def _interval_metrics(self, pending: list[dict], done: int) -> dict:
        """Means over the steps since the last log line, of the steps whose update was applied;
        ``skipped_steps`` counts the others (non-finite loss or gradients). ``config.nonfinite='stop'``
        ends the run at the first of them (params and checkpoints are still finite)."""
        finite = [m for m in pending if not m["nonfinite"]]
        skipped = len(pending) - len(finite)
        first = done - len(pending) + 1
        if skipped:
            if self.config.nonfinite == "stop":
                raise FloatingPointError(
                    f"non-finite loss or gradients at {skipped} of steps {first}..{done}; their updates were "
                    "skipped and no checkpoint holds a non-finite value. config.nonfinite='skip' goes on past "
                    "such steps")
            log.warning("steps %d..%d: %d with non-finite loss or gradients, their updates skipped", first, done,
                        skipped)
        values = {k: float(np.mean([m[k] for m in finite])) if finite else float("nan")
                  for k in pending[0] if k != "nonfinite"}
        values["skipped_steps"] = skipped
        return values

    def _finish(self, last_step: int, params, last_results: dict, params_target) -> None:
        """eval_results.json and the final evaluators' files (dev and test predictions) from the best params
        when selecting (evaluated again when they are not the last), else from the last."""
        out = {"step": last_step, **last_results}
        if self.best is not None and self.best.record is not None:
            record = self.best.record
            selected = {"step": record["step"], "selected_by": self.best.metric}
            if record["step"] != last_step:
                try:
                    params = self.best.restore(params_target)
                except Exception as e:  # noqa: BLE001  (a damaged best/<step>: keep the last params, say so)
                    reason = describe_error(e)
                    log.warning("best checkpoint %s/%d cannot be read (%s); results from the last step instead",
                                self.best.directory, record["step"], reason)
                    selected = {"step": last_step, "selected_by": f"last step (best/{record['step']} unreadable: "
                                                                  f"{reason})"}
                else:
                    last_results = self.evaluate(params, final=True)
            out = {**selected, **last_results, "last_step": {"step": last_step, **out}}
        if jax.process_index() == 0:
            write_json(os.path.join(self.workdir, "eval_results.json"), out)
