"""The algorithms of ALGORITHMS.md §3, registered by name (one module each)."""

from flowrl_jax.algos import dapo, dph, dr_grpo, flowrl, grpo, lite_ppo, ppo, reinforce_pp, rloo
from flowrl_jax.algos.base import Algorithm, algorithm_names, get_algorithm, register

__all__ = [
    "Algorithm",
    "algorithm_names",
    "dapo",
    "dph",
    "dr_grpo",
    "flowrl",
    "get_algorithm",
    "grpo",
    "lite_ppo",
    "ppo",
    "register",
    "reinforce_pp",
    "rloo",
]
