"""The GRPO baseline of Lite PPO on math with Qwen3-8B ("Tricks or Traps? A Deep Dive into RL for
LLM Reasoning", arXiv 2508.08221: the table comparing Lite PPO with GRPO and DAPO on the aligned
Qwen3-8B, mean accuracy over six math benchmarks; the GRPO rows, docs/algorithms.md §7).

The algorithm: group mean / group std advantages (`grpo`). The paper contrasts Lite PPO's
token-level aggregation with GRPO's per-sequence mean (the GRPO paper, arXiv 2402.03300), so the
baseline aggregates per sequence here (algo.loss_agg_mode=seq-mean-token-mean); its KL and dual
clip in the paper's runs are not published: none and verl's 3, the library's `grpo`.

Shared settings, their sources (the paper; alibaba/ROLL's example for this model) and what is
not published: `flowrl_jax.train.papers.lite_ppo_math`.

Hardware: 2 x 8 GPUs of 80 GB, fsdp=16 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import lite_ppo_math


def get_config():
    c = lite_ppo_math("grpo", workdir="runs/paper/grpo_qwen3_8b_math")
    with c.unlocked():
        c.algo.loss_agg_mode = "seq-mean-token-mean"  # the GRPO paper's aggregation
    return c
