"""Prefill + one-token decode with the fixed-size cache equals the full forward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flowrl_jax.models import Decoder, ModelConfig

CONFIGS = {
    "qwen2": ModelConfig(
        model_type="qwen2",
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        head_dim=8,
        qkv_bias=True,
    ),
    "qwen3": ModelConfig(
        model_type="qwen3",
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_layers=2,
        num_heads=4,
        num_kv_heads=1,
        head_dim=12,
        qk_norm=True,
        tie_word_embeddings=True,
    ),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_prefill_then_decode_matches_full_forward(name):
    model = Decoder(CONFIGS[name], rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    b, p, new = 3, 7, 5
    ids = jnp.asarray(rng.integers(0, 97, (b, p + new)))
    prompt_mask = np.ones((b, p), bool)
    prompt_mask[1, :2] = False
    prompt_mask[2, :5] = False
    mask = jnp.concatenate([jnp.asarray(prompt_mask), jnp.ones((b, new), bool)], axis=1)
    full = model(ids, mask).logits

    step = nnx.jit(lambda m, t, mk, c: m(t, mk, cache=c))
    cache = model.init_cache(b, p + new)
    out = step(model, ids[:, :p], mask[:, :p], cache)
    logits = [out.logits]
    cache = out.cache
    for t in range(p, p + new):
        out = step(model, ids[:, t : t + 1], mask[:, t : t + 1], cache)
        logits.append(out.logits)
        cache = out.cache
    cached = jnp.concatenate(logits, axis=1)
    valid = np.asarray(mask)
    np.testing.assert_allclose(np.asarray(cached)[valid], np.asarray(full)[valid], atol=1e-5)
    assert int(cache.index) == p + new


def test_hidden_states_are_after_final_norm():
    model = Decoder(CONFIGS["qwen3"], rngs=nnx.Rngs(1))
    ids = jnp.arange(10).reshape(2, 5)
    out = model(ids, return_hidden=True)
    logits = jnp.einsum("BSD,VD->BSV", out.hidden_states, model.embed.value)
    np.testing.assert_allclose(np.asarray(logits), np.asarray(out.logits), atol=1e-5)
    rms = jnp.sqrt(jnp.mean(out.hidden_states**2, -1))
    assert jnp.all(jnp.abs(rms - 1) < 0.05)  # unit RMS up to the (ones) norm scale


def test_bf16_compute_keeps_logits_float32():
    model = Decoder(
        CONFIGS["qwen2"], dtype=jnp.bfloat16, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0)
    )
    out = model(jnp.ones((1, 4), jnp.int32))
    assert out.logits.dtype == jnp.float32
    assert jax.tree.leaves(nnx.state(model))[0].dtype == jnp.bfloat16
