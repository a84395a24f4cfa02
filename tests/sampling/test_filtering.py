"""Sampling statistics: the drawn tokens follow softmax(logits / T) after top-k / top-p.

The reference distribution is computed here with numpy, by the obvious sort-based definition,
independently of `flowrl_jax.sampling.filtering`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sampling_fixtures import ragged_prompts
from scipy import stats

from flowrl_jax.sampling import sample, sample_token
from flowrl_jax.sampling.filtering import inverse_cdf, nucleus_mask

P_VALUE = 1e-3  # the seed is fixed, so this never flakes; a real bias gives p ~ 1e-30


def reference_probs(logits: np.ndarray, temperature: float, top_k: int, top_p: float, margin=1e-3):
    """[V] distribution: softmax(logits / T), top-k (exactly k), then top-p on the renormalised
    distribution (keep i when the mass strictly above it is < p), renormalised."""
    x = logits.astype(np.float64) / temperature
    keep = np.ones(x.shape, bool)
    if top_k:
        keep[:] = False
        keep[np.argsort(-x, kind="stable")[:top_k]] = True
    p = np.where(keep, np.exp(x - x.max()), 0.0)
    p /= p.sum()
    if top_p < 1.0:
        above = np.array([p[p > pi].sum() for pi in p])
        assert np.min(np.abs(above[keep] - top_p)) > margin, "top_p too close to a boundary"
        keep &= above < top_p
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    return p


def assert_matches(draws: np.ndarray, probs: np.ndarray):
    counts = np.bincount(draws, minlength=probs.size)
    assert counts[probs == 0].sum() == 0, f"filtered tokens drawn: {counts[probs == 0]}"
    expected = probs * draws.size
    big = expected >= 5  # the other kept tokens are pooled into one bin
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(expected[big], expected[~big].sum())
    if expected[-1] < 5:
        observed, expected = observed[:-1], expected[:-1]
        expected *= observed.sum() / expected.sum()
    assert observed.size > 3
    p_value = stats.chisquare(observed, expected).pvalue
    assert p_value > P_VALUE, (p_value, observed, np.round(expected))


# top-p values sit between the cumulative masses of the test distribution, away from boundaries.
# Each case is one compiled program; sample_token's other paths are checked below, without a model.
CASES = [
    dict(temperature=1.0, top_k=0, top_p=1.0),  # the RL default
    dict(temperature=0.8, top_k=8, top_p=0.75),
]


@pytest.mark.parametrize(
    "opts", CASES, ids=lambda o: "T{temperature}-k{top_k}-p{top_p}".format(**o)
)
def test_first_token_distribution_of_sample(small_vocab_model, opts):
    """End to end: the first completion token of 8 prompts x 1000 samples (one call)."""
    ids, mask = ragged_prompts([5] * 8, 5, 16, seed=0)
    ids[:] = ids[0]  # one prompt, repeated: 8000 draws from one distribution
    out = sample(
        small_vocab_model, ids, mask, jax.random.key(0), max_new_tokens=1, num_samples=1000, **opts
    )
    logits = np.asarray(jax.jit(lambda i, m: small_vocab_model(i, m).logits)(ids, mask)[0, -1])
    probs = reference_probs(logits, **opts)
    tokens = np.asarray(out.tokens[:, 0])
    assert_matches(tokens, probs)
    # The log-probs are those of softmax(logits / T) without the filter.
    want = np.asarray(jax.nn.log_softmax(logits / opts["temperature"]))[tokens]
    np.testing.assert_allclose(np.asarray(out.logprobs[:, 0]), want, atol=1e-5)


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (0, 0.75), (40, 0.85), (40, 1.0)])
def test_sample_token_statistics_on_a_larger_vocabulary(top_k, top_p):
    """1000 entries: two-level inverse CDF (blocks of 32, a partial last block), top-p by
    bisection over the vocabulary or over the top-k candidates."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(1, 1000)) * 2.5).astype(np.float32)
    u = rng.random(10000, np.float32)
    draw = jax.jit(
        lambda x, u: sample_token(
            jnp.broadcast_to(x, (u.size, 1000)), u, 1.5, top_k=top_k, top_p=top_p,
            use_top_p=top_p < 1,
        )
    )  # fmt: skip
    draws = draw(logits, u)
    probs = reference_probs(logits[0], 1.5, top_k, top_p, margin=1e-5)
    assert_matches(np.asarray(draws), probs)


def test_zero_weights_are_never_drawn_even_at_u_close_to_one():
    w = np.array([[0.0, 1.0, 0.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0, 0.0, 0.0]] * 2, np.float32)
    u = np.array([0.0, 0.0, 1.0 - 2.0**-24, 1.0 - 2.0**-24], np.float32)
    draw = jax.jit(inverse_cdf)
    np.testing.assert_array_equal(np.asarray(draw(w, u)), [1, 0, 3, 0])
    big = np.zeros((2, 1000), np.float32)
    big[:, [3, 700]] = 1.0
    np.testing.assert_array_equal(np.asarray(draw(big, u[1:3])), [3, 700])


def test_nucleus_keeps_the_crossing_token_and_ties_together():
    w = np.array([[1.0, 0.5, 0.5, 0.25, 0.0]], np.float32)  # masses 0.444, 0.222, 0.222, 0.111
    mask = jax.jit(nucleus_mask)
    assert np.asarray(mask(w, 0.3)).tolist() == [[True, False, False, False, False]]
    assert np.asarray(mask(w, 0.5)).tolist() == [[True, True, True, False, False]]
    assert np.asarray(mask(w, 0.95)).tolist() == [[True, True, True, True, False]]
    assert np.asarray(mask(w, 1e-6)).tolist() == [[True, False, False, False, False]]


def test_top_k_never_sorts_the_vocabulary():
    """Slicing top_k's output makes XLA replace TopK by a full sort: keep it out of the program."""
    logits = jax.ShapeDtypeStruct((4, 4096), jnp.float32)
    u = jax.ShapeDtypeStruct((4,), jnp.float32)
    text = (
        jax.jit(lambda x, u: sample_token(x, u, 1.0, top_k=20, top_p=0.9, use_top_p=True))
        .lower(logits, u)
        .compile()
        .as_text()
    )
    assert " sort(" not in text
