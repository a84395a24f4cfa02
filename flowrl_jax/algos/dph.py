"""DPH-RL (arXiv 2509.07430): PPO exploration plus a mass-covering f-divergence to the initial
policy on stored samples it already solves.

Group/group advantages, clip 0.2 / 0.28 with dual clip 3, token-mean on the online samples;
η·f(π_θ/π_ref) (token-mean) on a batch of stored D_pef samples each step. Three generators:
forward KL (DPH-F), Jensen–Shannon (DPH-JS), α-divergence.
"""

from flowrl_jax.algos.base import Algorithm, register

_DPH = dict(
    advantage="grpo",
    clip_ratio_low=0.2,
    clip_ratio_high=0.28,
    clip_ratio_c=3.0,
    loss_agg_mode="token-mean",
    eta=0.01,
)

DPH_FORWARD_KL = register(
    Algorithm(
        name="dph_forward_kl",
        paper="arXiv 2509.07430",
        defaults={**_DPH, "divergence": "forward_kl"},
    )
)
DPH_JS = register(
    Algorithm(name="dph_js", paper="arXiv 2509.07430", defaults={**_DPH, "divergence": "js"})
)
DPH_ALPHA = register(
    Algorithm(
        name="dph_alpha",
        paper="arXiv 2509.07430",
        defaults={**_DPH, "divergence": "alpha", "alpha": 0.2},
    )
)
