"""grpo on a code dataset with one-GPU budgets for a 0.5B-7B checkpoint
(flowrl_jax/train/recipes.py); set model_path and data.train_path / eval_path."""

from flowrl_jax.train.recipes import task_config


def get_config():
    return task_config("code", "grpo")
