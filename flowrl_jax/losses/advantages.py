"""Advantage estimators and reward shaping (docs/algorithms.md §2).

Outcome estimators take one scalar reward s_i per sequence and return [B]; broadcast them to
tokens with :func:`broadcast_to_tokens` (A[i]·m[i,t]). Token estimators (REINFORCE++, GAE) take
token rewards [B, T]; :func:`outcome_token_rewards` puts s_i on the last response token.

Groups are identified by integer ids in [0, num_groups); group statistics are segment sums
(``jax.ops.segment_sum``), so ``num_groups`` must be a static Python int (the number of prompts of
the batch is a safe choice). ``valid`` [B] marks the sequences that exist (a batch padded to a
fixed shape); the others do not enter any statistic and get advantage 0.

    group-normalised  A_i = (s_i − μ) / (σ + ε), μ, σ ∈ {group, batch, none}
                      (GRPO arXiv 2402.03300, Dr.GRPO 2503.20783, Lite PPO 2508.08221)
    RLOO              A_i = s_i − mean_{j≠i in group} s_j                (arXiv 2402.14740)
    REINFORCE++       whiten(Σ_{k≥t} γ^{k−t} r_k)·m                      (arXiv 2501.03262)
    REINFORCE++-base  whiten((s_i − μ_group)·m)                          (arXiv 2501.03262)
    GAE               δ_t = r_t + γV_{t+1} − V_t, A_t = δ_t + γλA_{t+1}  (arXiv 1506.02438)
    overlong shaping  clip((L_max − L_b − ℓ)/L_b · p, −p, 0)             (DAPO arXiv 2503.14476)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.losses.aggregation import as_float, as_mask, masked
from flowrl_jax.losses.divergences import kl_estimate

NORM_STATS = ("group", "batch", "none")
WHITEN_EPS = 1e-8


# ----------------------------------------------------------------------------- helpers


def _valid(valid: jax.typing.ArrayLike | None, like: jax.Array) -> jax.Array:
    return jnp.ones(like.shape, bool) if valid is None else as_mask(valid)


def _group_stats(x, valid, group_ids, num_groups):
    """Per-group count, mean and unbiased std of ``x`` over valid entries, gathered back to [B]."""
    seg = functools.partial(jax.ops.segment_sum, segment_ids=group_ids, num_segments=num_groups)
    count = seg(valid.astype(x.dtype))
    mean = seg(jnp.where(valid, x, 0)) / jnp.where(count > 0, count, 1)
    dev = jnp.where(valid, x - mean[group_ids], 0)
    var = seg(jnp.square(dev)) / jnp.where(count > 1, count - 1, 1)
    return count[group_ids], mean[group_ids], jnp.sqrt(var)[group_ids]


def _batch_stats(x, valid):
    """Count, mean and unbiased variance of ``x`` over the valid entries of the whole batch."""
    count = jnp.sum(valid).astype(x.dtype)
    mean = jnp.sum(jnp.where(valid, x, 0)) / jnp.maximum(count, 1)
    var = jnp.sum(jnp.where(valid, jnp.square(x - mean), 0)) / jnp.maximum(count - 1, 1)
    return count, mean, var


def broadcast_to_tokens(advantages: jax.typing.ArrayLike, mask: jax.typing.ArrayLike) -> jax.Array:
    """A[i]·m[i,t]: [B] sequence advantages → [B, T] token advantages (docs/algorithms.md §2)."""
    mask = as_mask(mask)
    return jnp.where(mask, as_float(advantages)[..., None], 0)


def outcome_token_rewards(rewards: jax.typing.ArrayLike, mask: jax.typing.ArrayLike) -> jax.Array:
    """[B] outcome rewards → [B, T] token rewards, s_i on the last valid token of row i.

    The token-reward form of REINFORCE++ (arXiv 2501.03262) and PPO's GAE; rows without valid
    tokens are all 0.
    """
    mask = as_mask(mask)
    t = mask.shape[-1]
    last = t - 1 - jnp.argmax(mask[..., ::-1], axis=-1)
    at_last = (jnp.arange(t) == last[..., None]) & jnp.any(mask, axis=-1, keepdims=True)
    return jnp.where(at_last, as_float(rewards)[..., None], 0)


def kl_penalized_rewards(
    token_rewards: jax.typing.ArrayLike,
    lp_old: jax.typing.ArrayLike,
    lp_ref: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    beta: float,
    kind: str = "k1",
) -> jax.Array:
    """KL in the reward: r_t − β·kl(lp_old, lp_ref), [B, T] (docs/algorithms.md §2.7).

    ``kind="k1"`` gives the specified r_t − β·(lp_old − lp_ref); the other estimators of
    :func:`kl_estimate` are available. 0 at masked positions.
    """
    mask = as_mask(mask)
    penalty = kl_estimate(lp_old, lp_ref, mask, kind=kind)
    return jnp.where(mask, masked(token_rewards, mask) - beta * penalty, 0)


def whiten(
    x: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    shift_mean: bool = True,
    eps: float = WHITEN_EPS,
) -> jax.Array:
    """Masked whitening over all valid entries of the batch (docs/algorithms.md §2.5).

    Used by REINFORCE++ (arXiv 2501.03262) and PPO's GAE (arXiv 1707.06347).

    (x − mean)·rsqrt(var + eps) with the masked mean and unbiased (ddof 1) masked variance; only
    x − mean when there is at most one valid entry. ``shift_mean=False`` adds the mean back
    (scale only).

    Args:
      x: [B, T] (any shape) values.
      mask: same shape, valid entries.

    Returns:
      Same shape, 0 at masked entries.
    """
    mask = as_mask(mask)
    x = masked(x, mask)
    count, mean, var = _batch_stats(x, mask)
    out = jnp.where(count > 1, (x - mean) * jax.lax.rsqrt(var + eps), x - mean)
    if not shift_mean:
        out = out + mean
    return jnp.where(mask, out, 0)


# ----------------------------------------------------------------------------- outcome estimators


def group_normalized_advantages(
    rewards: jax.typing.ArrayLike,
    group_ids: jax.typing.ArrayLike,
    *,
    num_groups: int,
    mean: str = "group",
    std: str = "group",
    eps: float = 1e-6,
    valid: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Group-normalised advantages A_i = (s_i − μ) / (σ + ε) (docs/algorithms.md §2.1, as in ROLL).

    GRPO (arXiv 2402.03300): mean=group, std=group. Dr.GRPO (arXiv 2503.20783): group, none.
    Lite PPO (arXiv 2508.08221): group, batch.

    Args:
      rewards: [B] outcome rewards s_i.
      group_ids: [B] int group (prompt) id of each sequence, in [0, num_groups).
      num_groups: static number of segments.
      mean: μ = ``group`` mean of the sequence's group | ``batch`` mean | ``none`` (0).
      std: σ = ``group`` std | ``batch`` std of the raw rewards | ``none`` (σ = 1 and ε = 0).
      eps: ε added to σ (default 1e-6).
      valid: optional [B] mask of the sequences that exist.

    Returns:
      [B] advantages, 0 for invalid sequences. Stds are unbiased (ddof 1). A group of one valid
      sequence has μ = 0 and σ = 1 (ε is still added, as in verl); a batch with fewer than two
      valid sequences has σ = 1.
    """
    for name, value in (("mean", mean), ("std", std)):
        if value not in NORM_STATS:
            raise ValueError(f"unknown {name}={value!r}; valid: {', '.join(NORM_STATS)}")
    s = as_float(rewards)
    group_ids = jnp.asarray(group_ids)
    valid = _valid(valid, s)
    s = jnp.where(valid, s, 0)
    g_count, g_mean, g_std = _group_stats(s, valid, group_ids, num_groups)
    b_count, b_mean, b_var = _batch_stats(s, valid)

    if mean == "group":
        mu = jnp.where(g_count > 1, g_mean, 0)
    elif mean == "batch":
        mu = b_mean
    else:
        mu = 0.0
    if std == "group":
        sigma = jnp.where(g_count > 1, g_std, 1)
    elif std == "batch":
        sigma = jnp.where(b_count > 1, jnp.sqrt(b_var), 1)
    else:
        sigma, eps = 1.0, 0.0
    return jnp.where(valid, (s - mu) / (sigma + eps), 0)


