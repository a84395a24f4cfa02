"""REINFORCE++ (Hu, arXiv 2501.03262) and its group-baseline variant (docs/algorithms.md §2).

`reinforce_pp`: outcome reward on the last token minus the token-level KL penalty
β·(lp_old − lp_ref) (k1, β = 0.001), return-to-go (γ = 1), whitened over the batch's valid
tokens; `reinforce_pp_baseline`: the group mean subtracted from the reward first, then whitened.
Both use the PPO clip and token-mean. The KL in the reward is the paper's (its eq. for
r(s_t, a_t) with KL(t) = log π_old/π_SFT); β is verl's `algorithm.kl_ctrl.kl_coef`, which its
REINFORCE++ examples use (`use_kl_in_reward=True`); `algo.kl_reward_coef=0` turns it off.
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient

_KL_IN_REWARD = dict(kl_reward_coef=0.001)


@register
class ReinforcePP(PolicyGradient):
    name = "reinforce_pp"
    display_name = "REINFORCE++"
    paper = "arXiv 2501.03262"
    defaults = dict(advantage="reinforce_pp", gamma=1.0, **_KL_IN_REWARD)


@register
class ReinforcePPBaseline(PolicyGradient):
    name = "reinforce_pp_baseline"
    display_name = "REINFORCE++ baseline"
    paper = "arXiv 2501.03262"
    defaults = dict(advantage="reinforce_pp_baseline", **_KL_IN_REWARD)
