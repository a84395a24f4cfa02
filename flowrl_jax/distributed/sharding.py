"""Device meshes and the one table of placements: parameters, batches, the KV cache.

Every parameter of the model carries `logical_axes` metadata (e.g. ("embed", "mlp")); the
rules below map logical axes to the mesh axes `data`, `fsdp` and `tensor`:
- `fsdp` shards the hidden ("embed") dimension of every weight (ZeRO-3 style);
- `tensor` shards heads, kv heads, the MLP width and the vocabulary (Megatron style).
A dimension that the mesh axis does not divide stays replicated, so the same rules serve a
tiny test model and a 7B one. Batch rows (sampler prompts, training micro-batches, cache rows)
go over (`data`, `fsdp`); cache heads over `tensor`, as the weights that fill them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import AbstractMesh, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
Rules = Sequence[tuple[str, str | None]]
DEFAULT_RULES: Rules = (
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("head_dim", None),
)
# Rollout layout: weights replicated over data/fsdp, split over tensor only, so decoding a
# token needs no all-gather of the weights.
SAMPLER_RULES: Rules = tuple((a, None if m == "fsdp" else m) for a, m in DEFAULT_RULES)


def make_mesh(
    data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[Any] | None = None
) -> Mesh:
    """A (data, fsdp, tensor) mesh over `devices` (default: all); one size may be -1 (inferred).

    With every size given, the mesh takes the first data·fsdp·tensor devices.
    """
    devices = list(jax.devices() if devices is None else devices)
    sizes = [data, fsdp, tensor]
    if sizes.count(-1) > 1:
        raise ValueError(
            f"at most one mesh axis may be -1, got data={data} fsdp={fsdp} tensor={tensor}"
        )
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        if len(devices) % known:
            raise ValueError(f"{len(devices)} devices cannot be split into {sizes}.")
        sizes[sizes.index(-1)] = len(devices) // known
    devices = devices[: int(np.prod(sizes))]
    if int(np.prod(sizes)) != len(devices):
        raise ValueError(
            f"mesh data={sizes[0]} x fsdp={sizes[1]} x tensor={sizes[2]} needs "
            f"{int(np.prod(sizes))} devices, but {len(devices)} are available."
        )
    return Mesh(np.asarray(devices).reshape(sizes), MESH_AXES)


def abstract_mesh(data: int, fsdp: int, tensor: int) -> AbstractMesh:
    """A (data, fsdp, tensor) mesh of the given sizes without devices (for planning)."""
    return AbstractMesh((data, fsdp, tensor), MESH_AXES)


def bytes_per_device(shape: Sequence[int], dtype: Any, spec: PartitionSpec, mesh: Any) -> int:
    """Bytes one device holds of an array of `shape` and `dtype` placed by `spec` on `mesh`."""
    elements = int(np.prod(shape, dtype=np.int64))
    for axes in spec:
        for axis in (axes,) if isinstance(axes, str) else axes or ():
            elements //= mesh.shape[axis]
    return elements * np.dtype(dtype).itemsize


def logical_to_spec(
    axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh, rules: Rules | None = None
) -> PartitionSpec:
    """PartitionSpec for one array; mesh axes that do not divide the dimension are dropped."""
    table = dict(DEFAULT_RULES if rules is None else rules)
    spec, used = [], set()
    for axis, dim in zip(axes, shape, strict=True):
        mesh_axis = table.get(axis) if axis is not None else None
        ok = (
            mesh_axis is not None
            and mesh_axis not in used
            and mesh.shape[mesh_axis] > 1
            and dim % mesh.shape[mesh_axis] == 0
        )
        spec.append(mesh_axis if ok else None)
        if ok:
            used.add(mesh_axis)
    return PartitionSpec(*spec)


def param_shardings(
    model: nnx.Module, mesh: Mesh, rules: Rules | None = None
) -> dict[tuple, NamedSharding]:
    """NamedSharding of every parameter, keyed by its path in the module."""
    out = {}
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        axes = var.get_metadata().get("logical_axes") or (None,) * len(var.value.shape)
        out[tuple(path)] = NamedSharding(mesh, logical_to_spec(axes, var.value.shape, mesh, rules))
    return out


def shard_model(
    model: nnx.Module, mesh: Mesh, rules: Rules | None = None, *, dtype: Any = None
) -> nnx.Module:
    """Places every parameter of `model` on `mesh` per the rules, cast to `dtype` when given
    (in place; returns the model)."""
    shardings = param_shardings(model, mesh, rules)
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    values = [v.value if dtype is None else v.value.astype(dtype) for _, v in flat]
    placed = jax.device_put(values, [shardings[tuple(path)] for path, _ in flat])  # one call
    for (_, var), value in zip(flat, placed, strict=True):
        var.value = value
    return model


def rollout_copy(model: nnx.Module, mesh: Mesh, dtype: Any = None) -> nnx.Module:
    """A copy of `model` in the rollout layout (`SAMPLER_RULES`: replicated over data and
    fsdp, split over tensor), its parameters cast to `dtype` (the compute dtype, which the
    model casts them to at use anyway, so sampling gives the same tokens). `model` is left as
    it is. The copy costs one all-gather of the weights over fsdp; decoding with it needs
    none per token."""
    return shard_model(nnx.clone(model), mesh, SAMPLER_RULES, dtype=dtype)


ROWS = ("data", "fsdp")
"""The mesh axes batch rows are split over."""


def rows_sharding(mesh: Mesh, rows: int, ndim: int, *, row_axis: int = 0) -> NamedSharding:
    """An array whose dimension `row_axis` holds `rows` batch rows: split over (data, fsdp)
    when that divides them, replicated otherwise; every other dimension replicated."""
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    spec = [None] * ndim
    spec[row_axis] = ROWS if shards > 1 and rows % shards == 0 else None
    return NamedSharding(mesh, PartitionSpec(*spec))


def kv_cache_sharding(mesh: Mesh, rows: int, kv_heads: int) -> NamedSharding:
    """A [rows, kv_heads, T, head_dim] cache array: rows as `rows_sharding`, heads over
    `tensor` when it divides them (as the k/v projections that fill the cache)."""
    row = rows_sharding(mesh, rows, 1).spec[0]
    heads = "tensor" if mesh.shape["tensor"] > 1 and kv_heads % mesh.shape["tensor"] == 0 else None
    return NamedSharding(mesh, PartitionSpec(row, heads, None, None))


def replicated(mesh: Mesh) -> NamedSharding:
    """The same value on every device of `mesh` (scalars, step counters)."""
    return NamedSharding(mesh, PartitionSpec())
