"""Dr.GRPO (Liu et al., arXiv 2503.20783): GRPO without the std and length biases.

Group-mean advantages without the std division; the token sum divided by a constant
(N_seq · T_max, `seq-mean-token-sum-norm`); no dual clip, no KL (docs/algorithms.md §3).
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient


@register
class DrGRPO(PolicyGradient):
    name = "dr_grpo"
    display_name = "Dr.GRPO"
    paper = "arXiv 2503.20783"
    defaults = dict(advantage="dr_grpo", loss_agg_mode="seq-mean-token-sum-norm")
