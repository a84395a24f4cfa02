"""RLOO (Ahmadian et al., arXiv 2402.14740): REINFORCE with a leave-one-out baseline.

A_i = s_i − mean of the other responses of the group; PPO clip, token-mean
(docs/algorithms.md §2).
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient


@register
class RLOO(PolicyGradient):
    name = "rloo"
    display_name = "RLOO"
    paper = "arXiv 2402.14740"
    defaults = dict(advantage="rloo")
