"""dr_grpo on the embedded Countdown task; what the name means is in flowrl_jax/algos/."""

from flowrl_jax.train.config import countdown_config


def get_config():
    return countdown_config("dr_grpo")
