"""Drawing one token per row from logits, with temperature, top-k and top-p (nucleus) filtering.

The distribution is softmax(logits / T), restricted to
- top-k: the k most likely tokens (exactly k; ties broken towards the lower id), then
- top-p: the most likely of those whose renormalised mass reaches p: token i is kept when the
  mass of the tokens strictly more likely than i is below p (so the token that crosses p is
  kept, at least one token always is, and tokens tied in probability are kept or dropped
  together),
and renormalised. This is Hugging Face's and vLLM's order (top-k, then top-p on the
renormalised distribution); they differ from us only at exact probability ties.

Cost per draw, B rows, V vocabulary (all written to avoid sorting and per-entry randomness,
which are the slow operations of XLA on CPU):
- one uniform number per row, inverted through a two-level CDF (block sums, then one block):
  O(V) with no full-length cumulative sum;
- top-k: `lax.top_k`, then everything runs on k candidates;
- top-p without top-k: a bisection for the probability threshold (30 masked sums over V), never
  a sort of the vocabulary. The static `use_top_p` flag keeps it out of the program otherwise.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

_ONE_BITS = 0x3F800000  # float32 1.0 as int32: weights lie in [0, 1]
_BISECT_STEPS = 30  # 2**30 > _ONE_BITS: the bisection over weight bit patterns is exact


def _last_positive(x: jax.Array) -> jax.Array:
    """Index [B] of the last entry > 0 of each row of x [B, n] (0 when none is)."""
    n = x.shape[-1]
    return (n - 1 - jnp.argmax(x[:, ::-1] > 0, axis=-1)).astype(jnp.int32)


def _count_le(cdf: jax.Array, target: jax.Array) -> jax.Array:
    """Number of entries of each row of cdf [B, n] that are <= target [B]."""
    return jnp.sum(cdf <= target[:, None], axis=-1, dtype=jnp.int32)


def inverse_cdf(weights: jax.Array, u: jax.Array) -> jax.Array:
    """Index [B] drawn with probability weights / weights.sum(-1): weights [B, n] >= 0 with a
    positive entry per row, u [B] uniform in [0, 1).

    Two levels: the block of the draw from a cumulative sum over ~sqrt(n) block sums, then the
    entry inside that block. Zero-weight entries are never drawn, whatever the rounding.
    """
    b, n = weights.shape
    size = 1 << max(4, math.ceil(math.log2(math.sqrt(n))))  # block size, a power of two
    blocks = -(-n // size)
    w = jnp.pad(weights, ((0, 0), (0, blocks * size - n))).reshape(b, blocks, size)
    block_mass = jnp.sum(w, axis=-1)  # [B, blocks]
    block_cdf = jnp.cumsum(block_mass, axis=-1)
    target = u * block_cdf[:, -1]
    blk = jnp.minimum(_count_le(block_cdf, target), _last_positive(block_mass))
    before = jnp.where(
        blk > 0, jnp.take_along_axis(block_cdf, jnp.maximum(blk - 1, 0)[:, None], -1)[:, 0], 0.0
    )
    inner = jnp.take_along_axis(w, blk[:, None, None], axis=1)[:, 0]  # [B, size]
    pos = _count_le(before[:, None] + jnp.cumsum(inner, axis=-1), target)
    return blk * size + jnp.minimum(pos, _last_positive(inner))


def nucleus_mask(weights: jax.Array, top_p: jax.Array | float) -> jax.Array:
    """Top-p mask [B, n] of unnormalised weights [B, n] in [0, 1] (the largest weight is 1).

    Keeps w_i >= t*, with t* the largest t whose tokens {w >= t} hold >= top_p of the mass, found
    by bisection over the bit patterns of non-negative float32 (exact: 30 masked sums). On CPU
    the rows go through in groups of ~1 MiB so that the 30 passes read from cache, not memory.
    """
    b, n = weights.shape
    rows = b
    if jax.default_backend() == "cpu":
        rows = 1
        while rows * 2 * n <= 1 << 18 and b % (rows * 2) == 0:
            rows *= 2
    if rows < b:
        groups = weights.reshape(b // rows, rows, n)
        return jax.lax.map(lambda w: nucleus_mask_rows(w, top_p), groups).reshape(b, n)
    return nucleus_mask_rows(weights, top_p)


def nucleus_mask_rows(weights: jax.Array, top_p: jax.Array | float) -> jax.Array:
    """`nucleus_mask` over all rows at once."""
    target = top_p * jnp.sum(weights, axis=-1)
    as_float = functools.partial(jax.lax.bitcast_convert_type, new_dtype=jnp.float32)

    def step(_, bounds):
        lo, hi = bounds  # int32 float patterns; invariant: mass(w >= lo) >= target, t* <= hi
        mid = lo + (hi - lo + 1) // 2
        mass = jnp.sum(jnp.where(weights >= as_float(mid)[:, None], weights, 0.0), axis=-1)
        ok = mass >= target
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid - 1)

    lo = jnp.zeros(target.shape, jnp.int32)
    hi = jnp.full(target.shape, _ONE_BITS, jnp.int32)
    lo, _ = jax.lax.fori_loop(0, _BISECT_STEPS, step, (lo, hi))
    return weights >= as_float(lo)[:, None]


def sample_token(
    logits: jax.Array,  # [B, V]
    u: jax.Array,  # [B] uniform in [0, 1)
    temperature: jax.Array | float,
    *,
    top_k: int = 0,
    top_p: jax.Array | float = 1.0,
    use_top_p: bool = False,
) -> jax.Array:
    """A token id [B] int32 drawn from softmax(logits / T) after top-k / top-p filtering.

    top_k (static; 0 = off, must be < V) and use_top_p (static) select the traced program;
    temperature (> 0) and top_p (in (0, 1]) are traced. `u` carries all the randomness: the
    same u gives the same token.
    """
    scaled = logits.astype(jnp.float32) / temperature
    ids = None
    if top_k > 0:
        scaled, ids = jax.lax.top_k(scaled, top_k)
    # The max by reduction, not as scaled[:, :1]: slicing top_k's output makes XLA (CPU)
    # replace the TopK by a full sort of the vocabulary.
    weights = jnp.exp(scaled - jnp.max(scaled, axis=-1, keepdims=True))
    if use_top_p:
        weights = jnp.where(nucleus_mask(weights, top_p), weights, 0.0)
    j = inverse_cdf(weights, u)
    if ids is None:
        return j
    return jnp.take_along_axis(ids, j[:, None], axis=-1)[:, 0].astype(jnp.int32)
