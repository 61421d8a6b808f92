"""Multi-process start-up: jax.distributed.initialize when the environment says several processes run,
a barrier for host-side work (data preparation) that may take hours, and connect_collectives, which
connects a mesh's device groups while the processes are in step.

TPU VMs and Slurm/Open MPI clusters are detected by JAX itself; elsewhere set BERT_JAX_COORDINATOR
(host:port), BERT_JAX_NUM_PROCESSES and BERT_JAX_PROCESS_ID.
"""

from __future__ import annotations

import collections
import itertools
import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def initialize_from_flags_or_env() -> None:
    coordinator = os.environ.get("BERT_JAX_COORDINATOR")
    if coordinator:
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=int(os.environ["BERT_JAX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["BERT_JAX_PROCESS_ID"]))
    elif os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("SLURM_NTASKS", "1") != "1":
        jax.distributed.initialize()  # auto-detected cluster
    if jax.process_count() > 1:
        # Every process is up and agrees (initialize is itself a barrier). This collective connects only
        # the cross-process pairs of JAX's own helpers; a run's mesh is connected by connect_collectives.
        multihost_utils.sync_global_devices("bert_jax: processes started")


def connect_collectives(mesh: Mesh) -> None:
    """Runs one all-reduce over every device group a program on ``mesh`` can communicate in (each mesh
    axis and each combination of axes), compiled first and started after a barrier, so all processes
    arrive together.

    Why: XLA:CPU's gloo collectives connect a group's peers the first time a program communicates over
    that group, and wait only 30 s for the other processes to arrive (jaxlib 0.10; after that a collective
    waits 30 min). Without this the first train step connects the gradient all-reduce's group, and a host
    that compiles that step 30 s later than another (a busy machine, a cold compile cache) fails the run
    with "Gloo context initialization failed". CPU only: GPU (NCCL) and TPU set up their collectives
    their own way, and this has not been measured there.
    """
    if jax.process_count() == 1 or mesh.devices.flat[0].platform != "cpu":
        return
    axes = [a for a in mesh.axis_names if mesh.shape[a] > 1]
    groups = [g for size in range(1, len(axes) + 1) for g in itertools.combinations(axes, size)]
    if not groups:  # one device: nothing to connect
        return
    every_axis = PartitionSpec(tuple(mesh.axis_names))

    def reduce_over_groups(x):  # x: [1] on each device
        return tuple(jax.lax.psum(x, group) for group in groups)

    program = jax.jit(jax.shard_map(reduce_over_groups, mesh=mesh, in_specs=every_axis,
                                    out_specs=(every_axis,) * len(groups)))
    ones = jax.make_array_from_callback((mesh.size,), NamedSharding(mesh, every_axis),
                                        lambda index: np.ones((1,), np.int32))
    compiled = program.lower(ones).compile()
    wait_for_all("bert_jax: connect collectives")
    jax.block_until_ready(compiled(ones))


def wait_for_all(name: str, timeout_s: float = 24 * 3600) -> None:
    """Blocks until every process reaches ``name``. A barrier of JAX's coordination service, not a device
    collective: a device collective would time out while process 0 prepares a large corpus. A name may be
    waited on again (several runs in one process): the service's barrier ids are used once each, so the
    id carries how often this process has waited on the name, the same count on every process."""
    if jax.process_count() == 1:
        return
    _WAITS[name] += 1
    _client().wait_at_barrier(f"{name} #{_WAITS[name]}", int(timeout_s * 1000))


_WAITS: collections.Counter = collections.Counter()


def _client():
    from jax._src import distributed as jax_distributed  # the coordination client has no public wrapper

    return jax_distributed.global_state.client


def publish_directory(name: str, directory: str) -> None:
    """Process 0 puts the files of ``directory`` (flat and small: a trained vocab) in the coordination
    service's key-value store under ``name``, for ``fetch_directory`` on the other processes."""
    files = sorted(f for f in os.listdir(directory) if os.path.isfile(os.path.join(directory, f)))
    client = _client()
    for f in files:
        with open(os.path.join(directory, f), "rb") as handle:
            client.key_value_set_bytes(f"{name}/file/{f}", handle.read(), allow_overwrite=True)
    client.key_value_set(f"{name}/files", "\n".join(files), allow_overwrite=True)  # last: the set is complete


def fetch_directory(name: str, directory: str, timeout_s: float = 600) -> None:
    """Writes the files process 0 published under ``name`` into ``directory``."""
    client = _client()
    files = client.blocking_key_value_get(f"{name}/files", int(timeout_s * 1000)).split("\n")
    os.makedirs(directory, exist_ok=True)
    for f in files:
        with open(os.path.join(directory, f), "wb") as handle:
            handle.write(client.blocking_key_value_get_bytes(f"{name}/file/{f}", int(timeout_s * 1000)))
