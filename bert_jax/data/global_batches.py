"""Host batches → global arrays: each process gives its own rows of a global batch (numpy), the result is
one jax.Array sharded over the batch axes of the mesh (sharding.batch_sharding)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding


def to_global(batch: dict, data_sharding: NamedSharding) -> dict:
    """{name: host-local rows [rows_per_process, ...]} → {name: global jax.Array [global_batch, ...]}."""
    return {k: jax.make_array_from_process_local_data(data_sharding, np.asarray(v)) for k, v in batch.items()}
