"""Budgets for training a 0.5B-7B Hugging Face checkpoint on a math, code or SQL dataset.

`configs/<task>/<algorithm>.py` is `task_config(task, algorithm)`: the README's "Train on your
own checkpoint" recipe starts from it and sets only the model, the dataset and the columns.
The papers' exact settings are a separate set of configs; these are a sensible start on one
GPU (docs/training.md): lr 1e-6 with a short warm-up, 64 prompts x 8 responses per step in
4 optimizer steps of 16 prompts (DPH-RL adds 8 stored samples to each), bfloat16 compute over
float32 parameters, and an evaluation and a checkpoint every 50 steps.
"""

from __future__ import annotations

import ml_collections

from flowrl_jax.train.config import base_config, for_algorithm

# What differs between the tasks: how long prompts and responses get, what the verifier may
# take per response, and the default prompt template.
TASKS = {
    "math": dict(
        max_prompt_len=1024,
        max_new_tokens=3072,
        timeout_s=5.0,
        prompt_template="{prompt}",
    ),
    "code": dict(
        max_prompt_len=2048,
        max_new_tokens=4096,
        timeout_s=20.0,
        prompt_template="{prompt}",
    ),
    "sql": dict(
        max_prompt_len=2048,
        max_new_tokens=1024,
        timeout_s=10.0,
        prompt_template=(
            "{schema}\n\n-- Using valid SQLite, answer the question for the tables above.\n"
            "-- {prompt}\nWrite the query in a ```sql block."
        ),
    ),
}


def task_config(task: str, algorithm: str) -> ml_collections.ConfigDict:
    """`algorithm` on `task` (math | code | sql) with one-GPU budgets for a 0.5B-7B model.

    The model and the data are the run's own: `model_path`, `data.train_path`,
    `data.eval_path` (and the column names, `data.prompt_field` / `data.answer_field`).
    """
    if task not in TASKS:
        raise ValueError(f"no recipe for task {task!r}; choose one of {sorted(TASKS)}")
    t = TASKS[task]
    c = base_config()
    c.task = task
    c.model_path = ""
    c.workdir = f"runs/{task}/{algorithm}"
    c.dtype = "bfloat16"
    c.param_dtype = "float32"
    c.steps = 300
    c.data.chat_template = True
    c.data.max_prompt_len = t["max_prompt_len"]
    c.data.prompt_template = t["prompt_template"]
    c.rollout.prompts_per_step = 64
    c.rollout.group_size = 8
    c.rollout.max_new_tokens = t["max_new_tokens"]
    c.optim.lr = 1e-6
    c.optim.warmup_steps = 10
    c.optim.mini_batch_prompts = 16
    c.optim.micro_batch_size = 8
    c.reward.timeout_s = t["timeout_s"]
    c.eval.every = 50
    c.eval.num_problems = 128
    c.eval.num_samples = 8
    c.eval.ks = (1, 8)
    c.checkpoint.every = 50
    c = for_algorithm(algorithm, c)
    if algorithm.startswith("dph"):  # 8 stored samples in each of the step's 4 mini-batches
        c.algo.stored_per_step = 32
    return c
