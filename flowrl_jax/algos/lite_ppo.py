"""Lite PPO ("Tricks or Traps", Liu et al., arXiv 2508.08221).

Critic-free PPO with two tricks only: group-mean / batch-std advantage normalisation and
token-level loss aggregation. Clip ε = 0.2, no dual clip (the paper does not say), no KL.
"""

from flowrl_jax.algos.base import Algorithm, register

LITE_PPO = register(
    Algorithm(
        name="lite_ppo",
        paper="arXiv 2508.08221",
        defaults=dict(advantage="lite_ppo", loss_agg_mode="token-mean"),
    )
)
