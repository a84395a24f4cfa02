"""The GRPO baseline of Lite PPO on math with Qwen3-8B ("Tricks or Traps? A Deep Dive into RL for
LLM Reasoning", arXiv 2508.08221: the table comparing Lite PPO with GRPO and DAPO on the aligned
Qwen3-8B, mean accuracy over six math benchmarks; the GRPO rows, docs/algorithms.md §7).

The algorithm: group mean / group std advantages (`grpo`). The paper contrasts Lite PPO's
token-level aggregation with GRPO's per-sequence mean (the GRPO paper, arXiv 2402.03300), so the
baseline aggregates per sequence here (algo.loss_agg_mode=seq-mean-token-mean); its KL and dual
clip in the paper's runs are not published: none and verl's 3, the library's `grpo`.

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
    c = lite_ppo_math("grpo", workdir="runs/paper/grpo_qwen3_8b_math")
    with c.unlocked():
        c.algo.loss_agg_mode = "seq-mean-token-mean"  # the GRPO paper's aggregation
    return c
