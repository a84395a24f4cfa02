"""GRPO (DeepSeekMath, arXiv 2402.03300) as the verl-based baselines of FlowRL and DPH-RL ran it.

Group-mean / group-std advantages, PPO clip with verl's dual clip (c = 3), token-mean
aggregation (the GRPO paper itself used seq-mean-token-mean), no KL by default.
`grpo_rkl` adds the reverse-KL (k3) regulariser to the initial policy: DPH-RL's RKL baseline,
with β = 0.01 as in DPH-RL's released KL setting.
"""

from flowrl_jax.algos.base import Algorithm, register

_GRPO = dict(advantage="grpo", clip_ratio_c=3.0, loss_agg_mode="token-mean", kl_coef=0.0)

GRPO = register(Algorithm(name="grpo", paper="arXiv 2402.03300", defaults=_GRPO))
GRPO_RKL = register(
    Algorithm(
        name="grpo_rkl",
        paper="arXiv 2509.07430 (RKL baseline)",
        defaults={**_GRPO, "kl_coef": 0.01, "kl_estimator": "k3"},
    )
)
