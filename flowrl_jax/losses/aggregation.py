"""Aggregation of a token loss matrix into a scalar (docs/algorithms.md §1).

Four modes, named as in verl (arXiv 2409.19256):

    token-mean               Σ_{i,t} m·L / N_tok
    seq-mean-token-mean      Σ_i [Σ_t m·L / n_i] / N_seq
    seq-mean-token-sum       Σ_i Σ_t m·L / N_seq
    seq-mean-token-sum-norm  Σ_i Σ_t m·L / (N_seq · T_max)     (Dr.GRPO, arXiv 2503.20783)

N_tok (valid tokens) and N_seq (sequences with n_i > 0) belong to the whole mini-batch: compute
them once with :func:`normalizers` and pass them to :func:`aggregate` for every micro-batch or
shard, and the summed micro-batch losses (and gradients) equal the loss of the mini-batch. Left
as ``None`` they are computed from the given mask, which is the ``normalizer: local`` behaviour of
the released codes.

The masked helpers here are shared by the other loss modules: masked positions are replaced by
zeros with ``jnp.where`` before any arithmetic, so NaN or inf in the padding never reaches a value
or a gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

AGG_MODES = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)


def as_float(x: jax.typing.ArrayLike) -> jax.Array:
    """``x`` as an array of at least float32 precision (bfloat16/float16/int are promoted)."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def as_mask(mask: jax.typing.ArrayLike) -> jax.Array:
    """A 0/1 (or boolean) mask as a boolean array."""
    mask = jnp.asarray(mask)
    return mask if mask.dtype == jnp.bool_ else mask != 0


def masked(x: jax.typing.ArrayLike, mask: jax.Array) -> jax.Array:
    """``x`` (promoted to float) where ``mask`` holds, 0 elsewhere: padding may hold NaN/inf."""
    return jnp.where(mask, as_float(x), 0)


def masked_sum(x: jax.typing.ArrayLike, mask: jax.typing.ArrayLike, axis=None) -> jax.Array:
    """Σ over ``axis`` of ``x`` where ``mask``; masked entries are never touched."""
    return jnp.sum(masked(x, as_mask(mask)), axis=axis)


def masked_mean(x: jax.typing.ArrayLike, mask: jax.typing.ArrayLike, axis=None) -> jax.Array:
    """Mean over ``axis`` of ``x`` where ``mask``; 0 where there is no valid entry."""
    mask = as_mask(mask)
    total = jnp.sum(masked(x, mask), axis=axis)
    count = jnp.sum(mask, axis=axis).astype(total.dtype)
    return total / jnp.where(count > 0, count, 1)


def _safe_divisor(n: jax.typing.ArrayLike, dtype) -> jax.Array:
    """A normaliser as ``dtype``; 0 becomes 1 so that an empty batch gives 0, not NaN."""
    n = jnp.asarray(n, dtype)
    return jnp.where(n > 0, n, 1)


def _check_mode(mode: str) -> None:
    if mode not in AGG_MODES:
        raise ValueError(f"unknown aggregation mode {mode!r}; valid modes: {', '.join(AGG_MODES)}")


def normalizers(mask: jax.typing.ArrayLike, mode: str, max_len: int | None = None) -> dict:
    """Global normalisers of a whole mini-batch, to pass as ``aggregate(..., **normalizers)``.

    Args:
      mask: [B, T] response mask of the **whole** mini-batch (all micro-batches).
      mode: one of ``AGG_MODES``.
      max_len: T_max for ``seq-mean-token-sum-norm`` (the configured max response length);
        ``None`` takes the padded length T of ``mask``.

    Returns:
      ``{"num_tokens": N_tok}`` for ``token-mean``; ``{"num_seqs": N_seq}`` for the other modes,
      plus ``{"max_len": T_max}`` for ``seq-mean-token-sum-norm``. Counts are integer scalars.
    """
    _check_mode(mode)
    mask = as_mask(mask)
    if mode == "token-mean":
        return {"num_tokens": jnp.sum(mask)}
    out = {"num_seqs": jnp.sum(jnp.any(mask, axis=-1))}
    if mode == "seq-mean-token-sum-norm":
        out["max_len"] = mask.shape[-1] if max_len is None else max_len
    return out


def aggregate(
    loss_mat: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    mode: str,
    num_tokens: jax.typing.ArrayLike | None = None,
    num_seqs: jax.typing.ArrayLike | None = None,
    max_len: int | None = None,
) -> jax.Array:
    """Aggregate a token loss matrix into a scalar (docs/algorithms.md §1; verl, arXiv 2409.19256).

    Args:
      loss_mat: [B, T] per-token loss L; masked entries may hold anything (NaN, inf).
      mask: [B, T] response mask m (1 on response tokens).
      mode: ``token-mean`` | ``seq-mean-token-mean`` | ``seq-mean-token-sum`` |
        ``seq-mean-token-sum-norm`` (Dr.GRPO, arXiv 2503.20783).
      num_tokens: global N_tok for ``token-mean``; ``None`` counts the valid tokens of ``mask``.
      num_seqs: global N_seq (sequences with n_i > 0) for the ``seq-mean-*`` modes; ``None``
        counts them in ``mask``.
      max_len: T_max for ``seq-mean-token-sum-norm``; ``None`` takes T, the padded length of
        ``mask`` (verl's default). Pass the configured constant so micro-batches agree.

    Returns:
      Scalar loss. A normaliser of 0 (empty batch) gives 0. Rows with n_i = 0 contribute 0.
    """
    _check_mode(mode)
    mask = as_mask(mask)
    loss = masked(loss_mat, mask)
    if mode == "token-mean":
        n_tok = jnp.sum(mask) if num_tokens is None else num_tokens
        return jnp.sum(loss) / _safe_divisor(n_tok, loss.dtype)

    row_len = jnp.sum(mask, axis=-1)
    row_sum = jnp.sum(loss, axis=-1)
    if mode == "seq-mean-token-mean":
        row_sum = row_sum / _safe_divisor(row_len, loss.dtype)
    n_seq = jnp.sum(row_len > 0) if num_seqs is None else num_seqs
    total = jnp.sum(row_sum) / _safe_divisor(n_seq, loss.dtype)
    if mode == "seq-mean-token-sum-norm":
        total = total / (mask.shape[-1] if max_len is None else max_len)
    return total
