"""FlowRL trajectory balance (arXiv 2509.15207; docs/algorithms.md §5).

Per sequence i, with length n_i = Σ_t m and r̂_i the GRPO advantage of s_i:

    lbar_i = Σ_t m·lp / (n_i + 1e-8)           (gradient flows)
    lref_i = Σ_t m·lp_ref / (n_i + 1e-8)       (constant)
    δ_i    = logZ_i + lbar_i − β·r̂_i − lref_i   (β = 15)
    w_i    = sg(exp(Σ_t m·(lp − lp_old)))       (mode none | raw | clip | max)
    L      = Σ_i w_i·δ_i² / N_seq               (N_seq of the whole mini-batch)

``length_normalize=False`` uses sums instead of means; passing ``log_z=None`` is the no-head
ablation (logZ = 0); passing ``lp_old`` as ``lp_ref`` is the "reference = old policy" ablation.
Sequences with n_i = 0 are not counted (as in the aggregation of §1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from flowrl_jax.losses.aggregation import as_float, as_mask, masked, masked_mean

WEIGHT_MODES = ("none", "raw", "clip", "max")
LENGTH_EPS = 1e-8

sg = jax.lax.stop_gradient


def sequence_log_likelihood(
    lp: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    length_normalize: bool = True,
) -> jax.Array:
    """[B] Σ_t m·lp / (n_i + 1e-8), or Σ_t m·lp with ``length_normalize=False`` (FlowRL §5)."""
    mask = as_mask(mask)
    total = jnp.sum(masked(lp, mask), axis=-1)
    if not length_normalize:
        return total
    return total / (jnp.sum(mask, axis=-1).astype(total.dtype) + LENGTH_EPS)


def trajectory_balance_residual(
    lp: jax.typing.ArrayLike,
    lp_ref: jax.typing.ArrayLike,
    advantages: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    log_z: jax.typing.ArrayLike | None,
    beta: float = 15.0,
    length_normalize: bool = True,
) -> jax.Array:
    """Trajectory-balance residual δ_i = logZ_i + lbar_i − β·r̂_i − lref_i (arXiv 2509.15207).

    Args:
      lp: [B, T] log-probs under π_θ (gradient flows).
      lp_ref: [B, T] reference log-probs (constant).
      advantages: [B] r̂_i, the GRPO (group/group) advantage of the reward (constant).
      mask: [B, T] response mask.
      log_z: [B] log Z_φ(x_i) from the log-Z head (gradient flows), or None for logZ = 0.
      beta: β, the reward temperature (default 15).
      length_normalize: token means (default) or sums for lbar and lref.

    Returns:
      [B] δ; rows with n_i = 0 give logZ − β·r̂ (they are excluded from the loss).
    """
    mask = as_mask(mask)
    lbar = sequence_log_likelihood(lp, mask, length_normalize=length_normalize)
    lref = sg(sequence_log_likelihood(lp_ref, mask, length_normalize=length_normalize))
    delta = lbar - beta * sg(as_float(advantages)) - lref
    return delta if log_z is None else delta + as_float(log_z)


def importance_weights(
    lp: jax.typing.ArrayLike,
    lp_old: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    weight_mode: str = "clip",
    weight_clip: float = 0.2,
    weight_max: float = 10.0,
) -> tuple[jax.Array, jax.Array]:
    """Sequence importance weights w_i = sg(exp(Σ_t m·(lp − lp_old))) of FlowRL (§5).

    Modes: ``clip`` (default, the paper text) clips log w to [log(1 − ε), log(1 + ε)];
    ``raw`` (the paper-reproduction code) is unclipped, so an overflow gives inf and a skipped
    step; ``max`` (the later official recipe) clips log w above at log C; ``none`` gives w = 1.
    Clipping happens on the log-weight, before exp.

    Args:
      lp: [B, T] log-probs under π_θ.
      lp_old: [B, T] behaviour log-probs.
      mask: [B, T] response mask.
      weight_mode: ``none`` | ``raw`` | ``clip`` | ``max``.
      weight_clip: ε of ``clip`` (default 0.2), 0 < ε < 1.
      weight_max: C of ``max`` (default 10), C > 0.

    Returns:
      (w [B] constant, clipped [B] bool: where the clip changed the weight).
    """
    mask = as_mask(mask)
    log_w = sg(jnp.sum(masked(lp, mask) - masked(lp_old, mask), axis=-1))
    if weight_mode == "none":
        return jnp.ones_like(log_w), jnp.zeros(log_w.shape, bool)
    if weight_mode == "raw":
        return jnp.exp(log_w), jnp.zeros(log_w.shape, bool)
    if weight_mode == "clip":
        if not 0.0 < weight_clip < 1.0:
            raise ValueError(f"weight_mode='clip' needs 0 < weight_clip < 1, got {weight_clip}")
        lo, hi = math.log1p(-weight_clip), math.log1p(weight_clip)
    elif weight_mode == "max":
        if not weight_max > 0.0:
            raise ValueError(f"weight_mode='max' needs weight_max > 0, got {weight_max}")
        lo, hi = -jnp.inf, math.log(weight_max)
    else:
        raise ValueError(f"unknown weight_mode {weight_mode!r}; valid: {', '.join(WEIGHT_MODES)}")
    clipped_log_w = jnp.clip(log_w, lo, hi)
    return jnp.exp(clipped_log_w), clipped_log_w != log_w


def trajectory_balance_loss(
    lp: jax.typing.ArrayLike,
    lp_old: jax.typing.ArrayLike,
    lp_ref: jax.typing.ArrayLike,
    advantages: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    log_z: jax.typing.ArrayLike | None,
    beta: float = 15.0,
    length_normalize: bool = True,
    weight_mode: str = "clip",
    weight_clip: float = 0.2,
    weight_max: float = 10.0,
    num_seqs: jax.typing.ArrayLike | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """FlowRL loss L = Σ_i w_i·δ_i² / N_seq (arXiv 2509.15207; docs/algorithms.md §5).

    Exact under micro-batching: pass the N_seq of the whole mini-batch (``normalizers(mask,
    "seq-mean-token-mean")["num_seqs"]``) and sum the micro-batch losses.

    Args:
      lp: [B, T] log-probs under π_θ at the rollout temperature (gradient flows).
      lp_old: [B, T] behaviour log-probs (for the importance weight).
      lp_ref: [B, T] reference log-probs (constant).
      advantages: [B] r̂_i, the GRPO (group/group) advantage of the reward.
      mask: [B, T] response mask.
      log_z: [B] output of the log-Z head (gradient flows), or None for the no-head ablation.
      beta: β (default 15).
      length_normalize: token means (default) or sums in δ.
      weight_mode: ``clip`` (default) | ``raw`` | ``max`` | ``none``; see
        :func:`importance_weights`.
      weight_clip: ε of ``clip`` (default 0.2).
      weight_max: C of ``max`` (default 10).
      num_seqs: global N_seq (sequences with n_i > 0); None counts them in ``mask``.

    Returns:
      (scalar loss, metrics) with metrics over the sequences with n_i > 0: ``delta_mean`` (mean
      δ), ``log_z_mean``, ``weight_mean`` (mean w), ``weight_clipfrac`` (fraction of clipped
      weights).
    """
    mask = as_mask(mask)
    seq_valid = jnp.any(mask, axis=-1)
    delta = trajectory_balance_residual(
        lp, lp_ref, advantages, mask, log_z=log_z, beta=beta, length_normalize=length_normalize
    )
    w, clipped = importance_weights(
        lp,
        lp_old,
        mask,
        weight_mode=weight_mode,
        weight_clip=weight_clip,
        weight_max=weight_max,
    )
    per_seq = jnp.where(seq_valid, w * jnp.square(jnp.where(seq_valid, delta, 0)), 0)
    n_seq = jnp.sum(seq_valid) if num_seqs is None else num_seqs
    n_seq = jnp.asarray(n_seq, per_seq.dtype)
    loss = jnp.sum(per_seq) / jnp.where(n_seq > 0, n_seq, 1)
    log_z_mean = 0.0 if log_z is None else masked_mean(sg(log_z), seq_valid)
    metrics = {
        "delta_mean": masked_mean(sg(delta), seq_valid),
        "log_z_mean": jnp.asarray(log_z_mean, per_seq.dtype),
        "weight_mean": masked_mean(w, seq_valid),
        "weight_clipfrac": masked_mean(clipped, seq_valid),
    }
    return loss, metrics
