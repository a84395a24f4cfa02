"""Hugging Face safetensors <-> Decoder parameters: the name mapping and the layout transforms.

The architecture lives in `decoder.py`; this file is the only place that knows HF names.
HF stores Linear weights as [out, in]; we store einsum-ready kernels ([D, N, H] for q, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce
from typing import Any

import jax
import numpy as np
from flax import nnx
from safetensors import safe_open
from safetensors.numpy import save_file

from flowrl_jax.files import atomic_directory
from flowrl_jax.models.config import ModelConfig, dtype_name, resolve_dtype
from flowrl_jax.models.decoder import Decoder

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)
_MAX_SHARD_BYTES = 4 * 1024**3


class CheckpointError(ValueError):
    """A checkpoint directory that does not match the config it ships with."""


@dataclass(frozen=True)
class Mapping:
    """One parameter: where it sits in the Decoder, its HF name, and the layout transforms."""

    path: tuple[str | int, ...]
    hf_name: str
    to_ours: Callable[[np.ndarray], np.ndarray]
    to_hf: Callable[[np.ndarray], np.ndarray]


def _same(x: np.ndarray) -> np.ndarray:
    return x


def _t(x: np.ndarray) -> np.ndarray:
    return x.T


def param_mappings(config: ModelConfig) -> Iterator[Mapping]:
    """Every Decoder parameter with its HF name, in a fixed order."""
    d, n, k, h = config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim

    def in_proj(heads):  # HF [heads*H, D] <-> ours [D, heads, H]
        return (
            lambda w: w.reshape(heads, h, d).transpose(2, 0, 1),
            lambda w: w.transpose(1, 2, 0).reshape(heads * h, d),
        )

    def bias(heads):
        return (lambda b: b.reshape(heads, h), lambda b: b.reshape(heads * h))

    out_proj = (  # HF [D, N*H] <-> ours [N, H, D]
        lambda w: w.reshape(d, n, h).transpose(1, 2, 0),
        lambda w: w.transpose(2, 0, 1).reshape(d, n * h),
    )
    yield Mapping(("embed",), "model.embed_tokens.weight", _same, _same)
    for i in range(config.num_layers):
        hf, ours = f"model.layers.{i}.", ("layers", i)
        yield Mapping((*ours, "input_norm", "scale"), hf + "input_layernorm.weight", _same, _same)
        yield Mapping(
            (*ours, "post_attn_norm", "scale"),
            hf + "post_attention_layernorm.weight",
            _same,
            _same,
        )
        attn = (*ours, "attn")
        for name, heads in (("q", n), ("k", k), ("v", k)):
            yield Mapping(
                (*attn, f"{name}_proj"), hf + f"self_attn.{name}_proj.weight", *in_proj(heads)
            )
            if config.qkv_bias:
                yield Mapping(
                    (*attn, f"{name}_bias"), hf + f"self_attn.{name}_proj.bias", *bias(heads)
                )
        yield Mapping((*attn, "o_proj"), hf + "self_attn.o_proj.weight", *out_proj)
        if config.qk_norm:
            for name in ("q", "k"):
                yield Mapping(
                    (*attn, f"{name}_norm", "scale"),
                    hf + f"self_attn.{name}_norm.weight",
                    _same,
                    _same,
                )
        for name in ("gate", "up", "down"):
            yield Mapping((*ours, "mlp", f"{name}_proj"), hf + f"mlp.{name}_proj.weight", _t, _t)
    yield Mapping(("final_norm", "scale"), "model.norm.weight", _same, _same)
    if not config.tie_word_embeddings:
        yield Mapping(("lm_head",), "lm_head.weight", _t, _t)


def _get(module: Any, path: tuple[str | int, ...]) -> nnx.Param:
    return reduce(lambda m, p: m[p] if isinstance(p, int) else getattr(m, p), path, module)


# ------------------------------------------------------------------------------ reading


def _tensor_files(path: str) -> dict[str, str]:
    """Maps each tensor name to the safetensors file holding it."""
    index = os.path.join(path, SAFETENSORS_INDEX)
    single = os.path.join(path, SAFETENSORS)
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
        return {name: os.path.join(path, file) for name, file in weight_map.items()}
    if os.path.isfile(single):
        with safe_open(single, "numpy") as f:
            return {name: single for name in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    raise FileNotFoundError(
        f"{path} has neither {SAFETENSORS} nor {SAFETENSORS_INDEX}: point model_path at a Hugging "
        "Face directory with safetensors weights (convert .bin checkpoints with transformers' "
        "save_pretrained(safe_serialization=True))."
    )


def from_pretrained(
    path: str | os.PathLike,
    *,
    dtype: Any = None,
    param_dtype: Any = None,
    mesh: jax.sharding.Mesh | None = None,
    rules: Any = None,
    remat: str = "none",
) -> Decoder:
    """Loads a local HF directory (config.json + safetensors, single or sharded) into a Decoder.

    dtype: compute dtype (default float32); param_dtype: storage dtype (default: dtype).
    remat: the layers' rematerialisation policy (`flowrl_jax.models.REMAT_POLICIES`).
    With a mesh, each tensor is placed straight into its sharding (no full host copy per
    device). Raises CheckpointError naming the tensor on a missing, unexpected or misshapen key.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"model directory {path!r} does not exist.")
    config = ModelConfig.from_pretrained(path)
    dtype = resolve_dtype(dtype)
    param_dtype = resolve_dtype(param_dtype, default=dtype)
    files = _tensor_files(path)
    model = nnx.eval_shape(
        lambda: Decoder(config, dtype=dtype, param_dtype=param_dtype, remat=remat, rngs=nnx.Rngs(0))
    )
    shardings = None
    if mesh is not None:
        from flowrl_jax.distributed.sharding import param_shardings

        shardings = param_shardings(model, mesh, rules)
    handles: dict[str, Any] = {}
    used = set()
    try:
        for m in param_mappings(config):
            if m.hf_name not in files:
                raise CheckpointError(
                    f"{path}: tensor {m.hf_name!r} is missing. The config says model_type="
                    f"{config.model_type!r} with {config.num_layers} layers"
                    f"{', tied embeddings' if config.tie_word_embeddings else ''}; check that "
                    "config.json belongs to these weights."
                )
            file = files[m.hf_name]
            if file not in handles:
                handles[file] = safe_open(file, "numpy")
            value = m.to_ours(handles[file].get_tensor(m.hf_name))
            param = _get(model, m.path)
            if value.shape != param.value.shape:
                raise CheckpointError(
                    f"{path}: tensor {m.hf_name!r} has shape {value.shape} after conversion, but "
                    f"config.json implies {param.value.shape}; the config and weights disagree."
                )
            value = value.astype(param.value.dtype)
            sharding = None if shardings is None else shardings[m.path]
            param.value = jax.device_put(value, sharding)
            used.add(m.hf_name)
    finally:
        for h in handles.values():
            h.__exit__(None, None, None)
    ignorable = {"lm_head.weight"} if config.tie_word_embeddings else set()
    unexpected = sorted(
        n
        for n in files
        if n not in used and n not in ignorable and not n.endswith(_IGNORED_SUFFIXES)
    )
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
        raise CheckpointError(
            f"{path}: {len(unexpected)} unexpected tensor(s): {shown}. This decoder supports "
            f"{config.model_type} without extra modules; is model_type in config.json right?"
        )
    return model


