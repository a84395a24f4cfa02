"""The decoder: one config-driven Flax NNX module for Qwen2, Qwen2.5, Qwen3 and Llama 3.

Two ways to call it:
- full forward: `model(input_ids, attention_mask)` over a (left- or right-) padded batch;
- cached: `cache = model.init_cache(B, max_len)`, then `model(ids, mask, cache=cache)` writes the
  new tokens' keys/values at `cache.index` (the same slot for every row: prompts are
  left-padded) and attends to every valid slot before it. Shapes never change between decode
  steps, so a jitted decode loop compiles once.

`model.backbone(...)` is the same pass without the LM head (final hidden states), for callers
that apply the head to a few positions only (the sampler's prefill, `response_logprobs`).
`remat` rematerialises each decoder layer in the backward pass of an uncached forward (see
`REMAT_POLICIES`): the training forward then keeps one [B, S, D] input per layer instead of
every intermediate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from flowrl_jax.models.config import ModelConfig
from flowrl_jax.models.modules import Block, RMSNorm, _param, rope_inv_freq

REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}
"""What a rematerialised layer keeps for the backward pass: `none` = no remat (everything),
`full` = only the layer's input (everything else recomputed), `dots` = also the outputs of the
weight matmuls (projections and MLP; attention scores and elementwise ops are recomputed)."""


class KVCache(NamedTuple):
    """Fixed-size key/value cache (a plain pytree).

    keys, values: one [B, K, T, H] array per layer (head-major, so decoding reads it in place);
    mask: [B, T] bool, slots holding a real token; index: [] int32, the next slot to write.
    """

    keys: tuple[jax.Array, ...]
    values: tuple[jax.Array, ...]
    mask: jax.Array
    index: jax.Array


class DecoderOutput(NamedTuple):
    logits: jax.Array  # [B, S, V] float32
    hidden_states: jax.Array | None  # [B, S, D] after the final norm, when requested
    cache: KVCache | None


class Decoder(nnx.Module):
    """Decoder-only transformer with SwiGLU MLPs, RMSNorm, RoPE and grouped-query attention."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        dtype=jnp.float32,
        param_dtype=jnp.float32,
        remat: str = "none",
        rngs: nnx.Rngs,
    ):
        if remat not in REMAT_POLICIES:
            raise ValueError(f"remat={remat!r} is not valid; choose one of {list(REMAT_POLICIES)}.")
        self.config = config
        self.dtype = dtype
        self.remat = remat
        d, v = config.hidden_size, config.vocab_size
        self.embed = _param(rngs, (v, d), ("vocab", "embed"), param_dtype)
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.layers = nnx.List([Block(config, **kw) for _ in range(config.num_layers)])
        self.final_norm = RMSNorm(d, eps=config.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        if config.tie_word_embeddings:
            self.lm_head = None
        else:
            self.lm_head = _param(rngs, (d, v), ("embed", "vocab"), param_dtype)

    def init_cache(self, batch_size: int, max_len: int, dtype=None) -> KVCache:
        c = self.config
        shape = (batch_size, c.num_kv_heads, max_len, c.head_dim)
        zeros = tuple(jnp.zeros(shape, dtype or self.dtype) for _ in range(c.num_layers))
        return KVCache(
            keys=zeros,
            values=tuple(jnp.zeros_like(z) for z in zeros),
            mask=jnp.zeros((batch_size, max_len), bool),
            index=jnp.zeros((), jnp.int32),
        )

    def __call__(
        self,
        input_ids: jax.Array,  # [B, S] int
        attention_mask: jax.Array | None = None,  # [B, S], 1 on real tokens
        *,
        positions: jax.Array | None = None,  # [B, S]; default: count of real tokens before
        cache: KVCache | None = None,
        return_hidden: bool = False,
    ) -> DecoderOutput:
        x, new_cache = self.backbone(input_ids, attention_mask, positions=positions, cache=cache)
        return DecoderOutput(
            logits=self.logits(x),
            hidden_states=x if return_hidden else None,
            cache=new_cache,
        )

    def backbone(
        self,
        input_ids: jax.Array,  # [B, S] int
        attention_mask: jax.Array | None = None,  # [B, S], 1 on real tokens
        *,
        positions: jax.Array | None = None,
        cache: KVCache | None = None,
    ) -> tuple[jax.Array, KVCache | None]:
        """Final hidden states [B, S, D] (after the final norm) and the updated cache: the
        forward pass without the LM head."""
        b, s = input_ids.shape
        if attention_mask is None:
            attention_mask = jnp.ones((b, s), bool)
        attention_mask = attention_mask.astype(bool)
        if cache is None:
            key_mask = attention_mask
            query_slot = jnp.arange(s)
            seen = jnp.zeros((b,), jnp.int32)
        else:
            key_mask = jax.lax.dynamic_update_slice(cache.mask, attention_mask, (0, cache.index))
            query_slot = cache.index + jnp.arange(s)
            seen = jnp.sum(cache.mask, axis=-1, dtype=jnp.int32)
        if positions is None:
            positions = seen[:, None] + jnp.cumsum(attention_mask, axis=-1, dtype=jnp.int32) - 1
            positions = jnp.maximum(positions, 0)
        key_slot = jnp.arange(key_mask.shape[1])
        attn_mask = (key_slot[None, :] <= query_slot[:, None])[None] & key_mask[:, None, :]

        inv_freq = rope_inv_freq(self.config)
        x = jnp.take(self.embed.value, input_ids, axis=0).astype(self.dtype)
        policy = REMAT_POLICIES[self.remat] if cache is None else None
        keys, values = [], []
        for i, layer in enumerate(self.layers):
            with jax.named_scope(f"layer_{i}"):
                if cache is None:
                    x = _call_layer(layer, x, positions, inv_freq, attn_mask, policy)
                else:
                    kv = (cache.keys[i], cache.values[i])
                    x, (k, v) = layer(x, positions, inv_freq, attn_mask, kv, cache.index)
                    keys.append(k)
                    values.append(v)
        x = self.final_norm(x)
        if cache is None:
            return x, None
        return x, KVCache(tuple(keys), tuple(values), key_mask, cache.index + s)

    def logits(self, hidden: jax.Array) -> jax.Array:
        """The LM head: hidden states [B, S, D] after the final norm -> logits [B, S, V] float32.

        Used by `__call__`; the sampler applies it to the last prompt position only, so a jitted
        prefill never materialises [B, P, V] logits.
        """
        if self.lm_head is None:
            logits = jnp.einsum("BSD,VD->BSV", hidden, self.embed.value.astype(self.dtype))
        else:
            logits = jnp.einsum("BSD,DV->BSV", hidden, self.lm_head.value.astype(self.dtype))
        return logits.astype(jnp.float32)


def _call_layer(layer: Block, x, positions, inv_freq, attn_mask, policy) -> jax.Array:
    """One uncached layer, rematerialised in the backward pass under `policy` (None: not)."""
    if policy is None:
        return layer(x, positions, inv_freq, attn_mask)[0]
    run = nnx.remat(lambda blk, *args: blk(*args)[0], policy=policy)
    return run(layer, x, positions, inv_freq, attn_mask)


def token_logprobs(
    logits: jax.Array, tokens: jax.Array, temperature: float | jax.Array = 1.0
) -> jax.Array:
    """log softmax(logits / T)[tokens] in float32: [B, S, V], [B, S] -> [B, S].

    The one definition of a token log-prob, shared by the sampler and the trainer so that
    on-policy importance ratios are exactly 1.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32) / temperature, axis=-1)
    return jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]
