"""Tiny random decoders and prompts for the sampler tests (built in-process: no download)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from flowrl_jax.models import Decoder, ModelConfig


def tiny_config(vocab_size: int = 97, num_layers: int = 2) -> ModelConfig:
    return ModelConfig(
        model_type="qwen2",
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_layers=num_layers,
        num_heads=4,
        num_kv_heads=2,
        head_dim=8,
        qkv_bias=True,
    )


def random_decoder(config: ModelConfig, seed: int, head_scale: float) -> Decoder:
    """A Decoder with numpy-drawn weights (fast: no per-parameter compilation), norm scales 1, and
    the LM head scaled by `head_scale` so that the logits are not flat."""
    model = nnx.eval_shape(lambda: Decoder(config, rngs=nnx.Rngs(0)))
    rng = np.random.default_rng(seed)
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        shape = var.value.shape
        if path[-1] == "scale":
            value = np.ones(shape, np.float32)
        else:
            std = 0.02 * (head_scale if path[0] == "lm_head" else 1.0)
            value = rng.normal(0.0, std, shape).astype(np.float32)
        var.value = jnp.asarray(value)
    return model


def ragged_prompts(lengths, width, vocab, seed=0):
    """Left-padded prompts [B, width] with the given real lengths; pad id 0, tokens >= 1."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), width), np.int32)
    mask = np.zeros((len(lengths), width), bool)
    for i, n in enumerate(lengths):
        ids[i, width - n :] = rng.integers(1, vocab, n)
        mask[i, width - n :] = True
    return ids, mask
