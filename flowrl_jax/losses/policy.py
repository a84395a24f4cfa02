"""Policy and value losses, per token (docs/algorithms.md §3).

Each returns ``(token_loss [B, T], metrics)``; the caller aggregates ``token_loss`` with
:func:`flowrl_jax.losses.aggregate` and the global normalisers. ``lp_old``, the advantages and the
returns are treated as constants (``stop_gradient``). Metrics are masked means over the given
tokens.

PPO clip (arXiv 1707.06347) with clip-higher (DAPO, arXiv 2503.14476) and dual clip
(arXiv 1912.09729), Δ = lp − lp_old, ratio = exp(clip(Δ, −20, 20)):

    p1 = −A·ratio,  p2 = −A·clip(ratio, 1 − ε_low, 1 + ε_high),  c1 = max(p1, p2)
    L  = min(c1, −A·c) if A < 0 else c1        (dual clip; c = None turns it off)

GSPO (arXiv 2507.18071): log s = lp − sg(lp) + sg(masked mean_t Δ), clamped above at 10, then the
clip above without dual clip; aggregate with ``seq-mean-token-mean``.

Value loss (PPO critic): ½·max((V − R)², (clip(V, V_old ± c_v) − R)²).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowrl_jax.losses.aggregation import as_mask, masked, masked_mean

LOG_RATIO_CLIP = 20.0
GSPO_LOG_RATIO_MAX = 10.0

sg = jax.lax.stop_gradient


def _token_advantages(advantages: jax.typing.ArrayLike, mask: jax.Array) -> jax.Array:
    """[B] or [B, T] advantages as constant [B, T], 0 at masked tokens."""
    adv = jnp.asarray(advantages)
    if adv.ndim == mask.ndim - 1:
        adv = adv[..., None]
    return sg(masked(jnp.broadcast_to(adv, mask.shape), mask))


def _check_clip(clip_ratio_low: float, clip_ratio_high: float) -> None:
    if not (0.0 <= clip_ratio_low < 1.0 and clip_ratio_high >= 0.0):
        raise ValueError(
            "PPO clip needs 0 <= clip_ratio_low < 1 and clip_ratio_high >= 0, got "
            f"clip_ratio_low={clip_ratio_low}, clip_ratio_high={clip_ratio_high}"
        )


def _clipped_surrogate(adv, ratio, clip_ratio_low, clip_ratio_high):
    """p1 = −A·ratio, p2 = −A·clip(ratio, 1 − ε_low, 1 + ε_high); returns (max(p1, p2), p2 > p1)."""
    p1 = -adv * ratio
    p2 = -adv * jnp.clip(ratio, 1.0 - clip_ratio_low, 1.0 + clip_ratio_high)
    return jnp.maximum(p1, p2), p2 > p1


def ppo_clip_loss(
    lp: jax.typing.ArrayLike,
    lp_old: jax.typing.ArrayLike,
    advantages: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    clip_ratio_low: float = 0.2,
    clip_ratio_high: float = 0.2,
    clip_ratio_c: float | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO clipped surrogate per token, with clip-higher and dual clip (docs/algorithms.md §3.1).

    PPO arXiv 1707.06347; ε_high > ε_low is DAPO's clip-higher (arXiv 2503.14476); dual clip
    arXiv 1912.09729 (verl always applies it with c = 3; ROLL's optional one uses c = 1 + 2ε).

    Args:
      lp: [B, T] log-probs under π_θ (gradient flows).
      lp_old: [B, T] behaviour log-probs.
      advantages: [B, T] token advantages, or [B] (broadcast to tokens).
      mask: [B, T] response mask.
      clip_ratio_low: ε_low (default 0.2).
      clip_ratio_high: ε_high (default 0.2; 0.28 for clip-higher).
      clip_ratio_c: dual-clip constant c > 1, or None (default) for no dual clip.

    Returns:
      (token_loss [B, T], metrics) with token_loss 0 at masked tokens and metrics
      ``clipfrac`` (mean of p2 > p1), ``dual_clipfrac`` (mean of (c1 > −A·c)·(A < 0); verl's
      pg_clipfrac_lower), ``approx_kl`` (mean of −Δ), ``ratio_mean``.
    """
    _check_clip(clip_ratio_low, clip_ratio_high)
    if clip_ratio_c is not None and not clip_ratio_c > 1.0:
        raise ValueError(f"dual clip needs clip_ratio_c > 1 (or None for off), got {clip_ratio_c}")
    mask = as_mask(mask)
    log_ratio = masked(lp, mask) - sg(masked(lp_old, mask))
    ratio = jnp.exp(jnp.clip(log_ratio, -LOG_RATIO_CLIP, LOG_RATIO_CLIP))
    adv = _token_advantages(advantages, mask)
    loss, clipped = _clipped_surrogate(adv, ratio, clip_ratio_low, clip_ratio_high)
    if clip_ratio_c is None:
        dual_clipped = jnp.zeros_like(mask)
    else:
        p3 = -adv * clip_ratio_c
        dual_clipped = (loss > p3) & (adv < 0)
        loss = jnp.where(adv < 0, jnp.minimum(loss, p3), loss)
    metrics = {
        "clipfrac": masked_mean(clipped, mask),
        "dual_clipfrac": masked_mean(dual_clipped, mask),
        "approx_kl": masked_mean(-log_ratio, mask),
        "ratio_mean": masked_mean(ratio, mask),
    }
    return jnp.where(mask, loss, 0), metrics


