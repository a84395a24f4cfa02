"""FlowRL on math with Qwen2.5-32B: the 32B rows of the paper's math results table (FlowRL,
arXiv 2509.15207: FlowRL 48.39 against GRPO 38.34 and PPO 43.25,
docs/algorithms.md §7).

Released script: `verl@FlowRL/command/training/math/flowrl_32B_math.sh` (Xuekai-Zhu/FlowRL): the
7B script's settings (`flowrl_jax.train.papers.flowrl`) on 4 nodes of 8 GPUs with the rollout
split over 4 GPUs (tensor_model_parallel_size=4). Here: DAPO-Math-17k, 512 prompts x 8 responses
per step, mini-batches of 32 prompts, its prompt template and the +1 / -1 reward.

Hardware: the released run's, 4 nodes of 8 GPUs of 80 GB (32 devices), mesh fsdp=8 x tensor=4
(the tensor split of 4 as the script's rollout, which a replicated 32B rollout copy needs: 61
GiB per device without it); `flowrl-jax plan` on this file says it fits. Paths are placeholders.
"""

from flowrl_jax.train.papers import dapo_math_17k, flowrl


def get_config():
    c = flowrl(
        "math",
        model_path="/data/Qwen2.5-32B",  # PRETRAINED_MODEL=.../Qwen/Qwen2.5-32B
        architecture="qwen2.5-32b",
        workdir="runs/paper/flowrl_qwen2.5_32b_math",
        fsdp=8,
        tensor=4,  # tensor_model_parallel_size=4
        device_memory_gib=80.0,
        micro_batch_size=16,
        prompts_per_call=8,
        steps=1000,  # not published (the script's bound: trainer.total_epochs=1)
    )
    with c.unlocked():
        dapo_math_17k(c)
    return c
