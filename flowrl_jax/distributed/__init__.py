"""Meshes, logical-axis rules and multi-host initialisation."""

from flowrl_jax.distributed.sharding import (
    DEFAULT_RULES,
    MESH_AXES,
    SAMPLER_RULES,
    batch_sharding,
    logical_to_spec,
    make_mesh,
    param_shardings,
    shard_model,
)

__all__ = [
    "DEFAULT_RULES",
    "MESH_AXES",
    "SAMPLER_RULES",
    "batch_sharding",
    "logical_to_spec",
    "make_mesh",
    "param_shardings",
    "shard_model",
]
