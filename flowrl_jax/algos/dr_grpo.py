"""Dr.GRPO (Liu et al., arXiv 2503.20783): GRPO without the std and length biases.

Group-mean advantages without the std division; sum over tokens divided by a constant
(N_seq · T_max, `seq-mean-token-sum-norm`); no dual clip, no KL.
"""

from flowrl_jax.algos.base import Algorithm, register

DR_GRPO = register(
    Algorithm(
        name="dr_grpo",
        paper="arXiv 2503.20783",
        defaults=dict(advantage="dr_grpo", loss_agg_mode="seq-mean-token-sum-norm"),
    )
)
