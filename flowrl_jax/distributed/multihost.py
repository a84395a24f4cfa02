"""Multi-host runs: every host runs the same program; `jax.distributed` joins them.

After `maybe_initialize`, `jax.devices()` lists the devices of every process and one mesh spans
them all. Arrays whose rows are split over the mesh are global: each process holds (and
computes on) the rows on its own devices. The helpers below move between those global arrays
and the host:

- `place_rows`: a host batch -> a global array, each process loading only its own rows;
- `process_rows`: which rows of such an array this process holds;
- `gather_rows` / `gather_strings`: per-row results computed by each process for its own rows
  (rewards, verdicts) -> the whole batch on every host (a few bytes per row);
- `host_array`: a global array read whole on every host (evaluation, export).

In a single-process run every helper is the identity or a plain `device_put`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding

from flowrl_jax.distributed.sharding import rows_sharding


def maybe_initialize() -> bool:
    """Joins the other processes with `jax.distributed.initialize` when FLOWRL_JAX_DISTRIBUTED=1
    (set by launch/). Returns whether this is a multi-process run.

    On TPU pods and under SLURM, JAX finds the coordinator, process count and id itself.
    Elsewhere set JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and
    JAX_PROCESS_ID in each process's environment: JAX reads only the address from the
    environment, so the other two are read here. On CPU the processes' collectives go
    through gloo.
    """
    if os.environ.get("FLOWRL_JAX_DISTRIBUTED") == "1":
        kwargs: dict[str, Any] = {}
        if os.environ.get("JAX_COORDINATOR_ADDRESS"):
            kwargs["coordinator_address"] = os.environ["JAX_COORDINATOR_ADDRESS"]
        for key, name in (("num_processes", "JAX_NUM_PROCESSES"), ("process_id", "JAX_PROCESS_ID")):
            if os.environ.get(name):
                try:
                    kwargs[key] = int(os.environ[name])
                except ValueError:
                    raise ValueError(f"{name}={os.environ[name]!r} is not an integer.") from None
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(**kwargs)
    return jax.process_count() > 1


def is_primary() -> bool:
    """Whether this process writes what a run writes once (logs, metadata, export)."""
    return jax.process_index() == 0


def mesh_of(tree: Any) -> Mesh | None:
    """The mesh the arrays of `tree` (a module, a state) are placed on; None when they are
    not on a mesh of more than one device."""
    leaves = jax.tree.leaves(nnx.state(tree) if isinstance(tree, nnx.Module) else tree)
    for x in leaves:
        sharding = getattr(x, "sharding", None)
        if isinstance(sharding, NamedSharding) and sharding.mesh.size > 1:
            return sharding.mesh
    return None


def process_rows(sharding: jax.sharding.Sharding, shape: Sequence[int]) -> slice:
    """The contiguous rows (first dimension) of an array of `shape` placed by `sharding` that
    this process's devices hold: all of them unless the rows are split across processes."""
    n = shape[0]
    spans = {
        (index[0].start or 0, n if index[0].stop is None else index[0].stop)
        for index in sharding.addressable_devices_indices_map(tuple(shape)).values()
    }
    start, stop = min(s for s, _ in spans), max(e for _, e in spans)
    if sum(e - s for s, e in spans) != stop - start:
        raise ValueError(
            f"this process holds rows {sorted(spans)} of {n}, not one contiguous block: order "
            "the mesh so that each process's devices hold consecutive rows."
        )
    return slice(start, stop)


def place_rows(mesh: Mesh | None, x: np.ndarray) -> jax.Array:
    """Host rows [N, ...] (the same on every process) as an array split over the mesh's batch
    axes; each process transfers only the rows its devices hold."""
    x = np.asarray(x)
    if mesh is None:
        return jax.numpy.asarray(x)
    sharding = rows_sharding(mesh, x.shape[0], x.ndim)
    local = x[process_rows(sharding, x.shape)]
    return jax.make_array_from_process_local_data(sharding, local, x.shape)


def gather_rows(local: np.ndarray, rows: slice, n: int) -> np.ndarray:
    """The rows [n, ...] of every process, from this process's `local` = rows[`rows`]."""
    local = np.asarray(local)
    if rows.start == 0 and rows.stop == n:
        return local
    starts = multihost_utils.process_allgather(np.asarray([rows.start]), tiled=True)
    parts = multihost_utils.process_allgather(local[None], tiled=True)
    out = np.concatenate([parts[i] for i in np.argsort(starts, kind="stable")])
    if len(out) != n:
        raise ValueError(f"processes hold {len(out)} rows in all, expected {n}.")
    return out


def gather_strings(local: Sequence[str], rows: slice, n: int) -> list[str]:
    """`gather_rows` for strings (UTF-8, padded to the longest)."""
    if rows.start == 0 and rows.stop == n:
        return list(local)
    encoded = [s.encode("utf-8") for s in local]
    lengths = np.asarray([len(e) for e in encoded], np.int64)
    width = int(multihost_utils.process_allgather(np.asarray([lengths.max(initial=0)])).max())
    buffer = np.zeros((len(encoded), max(width, 1)), np.uint8)
    for i, e in enumerate(encoded):
        buffer[i, : len(e)] = np.frombuffer(e, np.uint8)
    data = gather_rows(buffer, rows, n)
    sizes = gather_rows(lengths, rows, n)
    return [bytes(row[:size]).decode("utf-8") for row, size in zip(data, sizes, strict=True)]


def host_array(x: Any) -> np.ndarray:
    """The whole value of `x` on this host (a collective when other processes hold parts)."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
