"""Building blocks of the decoder: RMSNorm, rotary embeddings, attention, SwiGLU MLP.

Shapes are named by axis letters in einsum strings:
B batch, S query length, T key length (cache slots), D hidden, N query heads,
K key/value heads, G = N // K query heads per kv head, H head dim, F MLP width, V vocab.

Every parameter carries `logical_axes` metadata (see `flowrl_jax.distributed.sharding`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from flowrl_jax.models.config import ModelConfig

_NEG_INF = -1e30  # finite, so a fully masked row (a pad query) gives a uniform row, not NaN


def _param(rngs: nnx.Rngs, shape, axes, dtype, init=None) -> nnx.Param:
    init = init or nnx.initializers.normal(0.02)
    return nnx.Param(init(rngs.params(), shape, dtype), logical_axes=axes)


class RMSNorm(nnx.Module):
    """RMSNorm in float32, cast back before the scale (as the HF Llama/Qwen code does)."""

    def __init__(self, dim: int, *, eps: float, param_dtype, rngs: nnx.Rngs, axis_name="embed"):
        del rngs
        self.eps = eps
        self.scale = nnx.Param(jnp.ones((dim,), param_dtype), logical_axes=(axis_name,))

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return x32.astype(x.dtype) * self.scale.value.astype(x.dtype)


def rope_inv_freq(config: ModelConfig) -> jax.Array:
    """Inverse frequencies [H/2], with Llama 3 scaling of the low frequencies when configured."""
    h = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (jnp.arange(0, h, 2, dtype=jnp.float32) / h))
    s = config.rope_scaling
    if s is None:
        return inv_freq
    low_wavelen = s.original_max_position_embeddings / s.low_freq_factor
    high_wavelen = s.original_max_position_embeddings / s.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (
        s.high_freq_factor - s.low_freq_factor
    )
    smoothed = (1 - smooth) * inv_freq / s.factor + smooth * inv_freq
    scaled = jnp.where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq)
    is_medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return jnp.where(is_medium, smoothed, scaled)


def apply_rope(x: jax.Array, positions: jax.Array, inv_freq: jax.Array) -> jax.Array:
    """Rotates x [B, S, *, H] by positions [B, S] (the rotate-half convention of HF)."""
    angles = positions[..., None].astype(jnp.float32) * inv_freq  # [B, S, H/2]
    sin = jnp.sin(angles)[:, :, None, :]
    cos = jnp.cos(angles)[:, :, None, :]
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.astype(x.dtype)


class Attention(nnx.Module):
    """Grouped-query attention with optional q/k/v bias (Qwen2) and q/k RMSNorm (Qwen3)."""

    def __init__(self, config: ModelConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        d, n, k, h = config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim
        self.dtype = dtype
        self.num_kv_heads = k
        self.q_proj = _param(rngs, (d, n, h), ("embed", "heads", "head_dim"), param_dtype)
        self.k_proj = _param(rngs, (d, k, h), ("embed", "kv_heads", "head_dim"), param_dtype)
        self.v_proj = _param(rngs, (d, k, h), ("embed", "kv_heads", "head_dim"), param_dtype)
        self.o_proj = _param(rngs, (n, h, d), ("heads", "head_dim", "embed"), param_dtype)
        zeros = nnx.initializers.zeros
        if config.qkv_bias:
            self.q_bias = _param(rngs, (n, h), ("heads", "head_dim"), param_dtype, zeros)
            self.k_bias = _param(rngs, (k, h), ("kv_heads", "head_dim"), param_dtype, zeros)
            self.v_bias = _param(rngs, (k, h), ("kv_heads", "head_dim"), param_dtype, zeros)
        else:
            self.q_bias = self.k_bias = self.v_bias = None
        if config.qk_norm:
            norm = dict(eps=config.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
            self.q_norm = RMSNorm(h, axis_name="head_dim", **norm)
            self.k_norm = RMSNorm(h, axis_name="head_dim", **norm)
        else:
            self.q_norm = self.k_norm = None

    def _project(self, x, kernel, bias, eqn):
        y = jnp.einsum(eqn, x, kernel.value.astype(self.dtype))
        return y if bias is None else y + bias.value.astype(self.dtype)

    def __call__(
        self,
        x: jax.Array,  # [B, S, D]
        positions: jax.Array,  # [B, S]
        inv_freq: jax.Array,  # [H/2]
        attn_mask: jax.Array,  # [B, S, T] bool, True where query may attend key
        kv: tuple[jax.Array, jax.Array] | None = None,  # cache [B, K, T, H] each
        write_index: jax.Array | None = None,  # [] slot of x's first token in the cache
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        q = self._project(x, self.q_proj, self.q_bias, "BSD,DNH->BSNH")
        k = self._project(x, self.k_proj, self.k_bias, "BSD,DKH->BSKH")
        v = self._project(x, self.v_proj, self.v_bias, "BSD,DKH->BSKH")
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q = apply_rope(q, positions, inv_freq)
        # Keys/values head-major ([B, K, T, H]): the attention dots then read the cache in place;
        # with [B, T, K, H], XLA transposes the whole cache of every layer at every decode step.
        k = apply_rope(k, positions, inv_freq).transpose(0, 2, 1, 3)
        v = v.transpose(0, 2, 1, 3)
        if kv is not None:
            k_cache, v_cache = kv
            start = (0, 0, write_index, 0)
            k = jax.lax.dynamic_update_slice(k_cache, k.astype(k_cache.dtype), start)
            v = jax.lax.dynamic_update_slice(v_cache, v.astype(v_cache.dtype), start)
            kv = (k, v)
        b, s, n, h = q.shape
        q = q.reshape(b, s, self.num_kv_heads, n // self.num_kv_heads, h)
        scores = jnp.einsum("BSKGH,BKTH->BKGST", q, k.astype(self.dtype)).astype(jnp.float32)
        scores = scores / math.sqrt(h)
        scores = jnp.where(attn_mask[:, None, None], scores, _NEG_INF)
        probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
        out = jnp.einsum("BKGST,BKTH->BSKGH", probs, v.astype(self.dtype)).reshape(b, s, n, h)
        return jnp.einsum("BSNH,NHD->BSD", out, self.o_proj.value.astype(self.dtype)), kv


class MLP(nnx.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: ModelConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        d, f = config.hidden_size, config.intermediate_size
        self.dtype = dtype
        self.gate_proj = _param(rngs, (d, f), ("embed", "mlp"), param_dtype)
        self.up_proj = _param(rngs, (d, f), ("embed", "mlp"), param_dtype)
        self.down_proj = _param(rngs, (f, d), ("mlp", "embed"), param_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        gate = jnp.einsum("BSD,DF->BSF", x, self.gate_proj.value.astype(self.dtype))
        up = jnp.einsum("BSD,DF->BSF", x, self.up_proj.value.astype(self.dtype))
        return jnp.einsum(
            "BSF,FD->BSD", jax.nn.silu(gate) * up, self.down_proj.value.astype(self.dtype)
        )


class Block(nnx.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ModelConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        norm = dict(eps=config.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.input_norm = RMSNorm(config.hidden_size, **norm)
        self.attn = Attention(config, **kw)
        self.post_attn_norm = RMSNorm(config.hidden_size, **norm)
        self.mlp = MLP(config, **kw)

    def __call__(self, x, positions, inv_freq, attn_mask, kv=None, write_index=None):
        h, kv = self.attn(self.input_norm(x), positions, inv_freq, attn_mask, kv, write_index)
        x = x + h
        return x + self.mlp(self.post_attn_norm(x)), kv
