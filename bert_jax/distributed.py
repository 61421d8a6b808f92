"""Multi-process start-up: jax.distributed.initialize when the environment says several processes run.

TPU VMs and Slurm/Open MPI clusters are detected by JAX itself; elsewhere set BERT_JAX_COORDINATOR
(host:port), BERT_JAX_NUM_PROCESSES and BERT_JAX_PROCESS_ID.
"""

from __future__ import annotations

import os

import jax


def initialize_from_flags_or_env() -> None:
    coordinator = os.environ.get("BERT_JAX_COORDINATOR")
    if coordinator:
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=int(os.environ["BERT_JAX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["BERT_JAX_PROCESS_ID"]))
    elif os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("SLURM_NTASKS", "1") != "1":
        jax.distributed.initialize()  # auto-detected cluster
