"""Multi-process start-up: jax.distributed.initialize when the environment says several processes run,
and a barrier for host-side work (data preparation) that may take hours.

TPU VMs and Slurm/Open MPI clusters are detected by JAX itself; elsewhere set BERT_JAX_COORDINATOR
(host:port), BERT_JAX_NUM_PROCESSES and BERT_JAX_PROCESS_ID.
"""

from __future__ import annotations

import os

import jax
from jax.experimental import multihost_utils


def initialize_from_flags_or_env() -> None:
    coordinator = os.environ.get("BERT_JAX_COORDINATOR")
    if coordinator:
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=int(os.environ["BERT_JAX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["BERT_JAX_PROCESS_ID"]))
    elif os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("SLURM_NTASKS", "1") != "1":
        jax.distributed.initialize()  # auto-detected cluster
    if jax.process_count() > 1:
        # One collective while the processes are in step (initialize is itself a barrier): the CPU (gloo)
        # and GPU collectives connect their peers on first use, with a short connect timeout, so first use
        # must not come after one process has spent minutes on work of its own.
        multihost_utils.sync_global_devices("bert_jax: processes started")


def wait_for_all(name: str, timeout_s: float = 24 * 3600) -> None:
    """Blocks until every process reaches ``name``. A barrier of JAX's coordination service, not a device
    collective: a device collective would time out while process 0 prepares a large corpus."""
    if jax.process_count() == 1:
        return
    from jax._src import distributed as jax_distributed  # the coordination client has no public wrapper

    jax_distributed.global_state.client.wait_at_barrier(name, int(timeout_s * 1000))
