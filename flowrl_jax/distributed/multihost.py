"""Multi-host start-up: every host runs the same program; jax.distributed joins them."""

from __future__ import annotations

import os

import jax


def maybe_initialize() -> bool:
    """Calls jax.distributed.initialize() when FLOWRL_JAX_DISTRIBUTED=1 (set by launch/).

    On TPU pods and SLURM the runtime provides the coordinator address, process count and id;
    elsewhere set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
    Returns whether this is a multi-process run.
    """
    if os.environ.get("FLOWRL_JAX_DISTRIBUTED") == "1":
        jax.distributed.initialize()
    return jax.process_count() > 1
