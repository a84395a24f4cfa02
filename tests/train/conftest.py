"""A tiny random policy with a character tokenizer, shared by the trainer tests."""

from __future__ import annotations

import pytest
from flax import nnx
from flowrl_jax.data.tokenizer import build_char_tokenizer

from flowrl_jax.models import Decoder, ModelConfig, load_tokenizer, save_pretrained


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny_policy")
    tokenizer = load_tokenizer(build_char_tokenizer(path / "tokenizer"))
    config = ModelConfig(
        model_type="qwen2",
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_layers=1,
        num_heads=4,
        num_kv_heads=2,
        head_dim=8,
        qkv_bias=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save_pretrained(Decoder(config, rngs=nnx.Rngs(0)), path / "model", tokenizer=tokenizer)
