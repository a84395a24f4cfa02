"""FlowRL (Zhu et al., arXiv 2509.15207): match the reward distribution with trajectory balance.

δ_i = log Z_φ(x) + mean_t log π_θ − β·r̂_i − mean_t log π_ref, with r̂ the GRPO advantage,
β = 15, a learned log-Z head on the prompt's hidden states, and the sequence importance
weight clipped to [0.8, 1.2] (the paper text; `weight_mode` switches to the code's variants).
Loss Σ_i w_i·δ_i² / N_seq.
"""

from flowrl_jax.algos.base import Algorithm, register

FLOWRL = register(
    Algorithm(
        name="flowrl",
        paper="arXiv 2509.15207",
        defaults=dict(
            objective="trajectory_balance",
            advantage="grpo",
            beta=15.0,
            weight_mode="clip",
            weight_clip=0.2,
            use_logz=True,
            length_normalize=True,
            logz_exclude_last_prompt_token=True,
        ),
    )
)
