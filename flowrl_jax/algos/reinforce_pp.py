"""REINFORCE++ (Hu, arXiv 2501.03262) and its group-baseline variant.

`reinforce_pp`: outcome reward on the last token, return-to-go (γ = 1), whitened over the
batch's valid tokens; `reinforce_pp_baseline`: subtract the group mean first, then whiten.
Both use the PPO clip and token-mean.
"""

from flowrl_jax.algos.base import Algorithm, register

REINFORCE_PP = register(
    Algorithm(
        name="reinforce_pp",
        paper="arXiv 2501.03262",
        defaults=dict(advantage="reinforce_pp", gamma=1.0),
    )
)
REINFORCE_PP_BASELINE = register(
    Algorithm(
        name="reinforce_pp_baseline",
        paper="arXiv 2501.03262",
        defaults=dict(advantage="reinforce_pp_baseline"),
    )
)