def _require_pairs(group_ids, valid, num_groups) -> None:
    """Eager check that every non-empty group has ≥ 2 sequences (skipped under tracing)."""
    try:
        ids = np.asarray(group_ids)
        ok = np.ones(ids.shape, bool) if valid is None else np.asarray(valid) != 0
    except jax.errors.TracerArrayConversionError:
        return
    counts = np.bincount(ids[ok], minlength=num_groups)
    singles = np.flatnonzero(counts == 1)
    if singles.size:
        raise ValueError(
            f"RLOO needs at least 2 responses per group; groups {singles.tolist()[:10]} have one. "
            "Sample G > 1 responses per prompt or use another advantage estimator."
        )


def rloo_advantages(
    rewards: jax.typing.ArrayLike,
    group_ids: jax.typing.ArrayLike,
    *,
    num_groups: int,
    valid: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """RLOO: A_i = s_i − mean of the rest of its group (arXiv 2402.14740; docs/algorithms.md §2.2).

    Args:
      rewards: [B] outcome rewards.
      group_ids: [B] int group ids in [0, num_groups).
      num_groups: static number of segments.
      valid: optional [B] mask of the sequences that exist.

    Returns:
      [B] advantages, 0 for invalid sequences. A group with a single sequence raises ValueError
      when the inputs are concrete; under ``jit`` its advantage is NaN (a non-finite gradient, so
      the step is skipped).
    """
    _require_pairs(group_ids, valid, num_groups)
    s = as_float(rewards)
    group_ids = jnp.asarray(group_ids)
    valid = _valid(valid, s)
    s = jnp.where(valid, s, 0)
    count = jax.ops.segment_sum(valid.astype(s.dtype), group_ids, num_segments=num_groups)
    total = jax.ops.segment_sum(s, group_ids, num_segments=num_groups)
    n, tot = count[group_ids], total[group_ids]
    leave_one_out = (tot - s) / jnp.where(n > 1, n - 1, jnp.nan)
    return jnp.where(valid, s - leave_one_out, 0)


def overlong_penalty(
    lengths: jax.typing.ArrayLike,
    *,
    max_len: int,
    buffer_len: int,
    penalty_factor: float = 1.0,
) -> jax.Array:
    """DAPO soft overlong punishment (arXiv 2503.14476; docs/algorithms.md §2.8), added to s_i.

    0 if ℓ ≤ L_max − L_b, else (L_max − L_b − ℓ)/L_b·p, floored at −p.

    Args:
      lengths: [B] response lengths ℓ (tokens).
      max_len: L_max, the maximum response length.
      buffer_len: L_b > 0, the soft-punishment buffer.
      penalty_factor: p ≥ 0 (default 1).

    Returns:
      [B] penalties in [−p, 0].
    """
    if buffer_len <= 0 or penalty_factor < 0:
        raise ValueError(
            f"overlong shaping needs buffer_len > 0 and penalty_factor >= 0, got "
            f"buffer_len={buffer_len}, penalty_factor={penalty_factor}"
        )
    excess = as_float(lengths) - (max_len - buffer_len)
    return jnp.clip(-excess / buffer_len * penalty_factor, -penalty_factor, 0.0)


def uniform_group_mask(
    correct: jax.typing.ArrayLike,
    group_ids: jax.typing.ArrayLike,
    *,
    num_groups: int,
    valid: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """[B] True where the sequence's group has all-equal correctness (DAPO dynamic sampling).

    Dynamic sampling (arXiv 2503.14476; docs/algorithms.md §2.8) drops these groups (0 or G
    correct): filter on correctness, not on the shaped reward.

    Args:
      correct: [B] correctness (bool or 0/1).
      group_ids: [B] int group ids in [0, num_groups).
      num_groups: static number of segments.
      valid: optional [B] mask; invalid sequences are ignored (a group with no valid member is
        uniform).

    Returns:
      [B] bool.
    """
    c = as_float(correct)
    group_ids = jnp.asarray(group_ids)
    valid = _valid(valid, c)
    hi = jax.ops.segment_max(jnp.where(valid, c, -jnp.inf), group_ids, num_segments=num_groups)
    lo = jax.ops.segment_min(jnp.where(valid, c, jnp.inf), group_ids, num_segments=num_groups)
    return (hi <= lo)[group_ids]


# ----------------------------------------------------------------------------- token estimators


def _reverse_scan(step, init, *xs):
    """lax.scan of ``step`` from the last token to the first over [B, T] inputs; [B, T] out."""
    _, out = jax.lax.scan(step, init, tuple(jnp.moveaxis(x, -1, 0) for x in xs), reverse=True)
    return jnp.moveaxis(out, 0, -1)


def discounted_returns(
    token_rewards: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    gamma: float = 1.0,
) -> jax.Array:
    """Return-to-go G_t = r_t + γ·G_{t'}, t' the next valid token (REINFORCE++, arXiv 2501.03262).

    Args:
      token_rewards: [B, T] token rewards.
      mask: [B, T] response mask; masked positions are skipped (their rewards ignored).
      gamma: discount γ (default 1).

    Returns:
      [B, T] returns, 0 at masked positions.
    """
    mask = as_mask(mask)
    r = masked(token_rewards, mask)

    def step(g_next, inp):
        r_t, m_t = inp
        g = jnp.where(m_t, r_t + gamma * g_next, g_next)
        return g, jnp.where(m_t, g, 0)

    return _reverse_scan(step, jnp.zeros(r.shape[:-1], r.dtype), r, mask)


def reinforce_pp_advantages(
    token_rewards: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    gamma: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """REINFORCE++ advantages (arXiv 2501.03262; docs/algorithms.md §2.3).

    Discounted return-to-go over valid tokens, then whitened over all valid tokens of the batch.

    Args:
      token_rewards: [B, T] token rewards (outcome on the last token: :func:`outcome_token_rewards`;
        with KL in the reward: :func:`kl_penalized_rewards`).
      mask: [B, T] response mask.
      gamma: discount γ (default 1).

    Returns:
      (advantages [B, T], returns [B, T]), both 0 at masked tokens.
    """
    returns = discounted_returns(token_rewards, mask, gamma=gamma)
    return whiten(returns, mask), returns


def reinforce_pp_baseline_advantages(
    rewards: jax.typing.ArrayLike,
    group_ids: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    num_groups: int,
    valid: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """REINFORCE++ with baseline (arXiv 2501.03262; docs/algorithms.md §2.4).

    s_i − μ_group (a group of one has μ = 0), broadcast to tokens, whitened over all valid tokens
    of the batch.

    Args:
      rewards: [B] outcome rewards.
      group_ids: [B] int group ids in [0, num_groups).
      mask: [B, T] response mask.
      num_groups: static number of segments.
      valid: optional [B] mask of the sequences that exist.

    Returns:
      [B, T] advantages, 0 at masked tokens and invalid sequences.
    """
    centred = group_normalized_advantages(
        rewards, group_ids, num_groups=num_groups, mean="group", std="none", valid=valid
    )
    mask = as_mask(mask)
    if valid is not None:
        mask = mask & as_mask(valid)[..., None]
    return whiten(broadcast_to_tokens(centred, mask), mask)


def gae_advantages(
    token_rewards: jax.typing.ArrayLike,
    values: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike,
    *,
    gamma: float = 1.0,
    lam: float = 1.0,
    whiten_advantages: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """GAE, the advantages of PPO with a critic (arXiv 1506.02438; docs/algorithms.md §2.6).

    δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1}, over valid tokens only (t+1 is the next
    valid token; V = 0 after the last); returns R = A + V; then A is whitened over the batch.

    Args:
      token_rewards: [B, T] token rewards (outcome on the last token).
      values: [B, T] critic values V_t of the rollout.
      mask: [B, T] response mask.
      gamma: discount γ (default 1).
      lam: λ (default 1).
      whiten_advantages: whiten A over all valid tokens (default True).

    Returns:
      (advantages [B, T], returns [B, T]), both 0 at masked tokens.
    """
    mask = as_mask(mask)
    r = masked(token_rewards, mask)
    v = jax.lax.stop_gradient(masked(values, mask))

    def step(carry, inp):
        v_next, a_next = carry
        r_t, v_t, m_t = inp
        a = r_t + gamma * v_next - v_t + gamma * lam * a_next
        carry = (jnp.where(m_t, v_t, v_next), jnp.where(m_t, a, a_next))
        return carry, jnp.where(m_t, a, 0)

    zeros = jnp.zeros(r.shape[:-1], r.dtype)
    adv = _reverse_scan(step, (zeros, zeros), r, v, mask)
    returns = jnp.where(mask, adv + v, 0)
    if whiten_advantages:
        adv = whiten(adv, mask)
    return adv, returns
