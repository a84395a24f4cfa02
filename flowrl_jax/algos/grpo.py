"""GRPO (DeepSeekMath, arXiv 2402.03300) as the verl-based baselines of FlowRL and DPH-RL ran it,
and DPH-RL's two KL-regularised baselines (docs/algorithms.md §3.3, §4.2).

`grpo`: group-mean / group-std advantages, PPO clip with verl's dual clip (c = 3), token-mean
aggregation (the GRPO paper itself used seq-mean-token-mean), no KL by default.

DPH-RL (arXiv 2509.07430) compares against two baselines that add the reverse-KL (k3)
regulariser to the initial policy, β = 0.01 (the fork's `kl_loss_coef`), with clip-higher
(ε_high 0.28) and without dynamic sampling or overlong shaping: `grpo_rkl`, its "RKL"
(`scripts/llama/reverse_kl.sh`), and `dph_dapo`, its "DAPO" (`scripts/llama/dapo.sh`). The two
scripts differ only in the KL coefficient, which the RKL script takes from its command line:
at the default they are the same algorithm, kept under the papers' two names.
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient

_GRPO = dict(advantage="grpo", clip_ratio_c=3.0, kl_coef=0.0)
_DPH_BASELINE = {**_GRPO, "clip_ratio_high": 0.28, "kl_coef": 0.01, "kl_estimator": "k3"}


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
    defaults = _DPH_BASELINE


@register
class DPHDAPOBaseline(PolicyGradient):
    name = "dph_dapo"
    display_name = "DAPO (DPH-RL)"
    paper = "arXiv 2509.07430 (DAPO baseline)"
    defaults = _DPH_BASELINE
