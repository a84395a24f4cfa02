"""The algorithms of docs/algorithms.md §3, one module each, registered by name.

`get_algorithm(name)` is the class, `make_algorithm(config.algo)` an instance with a run's
values; `algorithm_names()` lists them. `docs/extending.md` shows how to add one.
"""

from flowrl_jax.algos import dapo, dph, dr_grpo, flowrl, grpo, lite_ppo, ppo, reinforce_pp, rloo
from flowrl_jax.algos.base import (
    Algorithm,
    Params,
    RunContext,
    algorithm_names,
    config_fields,
    get_algorithm,
    make_algorithm,
    register,
)
from flowrl_jax.algos.policy_gradient import PolicyGradient, PolicyGradientParams

__all__ = [
    "Algorithm",
    "Params",
    "PolicyGradient",
    "PolicyGradientParams",
    "RunContext",
    "algorithm_names",
    "config_fields",
    "dapo",
    "dph",
    "dr_grpo",
    "flowrl",
    "get_algorithm",
    "grpo",
    "lite_ppo",
    "make_algorithm",
    "ppo",
    "register",
    "reinforce_pp",
    "rloo",
]
