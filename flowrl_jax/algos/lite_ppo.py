"""Lite PPO ("Tricks or Traps", Liu et al., arXiv 2508.08221).

Critic-free PPO with two tricks only: group-mean / batch-std advantage normalisation and
token-level loss aggregation. Clip ε = 0.2, no dual clip (the paper does not say), no KL
(docs/algorithms.md §2–§3).
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient


@register
class LitePPO(PolicyGradient):
    name = "lite_ppo"
    display_name = "Lite PPO"
    paper = "arXiv 2508.08221"
    defaults = dict(advantage="lite_ppo")
