"""`response_logprobs`: the LM head on response positions only, in chunks, and rematerialised
layers give the values and gradients of the full-logits forward, and the chunked backward
never holds a full-vocabulary logits tensor."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flowrl_jax.models import Decoder, ModelConfig, response_logprobs, token_logprobs

P, T, B = 5, 7, 3
# qwen2: vocabulary 101, hidden 32, MLP 64, 2 layers, 4 query / 2 kv heads of 8, q/k/v bias
CONFIG = ModelConfig("qwen2", 101, 32, 64, 2, 4, 2, 8, qkv_bias=True)


def batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, CONFIG.vocab_size, (B, P + T)).astype(np.int32)
    attn = np.ones((B, P + T), bool)
    attn[0, :2] = False  # left-padded prompt
    attn[1, P + 4 :] = False  # short response
    weights = rng.normal(size=(B, T)).astype(np.float32)
    return jnp.asarray(ids), jnp.asarray(attn), jnp.asarray(weights)


def full_logits_objective(model: Decoder, ids, attn, weights, temperature):
    """The forward as it was: the head on every position, then the response slice."""
    logits = model(ids, attn).logits[:, P - 1 : -1]
    lp = token_logprobs(logits, ids[:, P:], temperature)
    logp = jax.nn.log_softmax(logits / temperature, axis=-1)
    entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
    return jnp.sum(lp * weights), (lp, entropy)


def chunked_objective(model: Decoder, ids, attn, weights, temperature, chunk):
    out = response_logprobs(model, ids, attn, prompt_len=P, temperature=temperature, chunk=chunk)
    return jnp.sum(out.lp * weights), (out.lp, out.entropy)


def assert_close(a, b, rel=1e-5):
    """Equal up to float32 summation order: |a - b| <= rel · max |b| elementwise."""
    a, b = np.asarray(a), np.asarray(b)
    assert np.abs(a - b).max() <= rel * max(np.abs(b).max(), 1e-30), np.abs(a - b).max()


def value_and_grad(objective, model, *args):
    graphdef, params = nnx.split(model)

    def f(params):
        return objective(nnx.merge(graphdef, params), *args)

    (value, (lp, entropy)), grads = jax.jit(jax.value_and_grad(f, has_aux=True))(params)
    return value, lp, entropy, jax.tree.leaves(grads)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("chunk", [0, 1, 3, 7, 64])
def test_chunked_response_logprobs_equal_full_logits(tied, chunk):
    config = dataclasses.replace(CONFIG, tie_word_embeddings=tied)
    model = Decoder(config, rngs=nnx.Rngs(0))
    ids, attn, weights = batch()
    want = value_and_grad(full_logits_objective, model, ids, attn, weights, 0.7)
    got = value_and_grad(chunked_objective, model, ids, attn, weights, 0.7, chunk)
    for a, b in zip([*got[:3], *got[3]], [*want[:3], *want[3]], strict=True):
        assert_close(a, b)  # value, lp, entropy, every gradient


@pytest.mark.parametrize("remat", ["full", "dots"])
def test_remat_changes_neither_values_nor_gradients(remat):
    ids, attn, weights = batch(1)
    results = []
    for policy in ("none", remat):
        model = Decoder(CONFIG, remat=policy, rngs=nnx.Rngs(0))
        results.append(value_and_grad(chunked_objective, model, ids, attn, weights, 1.0, 3))
    (v0, lp0, _, g0), (v1, lp1, _, g1) = results
    for a, b in zip([v1, lp1, *g1], [v0, lp0, *g0], strict=True):
        assert_close(a, b)


def _shapes(jaxpr) -> list[tuple[int, ...]]:
    """Shapes of every value a jaxpr (and its sub-jaxprs: scan, remat, pjit) computes."""
    out = []
    for eqn in jaxpr.eqns:
        out += [tuple(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape")]
        for param in eqn.params.values():
            for sub in param if isinstance(param, list | tuple) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    out += _shapes(inner)
    return out


def test_backward_never_holds_full_vocabulary_logits():
    """With chunk 2 the largest logits tensor in the gradient's program is [B, 2, V]; the
    full-logits forward builds [B, P+T, V]. The test can fail: it sees the latter."""
    model = Decoder(CONFIG, remat="full", rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    ids, attn, weights = batch()
    v = CONFIG.vocab_size

    def largest_logits(objective, *extra):
        def f(params):
            return objective(nnx.merge(graphdef, params), ids, attn, weights, 1.0, *extra)[0]

        shapes = _shapes(jax.make_jaxpr(jax.grad(f))(params).jaxpr)
        return max(int(np.prod(s)) for s in shapes if len(s) >= 3 and s[-1] == v)

    assert largest_logits(full_logits_objective) == B * (P + T) * v
    assert largest_logits(chunked_objective, 2) == B * 2 * v


def test_remat_is_in_the_program():
    model = Decoder(CONFIG, remat="full", rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    ids, attn, _ = batch()
    jaxpr = jax.make_jaxpr(
        jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p).backbone(ids, attn)[0]))
    )(params)
    assert str(jaxpr).count("checkpoint") + str(jaxpr).count("remat") >= CONFIG.num_layers
