"""The DAPO baseline of Lite PPO on math with Qwen3-8B ("Tricks or Traps? A Deep Dive into RL for
LLM Reasoning", arXiv 2508.08221: the table comparing Lite PPO with GRPO and DAPO on the aligned
Qwen3-8B, mean accuracy over six math benchmarks; DAPO 64.17 on the hard data, 60.66 on the
easy, docs/algorithms.md §7).

The algorithm: DAPO as its paper (arXiv 2503.14476): clip-higher 0.2 / 0.28, dynamic sampling,
overlong shaping with a buffer of 0.2 of the length limit, token-level aggregation (`dapo`).

Shared settings, their sources (the paper; alibaba/ROLL's example for this model) and what is
not published: `flowrl_jax.train.papers.lite_ppo_math`.

Hardware: 2 x 8 GPUs of 80 GB, fsdp=16 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import lite_ppo_math


def get_config():
    return lite_ppo_math("dapo", workdir="runs/paper/dapo_qwen3_8b_math")
