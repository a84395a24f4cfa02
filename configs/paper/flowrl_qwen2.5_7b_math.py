"""FlowRL on math with Qwen2.5-7B: the 7B rows of the paper's math results table (FlowRL, arXiv
2509.15207: Avg@16 over AIME24/25, AMC23, MATH500, Minerva, OlympiadBench; FlowRL 35.63 against
GRPO 32.48 and PPO 31.98, docs/algorithms.md §7).

Released script: `verl@FlowRL/command/training/math/flowrl_7B_math.sh` (Xuekai-Zhu/FlowRL),
which runs on one node of 8 GPUs; the shared settings and their sources are in
`flowrl_jax.train.papers.flowrl`. Here: 512 prompts x 8 responses per step in mini-batches of 32
prompts, DAPO-Math-17k with its own prompt and the +1 / -1 reward.

Hardware: a TPU v5p-128 slice (64 chips of 95 GiB), mesh fsdp=64; `flowrl-jax plan` on this file
says it fits (README, "Scale out"); on one 8-GPU node of 80 GB it does not (the [S, S] attention
scores of 10k-token micro-batches). Paths are placeholders: point model_path and the data files
at local copies.
"""

from flowrl_jax.train.papers import dapo_math_17k, flowrl


def get_config():
    c = flowrl(
        "math",
        model_path="/data/Qwen2.5-7B",  # PRETRAINED_MODEL=.../Qwen/Qwen2.5-7B
        architecture="qwen2.5-7b",
        workdir="runs/paper/flowrl_qwen2.5_7b_math",
        fsdp=64,
        device_memory_gib=95.0,
        micro_batch_size=64,
        prompts_per_call=64,  # 512 sequences per sampler call
        # Not published: the script's bound is one epoch (trainer.total_epochs=1) of the
        # parquet file; the step count behind the paper's table is not given.
        steps=1000,
    )
    with c.unlocked():
        dapo_math_17k(c)
    return c
