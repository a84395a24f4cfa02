"""Meshes, the placement table (parameters, batches, cache) and multi-host initialisation."""

from flowrl_jax.distributed.sharding import (
    DEFAULT_RULES,
    MESH_AXES,
    SAMPLER_RULES,
    abstract_mesh,
    bytes_per_device,
    kv_cache_sharding,
    logical_to_spec,
    make_mesh,
    param_shardings,
    replicated,
    rollout_copy,
    rows_sharding,
    shard_model,
)

__all__ = [
    "DEFAULT_RULES",
    "MESH_AXES",
    "SAMPLER_RULES",
    "abstract_mesh",
    "bytes_per_device",
    "kv_cache_sharding",
    "logical_to_spec",
    "make_mesh",
    "param_shardings",
    "replicated",
    "rollout_copy",
    "rows_sharding",
    "shard_model",
]
