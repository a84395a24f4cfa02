"""Toy-task configs for trainer tests."""

from __future__ import annotations

import dataclasses

import optax

from flowrl_jax.algos import get_algorithm
from flowrl_jax.train.config import base_config, for_algorithm


def toy_config(model_path: str, workdir, algorithm: str = "grpo", **overrides):
    """`algorithm` on the toy first-character task with budgets for a unit test."""
    c = base_config()
    c.task = "toy_first_char"
    c.model_path = str(model_path)
    c.workdir = str(workdir)
    c.steps = 2
    c.data.max_prompt_len = 8
    c.data.num_train = 64
    c.data.num_eval = 8
    c.rollout.prompts_per_step = 4
    c.rollout.group_size = 4
    c.rollout.max_new_tokens = 4
    c.optim.lr = 1e-2
    c.optim.warmup_steps = 0
    c.optim.micro_batch_size = 8
    c.eval.num_samples = 0
    c.checkpoint.export_hf = False
    c.log.progress = False
    c.log.tensorboard = False
    if "stored_per_step" in {f.name for f in dataclasses.fields(get_algorithm(algorithm).Params)}:
        c.algo.update(pef_samples=2, pef_correct=1, stored_per_step=8)  # DPH-RL
    if algorithm == "dapo":  # a random policy rarely solves the toy task: groups are uniform
        c.algo.ds_fill = True
    c = for_algorithm(algorithm, c)
    with c.unlocked():
        for key, value in overrides.items():
            section, _, name = key.rpartition(".")
            (c[section] if section else c)[name] = value
    return c


def use_sgd(trainer) -> None:
    """Swaps the trainer's AdamW for SGD with lr 1, so an update is the accumulated gradient.

    Comparisons of two update paths (micro-batching, sharding) need this: AdamW's first step
    g/(|g|+eps) turns float noise in near-zero gradients into lr-sized differences.
    """
    trainer.set_optimizer(optax.sgd(1.0))
