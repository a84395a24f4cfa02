"""FlowRL on math with Qwen2.5-7B, at the paper's settings (docs/algorithms.md §5, "Paper
hyper-parameters"): 512 prompts x 8 responses per step, mini-batches of 32 prompts, prompts up
to 2048 tokens, responses up to 8192, AdamW lr 1e-6 with 10 warm-up steps, weight decay 0.1.

Hardware: a TPU v5p-128 slice (64 chips of 95 GiB), mesh fsdp=64; `flowrl-jax plan` on this
file says it fits (README, "Scale out"). Weights in float32 (the master copy), compute in
bfloat16, every decoder layer rematerialised. Paths are placeholders: point model_path and the
data files at local copies.
"""

from flowrl_jax.train.config import base_config, for_algorithm


def get_config():
    c = base_config()
    c.task = "math"
    c.model_path = "/data/Qwen2.5-7B"
    c.model.architecture = "qwen2.5-7b"  # for `plan` before the weights are on disk
    c.model.remat = "full"
    c.workdir = "runs/paper/flowrl_qwen2.5_7b_math"
    c.dtype = "bfloat16"
    c.param_dtype = "float32"
    c.mesh.data = 1
    c.mesh.fsdp = 64
    c.mesh.tensor = 1
    c.mesh.device_memory_gib = 95.0
    c.steps = 1000
    c.data.train_path = "/data/dapo_math.jsonl"
    c.data.eval_path = "/data/aime24.jsonl"
    c.data.chat_template = True
    c.data.max_prompt_len = 2048
    c.rollout.prompts_per_step = 512
    c.rollout.group_size = 8
    c.rollout.temperature = 1.0
    c.rollout.max_new_tokens = 8192
    c.rollout.prompts_per_call = 64  # 512 or 1024 sequences per sampler call: bounds the KV cache
    c.optim.lr = 1e-6
    c.optim.warmup_steps = 10
    c.optim.weight_decay = 0.1
    c.optim.mini_batch_prompts = 32
    c.optim.micro_batch_size = 64
    c.reward.correct = 1.0
    c.reward.wrong = -1.0
    c.eval.num_problems = 0
    c.eval.num_samples = 16
    c.eval.temperature = 0.6
    c.eval.top_p = 0.95
    c.eval.ks = (1, 16)
    c.eval.every = 50
    c.checkpoint.every = 50
    return for_algorithm("flowrl", c)
