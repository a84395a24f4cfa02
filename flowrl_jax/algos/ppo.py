"""PPO with a critic (Schulman et al., arXiv 1707.06347), as the verl baselines run it.

GAE (γ = λ = 1) on the value head's predictions, whitened; clipped surrogate with verl's dual
clip (c = 3); token-mean; clipped value loss (c_v = 0.5). The value head is a linear layer on
the policy's final hidden states: it shares the backbone (verl trains a separate critic model;
sharing halves the memory and is the usual single-model variant).
"""

from flowrl_jax.algos.base import Algorithm, register

PPO = register(
    Algorithm(
        name="ppo",
        paper="arXiv 1707.06347",
        defaults=dict(advantage="gae", gamma=1.0, lam=1.0, clip_ratio_c=3.0, vf_coef=0.5),
    )
)
