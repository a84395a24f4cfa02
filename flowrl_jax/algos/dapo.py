"""DAPO (Yu et al., arXiv 2503.14476).

Group/group advantages, clip-higher (ε_low 0.2, ε_high 0.28), token-mean, no KL; dynamic
sampling drops groups whose correctness is all equal and samples again (bounded retries);
overlong shaping penalises responses within L_b tokens of the limit.
"""

from flowrl_jax.algos.base import Algorithm, register

DAPO = register(
    Algorithm(
        name="dapo",
        paper="arXiv 2503.14476",
        defaults=dict(
            advantage="grpo",
            clip_ratio_low=0.2,
            clip_ratio_high=0.28,
            loss_agg_mode="token-mean",
            dynamic_sampling=True,
            max_resample=3,
            overlong_buffer=4,
            overlong_penalty=1.0,
        ),
    )
)
