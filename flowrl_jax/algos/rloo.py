"""RLOO (Ahmadian et al., arXiv 2402.14740): REINFORCE with a leave-one-out baseline.

A_i = s_i − mean of the other responses of the group; PPO clip, token-mean.
"""

from flowrl_jax.algos.base import Algorithm, register

RLOO = register(Algorithm(name="rloo", paper="arXiv 2402.14740", defaults=dict(advantage="rloo")))