# ------------------------------------------------------------------------------ writing


def hf_state_dict(model: Decoder, dtype: Any = None) -> dict[str, np.ndarray]:
    """The model's parameters as HF-named host arrays in HF layout (in a multi-host run, a
    collective: every process receives every parameter, one at a time)."""
    from flowrl_jax.distributed.multihost import host_array

    out = {}
    for m in param_mappings(model.config):
        value = host_array(_get(model, m.path).value)
        if dtype is not None:
            value = value.astype(resolve_dtype(dtype))
        out[m.hf_name] = np.ascontiguousarray(m.to_hf(value))
    return out


def save_pretrained(
    model: Decoder,
    path: str | os.PathLike,
    *,
    dtype: Any = None,
    tokenizer: Any = None,
    max_shard_bytes: int = _MAX_SHARD_BYTES,
) -> str:
    """Writes config.json + safetensors (sharded above `max_shard_bytes`) that transformers loads.

    Written into a temporary sibling directory and renamed into place, so a failure leaves
    no partial directory behind. An existing directory at `path` is replaced. In a multi-host
    run every process must call it (the parameters are gathered) and process 0 writes.
    """
    from flowrl_jax.distributed.multihost import is_primary

    tensors = hf_state_dict(model, dtype)
    if not is_primary():
        return os.path.abspath(os.fspath(path))
    stored_dtype = dtype_name(next(iter(tensors.values())).dtype)
    with atomic_directory(path) as tmp:
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
            json.dump(model.config.to_hf_dict(stored_dtype), f, indent=2)
        _write_safetensors(tensors, tmp, max_shard_bytes)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    return os.path.abspath(os.fspath(path))


def _write_safetensors(tensors: dict[str, np.ndarray], out: str, max_shard_bytes: int) -> None:
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for name, value in tensors.items():
        if shards[-1] and size + value.nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = value
        size += value.nbytes
    metadata = {"format": "pt"}
    if len(shards) == 1:
        save_file(shards[0], os.path.join(out, SAFETENSORS), metadata=metadata)
        return
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(out, file), metadata=metadata)
        weight_map.update(dict.fromkeys(shard, file))
    total = sum(v.nbytes for v in tensors.values())
    with open(os.path.join(out, SAFETENSORS_INDEX), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def load_tokenizer(path: str | os.PathLike, vocab_size: int | None = None):
    """AutoTokenizer from a local directory, checked against the model's vocabulary size."""
    from transformers import AutoTokenizer

    path = os.fspath(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(
            f"no tokenizer could be loaded from {path!r} ({e}); the directory needs "
            "tokenizer.json / tokenizer_config.json as saved by transformers."
        ) from None
    if vocab_size is not None and len(tokenizer) > vocab_size:
        raise CheckpointError(
            f"{path}: the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is "
            f"{vocab_size}; ids past the embedding table would be out of range. Use the "
            "tokenizer that belongs to this checkpoint."
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
