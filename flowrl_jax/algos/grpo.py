"""GRPO (DeepSeekMath, arXiv 2402.03300) as the verl-based baselines of FlowRL and DPH-RL ran it.

Group-mean / group-std advantages, PPO clip with verl's dual clip (c = 3), token-mean
aggregation (the GRPO paper itself used seq-mean-token-mean), no KL by default
(docs/algorithms.md §3). `grpo_rkl` adds the reverse-KL (k3) regulariser to the initial
policy: DPH-RL's RKL baseline, with β = 0.01 as in DPH-RL's released KL setting.
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient

_GRPO = dict(advantage="grpo", clip_ratio_c=3.0, kl_coef=0.0)


@register
class GRPO(PolicyGradient):
    name = "grpo"
    display_name = "GRPO"
    paper = "arXiv 2402.03300"
    defaults = _GRPO


@register
class GRPOReverseKL(PolicyGradient):
    name = "grpo_rkl"
    display_name = "GRPO + KL"
    paper = "arXiv 2509.07430 (RKL baseline)"
    defaults = {**_GRPO, "kl_coef": 0.01, "kl_estimator": "k3"}
