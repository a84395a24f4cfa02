"""Lite PPO on math with Qwen3-8B ("Tricks or Traps? A Deep Dive into RL for LLM Reasoning", arXiv
2508.08221: the table comparing Lite PPO with GRPO and DAPO on the aligned Qwen3-8B, mean
accuracy over six math benchmarks; Lite PPO 66.96 on the hard data, 62.17 on the easy,
docs/algorithms.md §7).

The algorithm: critic-free PPO-clip (ε 0.2) with group-mean / batch-std advantages and
token-level aggregation, and nothing else (`lite_ppo`, docs/algorithms.md §3).

Shared settings, their sources (the paper; alibaba/ROLL's example for this model) and what is
not published: `flowrl_jax.train.papers.lite_ppo_math`.

Hardware: 2 x 8 GPUs of 80 GB, fsdp=16 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import lite_ppo_math


def get_config():
    return lite_ppo_math("lite_ppo", workdir="runs/paper/lite_ppo_qwen3_8b_math")
