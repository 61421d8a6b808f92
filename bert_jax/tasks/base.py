"""The Task interface and the registry: one trainer serves every task through these members.

A task is constructed from the run's config and workdir, prepares its data on the host, and gives the
trainer pure functions for the jitted steps:

  - ``model_config``: the BertConfig of the encoder (vocab size fixed by the task's tokenizer).
  - ``head()``: the module on top of the encoder.
  - ``data_spec(split)``: the split's data as a spec of data/ (``loaders.FeatureSpec``, ``pipeline.PairSpec``);
    ``data.loaders.host_batches`` makes each host's batches of it (item k = step k).
  - ``inputs(batch)``: keyword arguments of the model call (pure, jit-able).
  - ``loss(outputs, batch) -> (scalar, aux metrics)``: pure.
  - ``predict(outputs, batch) -> dict of arrays``: pure, jit-able; per-example results for evaluate.
  - ``evaluators()``: host side, after predictions (evaluation.Evaluator): official metrics, prediction files.
  - ``flops_per_example()``: model FLOPs of one training example, for MFU.

Optional members with defaults: ``postprocess(predictions, split)`` (what the evaluators read; default the
predictions as gathered), ``selection_metric`` (picks the best checkpoint; None = keep the last),
``num_train_examples`` (epoch-based schedules), ``flops_per_batch(batch)``, ``initial_params(params)`` (what a
fresh run starts from: distillation loads its teacher there), ``frozen_subtrees`` (params the optimizer leaves
alone: the teacher).
"""

from __future__ import annotations

import abc
from typing import Callable

import flax.linen as nn

from bert_jax.data.loaders import DataSpec
from bert_jax.models.bert import BertConfig

REGISTRY: dict[str, Callable[..., "Task"]] = {}


class Task(abc.ABC):
    name = "task"
    model_config: BertConfig
    selection_metric: str | None = None

    def __init__(self, config, workdir: str):
        self.config = config
        self.workdir = workdir

    @abc.abstractmethod
    def head(self) -> nn.Module: ...

    @abc.abstractmethod
    def data_spec(self, split: str) -> DataSpec: ...

    @abc.abstractmethod
    def inputs(self, batch: dict) -> dict: ...

    @abc.abstractmethod
    def loss(self, outputs: dict, batch: dict): ...

    @abc.abstractmethod
    def predict(self, outputs: dict, batch: dict) -> dict: ...

    @abc.abstractmethod
    def evaluators(self) -> tuple: ...

    @abc.abstractmethod
    def flops_per_example(self) -> float: ...

    @property
    def num_train_examples(self) -> int:
        raise NotImplementedError(f"task {self.name!r} has no fixed training set; set config.total_steps")

    def postprocess(self, predictions: dict, split: str):
        """The gathered predictions of a split → what the evaluators read (once per split and evaluation)."""
        return predictions

    def flops_per_batch(self, batch: dict) -> float:
        return len(batch["input_ids"]) * self.flops_per_example()

    def initial_params(self, params: dict) -> dict:
        """The params of a fresh run (sharded, unboxed; before config.init_from): the initialisation itself."""
        return params

    # Paths of param subtrees the optimizer leaves alone (no updates, no state), e.g. ("head", "teacher_bert").
    frozen_subtrees: tuple[tuple[str, ...], ...] = ()


def register(name: str):
    def wrap(cls):
        REGISTRY[name] = cls
        cls.name = name
        return cls

    return wrap


def get(name: str) -> Callable[..., Task]:
    if name not in REGISTRY:
        raise ValueError(f"config.task.name={name!r} is not a known task; expected one of {sorted(REGISTRY)}")
    return REGISTRY[name]