def gspo_loss(
    lp: jax.typing.ArrayLike,
    lp_old: jax.typing.ArrayLike,
    advantages: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    clip_ratio_low: float = 3e-4,
    clip_ratio_high: float = 4e-4,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """GSPO: the PPO clip on a sequence-level ratio (arXiv 2507.18071; docs/algorithms.md §3.2).

    log s_{i,t} = lp − sg(lp) + sg(Σ_t m·Δ / n_i), clamped above at 10: its value is the
    length-normalised sequence log-ratio, its gradient that of the token log-prob. No dual clip.
    Aggregate with ``seq-mean-token-mean``.

    Args:
      lp: [B, T] log-probs under π_θ (gradient flows).
      lp_old: [B, T] behaviour log-probs.
      advantages: [B] sequence advantages, or [B, T].
      mask: [B, T] response mask.
      clip_ratio_low: ε_low (default 3e-4, the GSPO paper).
      clip_ratio_high: ε_high (default 4e-4, the GSPO paper).

    Returns:
      (token_loss [B, T], metrics: ``clipfrac``, ``approx_kl``, ``ratio_mean``).
    """
    _check_clip(clip_ratio_low, clip_ratio_high)
    mask = as_mask(mask)
    lp = masked(lp, mask)
    log_ratio = lp - sg(masked(lp_old, mask))
    seq_log_ratio = masked_mean(log_ratio, mask, axis=-1)
    log_s = jnp.minimum(lp - sg(lp) + sg(seq_log_ratio)[..., None], GSPO_LOG_RATIO_MAX)
    ratio = jnp.exp(log_s)
    adv = _token_advantages(advantages, mask)
    loss, clipped = _clipped_surrogate(adv, ratio, clip_ratio_low, clip_ratio_high)
    metrics = {
        "clipfrac": masked_mean(clipped, mask),
        "approx_kl": masked_mean(-log_ratio, mask),
        "ratio_mean": masked_mean(ratio, mask),
    }
    return jnp.where(mask, loss, 0), metrics


def value_loss(
    values: jax.typing.ArrayLike,
    values_old: jax.typing.ArrayLike,
    returns: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    clip_range_value: float | None = 0.5,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Clipped value loss of the PPO critic, per token (arXiv 1707.06347; docs/algorithms.md §2.6).

    ½·max((V − R)², (clip(V, V_old − c_v, V_old + c_v) − R)²).

    Args:
      values: [B, T] critic predictions V (gradient flows).
      values_old: [B, T] values at rollout time V_old.
      returns: [B, T] targets R (from :func:`gae_advantages`).
      mask: [B, T] response mask.
      clip_range_value: c_v (default 0.5); None for the unclipped ½(V − R)².

    Returns:
      (token_loss [B, T], metrics: ``vf_clipfrac`` (mean of clipped > unclipped)).
    """
    mask = as_mask(mask)
    v = masked(values, mask)
    target = sg(masked(returns, mask))
    unclipped = jnp.square(v - target)
    if clip_range_value is None:
        loss, clipped = unclipped, jnp.zeros_like(mask)
    else:
        v_old = sg(masked(values_old, mask))
        v_clip = jnp.clip(v, v_old - clip_range_value, v_old + clip_range_value)
        clipped_loss = jnp.square(v_clip - target)
        loss, clipped = jnp.maximum(unclipped, clipped_loss), clipped_loss > unclipped
    return jnp.where(mask, 0.5 * loss, 0), {"vf_clipfrac": masked_mean(clipped, mask)}
