"""A policy that has learned the toy task, for DPH-RL's D_pef (the tiny policy is suite-wide)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def solved_toy_policy(tiny_model, tmp_path_factory) -> str:
    """The tiny policy after GRPO on the toy task: it solves most prompts (for DPH-RL's D_pef)."""
    from train_fixtures import toy_config

    from flowrl_jax.train.trainer import Trainer

    workdir = tmp_path_factory.mktemp("grpo_toy")
    config = toy_config(tiny_model, workdir, "grpo", steps=30, **{"checkpoint.export_hf": True})
    Trainer(config).train()
    return str(workdir / "export")
