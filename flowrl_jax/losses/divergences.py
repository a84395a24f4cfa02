"""KL estimators and f-divergence generators (docs/algorithms.md §4).

KL estimators of KL(π_θ ‖ π_ref) on samples of the current policy, with d = lp − lp_ref
(Schulman, "Approximating KL divergence", 2020; k3 as in verl's ``low_var_kl``):

    k1   d
    abs  |d|
    k2   ½ d²
    k3   x = clip(−d, −20, 20);  exp(x) − x − 1, clipped to [−10, 10]

f-divergence generators for DPH-RL (arXiv 2509.07430) on stored reference samples, with
d = lp − lp_ref and u = exp(d); the per-token term is f(u). Each is written in the form that stays
≥ 0 in float32 near u = 1:

    forward_kl  u − 1 − log u                        = expm1(d) − d,   d ∈ [−20, 20], f ∈ [−10, 10]
    js          u log u − (u+1) log((u+1)/2)         = u·(−log1p(expm1(−d)/2)) − log1p(expm1(d)/2)
    alpha       (u^{1−α} − (1−α)u − α) / (α(α−1))    = (expm1((1−α)d) − (1−α)·expm1(d)) / (α(α−1))

For ``js`` and ``alpha`` d is clipped to ±20 as well (the released code has no clamp and overflows
for d ≳ 88; a stated deviation). Inputs of lower precision than float32 (bfloat16) are computed in
float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowrl_jax.losses.aggregation import as_mask, masked

KL_KINDS = ("k1", "abs", "k2", "k3")
F_DIVERGENCES = ("forward_kl", "js", "alpha")

LOG_RATIO_CLIP = 20.0  # |d| bound before exp, for k3 and the f-divergences
VALUE_CLIP = 10.0  # |value| bound of k3 and of the forward-KL generator


def kl_estimate(
    lp: jax.typing.ArrayLike,
    lp_ref: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    kind: str = "k3",
) -> jax.Array:
    """Per-token estimate of KL(π_θ ‖ π_ref) (docs/algorithms.md §4.1; Schulman 2020).

    Args:
      lp: [B, T] log-probs of the sampled tokens under π_θ.
      lp_ref: [B, T] log-probs under the reference π_ref.
      mask: [B, T] response mask.
      kind: ``k1`` (d), ``abs`` (|d|), ``k2`` (½d²) or ``k3`` (low variance, clamped).

    Returns:
      [B, T] token values, 0 at masked positions. Aggregate with :func:`aggregate`. Used for the
      KL-to-reference regulariser (GRPO, arXiv 2402.03300) and the RKL baseline of DPH-RL.
    """
    mask = as_mask(mask)
    d = masked(lp, mask) - masked(lp_ref, mask)
    if kind == "k1":
        value = d
    elif kind == "abs":
        value = jnp.abs(d)
    elif kind == "k2":
        value = 0.5 * jnp.square(d)
    elif kind == "k3":
        x = jnp.clip(-d, -LOG_RATIO_CLIP, LOG_RATIO_CLIP)
        value = jnp.clip(jnp.expm1(x) - x, -VALUE_CLIP, VALUE_CLIP)
    else:
        raise ValueError(f"unknown KL estimator {kind!r}; valid kinds: {', '.join(KL_KINDS)}")
    return jnp.where(mask, value, 0)


def f_forward_kl(d: jax.Array) -> jax.Array:
    """Forward-KL generator f(u) = u − 1 − log u of d = log u, as expm1(d) − d (DPH-F).

    d is clipped to ±20 and the value to [−10, 10], as in the released DPH-RL code.
    """
    d = jnp.clip(d, -LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    return jnp.clip(jnp.expm1(d) - d, -VALUE_CLIP, VALUE_CLIP)


def f_js(d: jax.Array) -> jax.Array:
    """Jensen–Shannon generator f(u) = u log u − (u+1) log((u+1)/2) of d = log u (DPH-JS).

    Twice the textbook JS generator (the factor goes into η). Computed as
    u·(−log1p(expm1(−d)/2)) − log1p(expm1(d)/2), with d clipped to ±20.
    """
    d = jnp.clip(d, -LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    return jnp.exp(d) * -jnp.log1p(0.5 * jnp.expm1(-d)) - jnp.log1p(0.5 * jnp.expm1(d))


def f_alpha(d: jax.Array, alpha: float) -> jax.Array:
    """α-divergence generator f(u) = (u^{1−α} − (1−α)u − α) / (α(α−1)) of d = log u, 0 < α < 1.

    Computed as (expm1((1−α)d) − (1−α)·expm1(d)) / (α(α−1)), with d clipped to ±20. α → 1 gives
    the forward-KL generator u − 1 − log u, α → 0 gives u log u − u + 1.
    """
    d = jnp.clip(d, -LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    a1 = 1.0 - alpha
    return (jnp.expm1(a1 * d) - a1 * jnp.expm1(d)) / (alpha * (alpha - 1.0))


def f_divergence(
    lp: jax.typing.ArrayLike,
    lp_ref: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    kind: str = "forward_kl",
    alpha: float = 0.2,
) -> jax.Array:
    """Per-token f(u), u = exp(lp − lp_ref), on stored reference samples (DPH-RL, arXiv 2509.07430).

    Args:
      lp: [B, T] log-probs of the stored sample's tokens under π_θ (gradient flows).
      lp_ref: [B, T] stored log-probs of the same tokens under the initial policy.
      mask: [B, T] response mask (restrict it to stored samples with the per-sample type mask).
      kind: ``forward_kl`` (DPH-F) | ``js`` (DPH-JS) | ``alpha``.
      alpha: α of the α-divergence, 0 < α < 1 (default 0.2); ignored by the other kinds.

    Returns:
      [B, T] f values, 0 at masked positions. The DPH-RL term is η · aggregate(f, token-mean).
      d/d lp of f is u − 1 (forward KL), u·log(2u/(u+1)) (JS), (u − u^{1−α})/α (α).
    """
    mask = as_mask(mask)
    d = masked(lp, mask) - masked(lp_ref, mask)
    if kind == "forward_kl":
        value = f_forward_kl(d)
    elif kind == "js":
        value = f_js(d)
    elif kind == "alpha":
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha-divergence needs 0 < alpha < 1, got alpha={alpha}")
        value = f_alpha(d, alpha)
    else:
        raise ValueError(f"unknown f-divergence {kind!r}; valid kinds: {', '.join(F_DIVERGENCES)}")
    return jnp.where(mask, value, 0)
