"""REINFORCE++ (Hu, arXiv 2501.03262) and its group-baseline variant (docs/algorithms.md §2).

`reinforce_pp`: outcome reward on the last token, return-to-go (γ = 1), whitened over the
batch's valid tokens; `reinforce_pp_baseline`: subtract the group mean first, then whiten.
Both use the PPO clip and token-mean.
"""

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient


@register
class ReinforcePP(PolicyGradient):
    name = "reinforce_pp"
    display_name = "REINFORCE++"
    paper = "arXiv 2501.03262"
    defaults = dict(advantage="reinforce_pp", gamma=1.0)


@register
class ReinforcePPBaseline(PolicyGradient):
    name = "reinforce_pp_baseline"
    display_name = "REINFORCE++ baseline"
    paper = "arXiv 2501.03262"
    defaults = dict(advantage="reinforce_pp_baseline")
