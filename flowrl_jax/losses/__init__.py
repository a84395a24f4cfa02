"""Pure loss kernels: aggregation, advantages, policy losses, divergences, trajectory balance.

Every function takes arrays and returns arrays (plus a metrics dict for losses), is jit-, vmap-
and grad-able, and never lets NaN/inf in masked positions reach a value or a gradient. The
formulas, their defaults and the function that computes each are in docs/algorithms.md §1–§5.
"""

from flowrl_jax.losses.advantages import (
    broadcast_to_tokens,
    discounted_returns,
    gae_advantages,
    group_normalized_advantages,
    kl_penalized_rewards,
    outcome_token_rewards,
    overlong_penalty,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
    uniform_group_mask,
    whiten,
)
from flowrl_jax.losses.aggregation import (
    AGG_MODES,
    aggregate,
    masked_mean,
    masked_sum,
    normalizers,
)
from flowrl_jax.losses.divergences import (
    F_DIVERGENCES,
    KL_KINDS,
    f_alpha,
    f_divergence,
    f_forward_kl,
    f_js,
    kl_estimate,
)
from flowrl_jax.losses.flow import (
    WEIGHT_MODES,
    importance_weights,
    sequence_log_likelihood,
    trajectory_balance_loss,
    trajectory_balance_residual,
)
from flowrl_jax.losses.policy import gspo_loss, ppo_clip_loss, value_loss
from flowrl_jax.losses.registry import (
    AdvantageFn,
    PolicyLossFn,
    advantage_names,
    get_advantage_fn,
    get_policy_loss_fn,
    policy_loss_names,
    register_advantage,
    register_policy_loss,
)

__all__ = [
    "AGG_MODES",
    "F_DIVERGENCES",
    "KL_KINDS",
    "WEIGHT_MODES",
    "AdvantageFn",
    "PolicyLossFn",
    "advantage_names",
    "aggregate",
    "broadcast_to_tokens",
    "discounted_returns",
    "f_alpha",
    "f_divergence",
    "f_forward_kl",
    "f_js",
    "gae_advantages",
    "get_advantage_fn",
    "get_policy_loss_fn",
    "group_normalized_advantages",
    "gspo_loss",
    "importance_weights",
    "kl_estimate",
    "kl_penalized_rewards",
    "masked_mean",
    "masked_sum",
    "normalizers",
    "outcome_token_rewards",
    "overlong_penalty",
    "policy_loss_names",
    "ppo_clip_loss",
    "register_advantage",
    "register_policy_loss",
    "reinforce_pp_advantages",
    "reinforce_pp_baseline_advantages",
    "rloo_advantages",
    "sequence_log_likelihood",
    "trajectory_balance_loss",
    "trajectory_balance_residual",
    "uniform_group_mask",
    "value_loss",
    "whiten",
]
