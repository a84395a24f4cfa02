"""Budgets for the demo tests: the real code paths, sized for seconds on one core."""

from __future__ import annotations

from flowrl_jax.train.pretrain import BaseRecipe

TINY_RECIPE = BaseRecipe(
    num_train=64,
    hidden_size=32,
    intermediate_size=64,
    num_layers=1,
    num_heads=4,
    num_kv_heads=2,
    steps=150,
    batch_size=32,
    warmup_steps=10,
    lr=1e-2,
)
"""The base-model recipe with a tiny model trained for seconds on 64 problems: it half-memorises
them, so RL on the first 16 of them (the RL train split is a prefix of the same stream) starts
with rewards that are neither all 0 nor all 1, and has room to go up."""
