"""KL estimators and f-divergences (docs/algorithms.md §4): references, gradients, limits."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrl_jax.losses import F_DIVERGENCES, KL_KINDS, f_divergence, kl_estimate

kl = jax.jit(kl_estimate, static_argnames="kind")
fdiv = jax.jit(f_divergence, static_argnames=("kind", "alpha"))
ALL_KINDS = {
    **{k: functools.partial(f_divergence, kind=k) for k in F_DIVERGENCES},
    **{k: functools.partial(kl_estimate, kind=k) for k in KL_KINDS},
}


@jax.jit
def values_and_grads(lp, lp_ref, mask):
    """{kind: (Σ value, d Σ value / d lp)} for every f-divergence and KL estimator."""
    return {
        name: jax.value_and_grad(lambda x, fn=fn: jnp.sum(fn(x, lp_ref, mask)))(lp)
        for name, fn in ALL_KINDS.items()
    }


def ref_kl(d, kind):
    if kind == "k1":
        return d
    if kind == "abs":
        return abs(d)
    if kind == "k2":
        return 0.5 * d * d
    x = min(max(-d, -20.0), 20.0)
    return min(max(math.exp(x) - x - 1.0, -10.0), 10.0)


def ref_f(d, kind, alpha=0.2):
    """Textbook generators f(u), u = exp(d), with the clamps of docs/algorithms.md §4."""
    u = math.exp(min(max(d, -20.0), 20.0))
    if kind == "forward_kl":
        return min(max(u - 1.0 - math.log(u), -10.0), 10.0)
    if kind == "js":
        return u * math.log(u) - (u + 1.0) * math.log((u + 1.0) / 2.0)
    return (u ** (1.0 - alpha) - (1.0 - alpha) * u - alpha) / (alpha * (alpha - 1.0))


def ref_grad(d, kind, alpha=0.2):
    """d f(exp(d)) / d d inside the clamp range."""
    u = math.exp(d)
    if kind == "forward_kl":
        return u - 1.0
    if kind == "js":
        return u * math.log(2.0 * u / (u + 1.0))
    return (u - u ** (1.0 - alpha)) / alpha


def apply(ref, d, mask, **kw):
    return np.array(
        [
            [ref(d[i, t], **kw) if mask[i, t] else 0.0 for t in range(d.shape[1])]
            for i in range(d.shape[0])
        ]
    )


@pytest.fixture
def batch(rng, make_mask, poison):
    """mask, lp, lp_ref, poisoned (lp, lp_ref), with |d| spread from tiny to beyond the clamps."""
    mask = make_mask(rng, 8, 5)
    lp_ref = -rng.exponential(size=(8, 5))
    d = rng.normal(size=(8, 5)) * 3.0
    d[1, :3] = [25.0, -25.0, 1e-5]
    lp = lp_ref + d
    mask[1, :3] = True
    return mask, lp, lp_ref, (poison(lp, mask), poison(lp_ref, mask))


def test_kl_estimators_match_reference(x64, batch):
    mask, lp, lp_ref, poisoned = batch
    for kind in KL_KINDS:
        expected = apply(ref_kl, lp - lp_ref, mask, kind=kind)
        np.testing.assert_allclose(kl(*poisoned, mask, kind=kind), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("kind", F_DIVERGENCES)
def test_f_divergences_match_reference(x64, batch, kind):
    mask, lp, lp_ref, poisoned = batch
    expected = apply(ref_f, lp - lp_ref, mask, kind=kind)
    np.testing.assert_allclose(fdiv(*poisoned, mask, kind=kind), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    ("kind", "lo", "hi"), [("forward_kl", -2.0, 2.0), ("js", -15, 15), ("alpha", -15, 15)]
)
def test_f_gradient_is_the_analytic_derivative(x64, rng, kind, lo, hi):
    d = rng.uniform(lo, hi, size=(8, 5))
    lp_ref = -rng.exponential(size=(8, 5))
    mask = np.ones((8, 5), bool)
    grad = jax.jit(jax.grad(lambda x: jnp.sum(f_divergence(x, lp_ref, mask, kind=kind))))(
        lp_ref + d
    )
    expected = np.vectorize(lambda v: ref_grad(v, kind))(d)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-12)


def test_alpha_gradient_for_other_alpha(x64, rng):
    d = rng.uniform(-5, 5, size=(8, 5))
    grad = jax.jit(
        jax.grad(lambda x: jnp.sum(f_divergence(x, 0.0 * x, x == x, kind="alpha", alpha=0.7)))
    )(jnp.asarray(d))
    np.testing.assert_allclose(
        grad, np.vectorize(lambda v: ref_grad(v, "alpha", 0.7))(d), rtol=1e-6
    )


def test_alpha_limits(x64, rng):
    d = jnp.asarray(rng.uniform(-4, 4, size=(8, 5)))
    zeros, ones = jnp.zeros_like(d), jnp.ones(d.shape, bool)
    u = np.exp(np.asarray(d))
    near_one = f_divergence(d, zeros, ones, kind="alpha", alpha=1 - 1e-6)
    np.testing.assert_allclose(near_one, u - 1 - np.log(u), rtol=1e-4, atol=1e-9)
    near_zero = f_divergence(d, zeros, ones, kind="alpha", alpha=1e-6)
    np.testing.assert_allclose(near_zero, u * np.log(u) - u + 1, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_f_is_zero_at_one_and_nonnegative_in_low_precision(dtype):
    mags = np.logspace(-4, math.log10(20.0), 40)
    d = jnp.asarray(np.concatenate([mags, -mags, [0.0]])[None, :], dtype)
    lp_ref = jnp.full_like(d, -1.0)
    for kind in F_DIVERGENCES:
        f = np.asarray(fdiv(lp_ref + d, lp_ref, jnp.ones(d.shape, bool), kind=kind))
        assert f.dtype == np.float32
        assert f[0, -1] == 0.0, kind
        assert np.all(f >= 0.0), (kind, d[f < 0])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_finite_for_huge_log_ratios(dtype):
    d = jnp.asarray(np.linspace(-50.0, 50.0, 40).reshape(8, 5), dtype)
    for kind, (value, grad) in values_and_grads(d, jnp.zeros_like(d), d == d).items():
        assert np.isfinite(value) and np.all(np.isfinite(np.asarray(grad, np.float32))), kind


def test_nonfinite_padding_never_leaks(batch):
    mask, _, _, (lp, lp_ref) = batch
    lp, lp_ref = (jnp.asarray(x, jnp.float32) for x in (lp, lp_ref))
    for kind, (value, grad) in values_and_grads(lp, lp_ref, mask).items():
        assert np.isfinite(value), kind
        assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[~mask] == 0), kind


def test_unknown_kinds_and_bad_alpha():
    x = jnp.zeros((1, 1))
    with pytest.raises(ValueError, match="k1, abs, k2, k3"):
        kl_estimate(x, x, x, kind="k4")
    with pytest.raises(ValueError, match="forward_kl, js, alpha"):
        f_divergence(x, x, x, kind="reverse_kl")
    with pytest.raises(ValueError, match="0 < alpha < 1"):
        f_divergence(x, x, x, kind="alpha", alpha=1.0)


def test_jit_compiles_once(rng, trace_count):
    fn, count = trace_count(lambda lp, ref, m: f_divergence(lp, ref, m, kind="js"))
    for _ in range(3):
        lp, ref = rng.normal(size=(2, 8, 5)).astype(np.float32)
        fn(lp, ref, rng.random((8, 5)) < 0.7)
    assert count[0] == 1


@settings(max_examples=30, deadline=None)
@given(
    d=st.lists(st.floats(-50, 50, width=32), min_size=40, max_size=40),
    keep=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_property_nonnegative_and_finite(d, keep):
    d = np.asarray(d, np.float32).reshape(8, 5)
    mask = np.asarray(keep).reshape(8, 5)
    lp_ref = np.full((8, 5), -1.0, np.float32)
    for kind, (value, grad) in values_and_grads(lp_ref + d, lp_ref, mask).items():
        assert np.isfinite(value) and np.all(np.isfinite(grad)), kind
        if kind in F_DIVERGENCES or kind in ("abs", "k2", "k3"):
            assert value >= 0, kind
