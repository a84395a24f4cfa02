"""Lite PPO on math with Qwen3-8B ("Tricks or Traps? A Deep Dive into RL for LLM Reasoning", arXiv
2508.08221: the table comparing Lite PPO with GRPO and DAPO on the aligned Qwen3-8B, mean
accuracy over six math benchmarks; Lite PPO 66.96 on the hard data, 62.17 on the easy,
docs/algorithms.md §7).

The algorithm: critic-free PPO-clip (ε 0.2) with group-mean / batch-std advantages and
token-level aggregation, and nothing else (`lite_ppo`, docs/algorithms.md §3).

The paper ran on alibaba/ROLL and released no scripts of its own: the settings the three runs
share, each with its source (the paper as summarised, else ROLL's example for this model,
examples/qwen3-8B-rlvr_megatron/rlvr_config.yaml), are in
`flowrl_jax.train.papers.lite_ppo_math`. Not published: the group size, the mini-batch, the
rollout and evaluation sampling, the step count and the training files (easy and hard sets). The
ROLL of the paper's time normalised each micro-batch's loss by its own tokens (docs/
algorithms.md §1); with ROLL's one response per device per micro-batch that is a per-sequence
mean, which would undo the token-level aggregation the paper describes: this config keeps the
exact mini-batch normaliser (algo.normalizer=global).

Hardware: two nodes of 8 GPUs of 80 GB (H800 / H100; ROLL's example trains on 16), mesh fsdp=16;
`flowrl-jax plan` on this file says it fits. Paths are placeholders.
"""

from flowrl_jax.train.papers import lite_ppo_math


def get_config():
    return lite_ppo_math("lite_ppo", workdir="runs/paper/lite_ppo_qwen3_8b_math")
