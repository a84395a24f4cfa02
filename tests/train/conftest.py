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


@pytest.fixture(scope="session")
def deep_model(tmp_path_factory) -> str:
    """A random policy deep and wide enough (4 layers of 128) that in bfloat16 the sampler's
    log-probs and the update's differ: on the one-layer tiny policy every XLA program happens
    to round alike."""
    from flax import nnx

    from flowrl_jax.data.tokenizer import build_char_tokenizer
    from flowrl_jax.models import Decoder, ModelConfig, load_tokenizer, save_pretrained

    path = tmp_path_factory.mktemp("deep_policy")
    tokenizer = load_tokenizer(build_char_tokenizer(path / "tokenizer"))
    config = ModelConfig(
        model_type="qwen2",
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_layers=4,
        num_heads=4,
        num_kv_heads=2,
        head_dim=32,
        qkv_bias=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save_pretrained(Decoder(config, rngs=nnx.Rngs(0)), path / "model", tokenizer=tokenizer)
