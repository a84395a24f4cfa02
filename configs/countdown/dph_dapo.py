"""dph_dapo on the embedded Countdown task; what the name means is in flowrl_jax/algos/."""

from flowrl_jax.train.config import countdown_config


def get_config():
    return countdown_config("dph_dapo")
