"""Policy and value losses (docs/algorithms.md §3) against NumPy references; clip gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrl_jax.losses import gspo_loss, ppo_clip_loss, value_loss

ppo = jax.jit(ppo_clip_loss, static_argnames=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"))
gspo = jax.jit(gspo_loss, static_argnames=("clip_ratio_low", "clip_ratio_high"))
vloss = jax.jit(value_loss, static_argnames="clip_range_value")

SETTINGS = [  # (ε_low, ε_high, c)
    (0.2, 0.2, None),
    (0.2, 0.28, 3.0),
]


def clamp(x, lo, hi):
    return min(max(x, lo), hi)


def ref_ppo(lp, lp_old, adv, mask, lo, hi, c):
    """Loss [B, T], clip flags, dual-clip flags, written from docs/algorithms.md §3."""
    loss, clipped, dual = (np.zeros(lp.shape) for _ in range(3))
    for i, t in zip(*np.nonzero(mask), strict=True):
        a = adv[i, t]
        ratio = math.exp(clamp(lp[i, t] - lp_old[i, t], -20, 20))
        p1, p2 = -a * ratio, -a * clamp(ratio, 1 - lo, 1 + hi)
        c1 = max(p1, p2)
        clipped[i, t] = p2 > p1
        loss[i, t] = c1
        if c is not None and a < 0:
            loss[i, t] = min(c1, -a * c)
            dual[i, t] = c1 > -a * c
    return loss, clipped, dual


def inputs(rng, make_mask, poison, scale=1.0):
    mask = make_mask(rng, 8, 5)
    lp_old = -rng.exponential(size=(8, 5))
    lp = lp_old + scale * rng.normal(size=(8, 5))
    adv = rng.normal(size=(8, 5))
    return mask, lp, lp_old, adv, [poison(x, mask) for x in (lp, lp_old, adv)]


@pytest.mark.parametrize(("lo", "hi", "c"), SETTINGS)
def test_ppo_matches_reference(x64, rng, make_mask, poison, lo, hi, c):
    mask, lp, lp_old, adv, poisoned = inputs(rng, make_mask, poison)
    loss, metrics = ppo(*poisoned, mask, clip_ratio_low=lo, clip_ratio_high=hi, clip_ratio_c=c)
    ref_loss, ref_clip, ref_dual = ref_ppo(lp, lp_old, adv, mask, lo, hi, c)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(metrics["clipfrac"], ref_clip[mask].mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["dual_clipfrac"], ref_dual[mask].mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["approx_kl"], (lp_old - lp)[mask].mean(), rtol=1e-6)
    ratio = np.exp(lp - lp_old)[mask]
    np.testing.assert_allclose(metrics["ratio_mean"], ratio.mean(), rtol=1e-6)


@pytest.mark.parametrize(("lo", "hi", "c"), SETTINGS)
def test_ppo_gradient_is_zero_exactly_where_clipped(x64, rng, make_mask, poison, lo, hi, c):
    mask, lp, lp_old, adv, poisoned = inputs(rng, make_mask, poison, scale=1.5)
    opts = {"clip_ratio_low": lo, "clip_ratio_high": hi, "clip_ratio_c": c}
    grad = jax.jit(jax.grad(lambda x: jnp.sum(ppo_clip_loss(x, *poisoned[1:], mask, **opts)[0])))(
        poisoned[0]
    )
    _, clipped, dual = ref_ppo(lp, lp_old, adv, mask, lo, hi, c)
    active = (clipped + dual).astype(bool)
    assert active[mask].any() and (~active[mask]).any()
    if c is not None:
        assert dual[mask].any()
    expected = np.where(mask & ~active, -adv * np.exp(lp - lp_old), 0.0)
    np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=0)
    assert np.all(np.asarray(grad)[active] == 0)


def test_ppo_sequence_advantages_broadcast(rng, make_mask, poison):
    mask, _, _, _, (lp, lp_old, _) = inputs(rng, make_mask, poison)
    adv = rng.normal(size=8).astype(np.float32)
    by_seq, _ = ppo(lp, lp_old, adv, mask)
    by_token, _ = ppo(lp, lp_old, np.repeat(adv[:, None], 5, axis=1), mask)
    np.testing.assert_array_equal(by_seq, by_token)


def test_ppo_bfloat16_and_huge_log_ratio_stay_finite(rng, make_mask):
    mask = make_mask(rng, 8, 5)
    lp = jnp.asarray(rng.choice([-50.0, 50.0, 0.0], size=(8, 5)), jnp.bfloat16)
    adv = jnp.asarray(rng.normal(size=(8, 5)), jnp.bfloat16)

    def total(x):
        return jnp.sum(ppo_clip_loss(x, jnp.zeros_like(x), adv, mask, clip_ratio_c=3.0)[0])

    value, grad = jax.jit(jax.value_and_grad(total))(lp)
    assert value.dtype == jnp.float32 and np.isfinite(value)
    assert np.all(np.isfinite(np.asarray(grad, np.float32)))


def test_ppo_vmaps_over_a_leading_axis(rng):
    lp, lp_old, adv = rng.normal(size=(3, 2, 8, 5)).astype(np.float32)
    mask = rng.random((2, 8, 5)) < 0.7
    batched = jax.jit(jax.vmap(lambda *a: ppo_clip_loss(*a, clip_ratio_c=3.0)))(
        lp, lp_old, adv, mask
    )
    for k in range(2):
        single = ppo(lp[k], lp_old[k], adv[k], mask[k], clip_ratio_c=3.0)
        np.testing.assert_allclose(batched[0][k], single[0], rtol=1e-6)
        np.testing.assert_allclose(batched[1]["clipfrac"][k], single[1]["clipfrac"], rtol=1e-6)


def test_ppo_rejects_bad_options():
    x = jnp.zeros((1, 1))
    with pytest.raises(ValueError, match="clip_ratio_c > 1"):
        ppo_clip_loss(x, x, x, x, clip_ratio_c=1.0)
    with pytest.raises(ValueError, match="clip_ratio_low"):
        ppo_clip_loss(x, x, x, x, clip_ratio_low=1.0)


def test_ppo_jit_compiles_once(rng, trace_count):
    fn, count = trace_count(lambda lp, old, a, m: ppo_clip_loss(lp, old, a, m, clip_ratio_c=3.0))
    for _ in range(3):
        lp, old, a = rng.normal(size=(3, 8, 5)).astype(np.float32)
        fn(lp, old, a, rng.random((8, 5)) < 0.7)
    assert count[0] == 1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), keep=st.floats(0.0, 1.0), scale=st.floats(0.0, 30.0))
def test_property_ppo_random_masks(seed, keep, scale):
    rng = np.random.default_rng(seed)
    mask = rng.random((8, 5)) < keep
    lp_old = -rng.exponential(size=(8, 5))
    lp, adv = lp_old + scale * rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    loss, metrics = ppo(*(x.astype(np.float32) for x in (lp, lp_old, adv)), mask)
    assert loss.shape == (8, 5) and np.all(np.asarray(loss)[~mask] == 0)
    assert all(np.isfinite(v) for v in metrics.values())
    np.testing.assert_allclose(
        loss, ref_ppo(lp, lp_old, adv, mask, 0.2, 0.2, None)[0], rtol=1e-4, atol=1e-5
    )


# ----------------------------------------------------------------------------- GSPO


def ref_gspo(lp, lp_old, adv, mask, lo, hi):
    """Loss [B, T] and d loss / d lp [B, T] from the GSPO definition in docs/algorithms.md §3."""
    loss, grad = np.zeros(lp.shape), np.zeros(lp.shape)
    for i in range(lp.shape[0]):
        tokens = np.flatnonzero(mask[i])
        if tokens.size == 0:
            continue
        log_s = np.mean([lp[i, t] - lp_old[i, t] for t in tokens])
        s = math.exp(min(log_s, 10.0))
        for t in tokens:
            p1, p2 = -adv[i] * s, -adv[i] * clamp(s, 1 - lo, 1 + hi)
            loss[i, t] = max(p1, p2)
            grad[i, t] = 0.0 if (p2 > p1 or log_s > 10) else -adv[i] * s
    return loss, grad


def test_gspo_matches_reference(x64, rng, make_mask, poison):
    mask, lp, lp_old, _, (lp_p, lp_old_p, _) = inputs(rng, make_mask, poison, scale=0.05)
    lp[1, 0] = lp_p[1, 0] = lp_old[1, 0] + 1e3  # a sequence ratio above the clamp at exp(10)
    mask[1, 0] = True
    adv = rng.normal(size=8)
    lo, hi = 0.02, 0.03
    loss, metrics = gspo(lp_p, lp_old_p, adv, mask, clip_ratio_low=lo, clip_ratio_high=hi)
    grad = jax.jit(
        jax.grad(
            lambda x: jnp.sum(
                gspo_loss(x, lp_old_p, adv, mask, clip_ratio_low=lo, clip_ratio_high=hi)[0]
            )
        )
    )(lp_p)
    ref_loss, ref_grad = ref_gspo(lp, lp_old, adv, mask, lo, hi)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-12)
    assert 0 < float(metrics["clipfrac"]) < 1


# ----------------------------------------------------------------------------- value loss


@pytest.mark.parametrize("clip", [0.5, None])
def test_value_loss_matches_reference(x64, rng, make_mask, poison, clip):
    mask = make_mask(rng, 8, 5)
    v, v_old, ret = rng.normal(size=(3, 8, 5))
    loss, metrics = vloss(*(poison(x, mask) for x in (v, v_old, ret)), mask, clip_range_value=clip)
    expected, flags = np.zeros((8, 5)), np.zeros((8, 5))
    for i, t in zip(*np.nonzero(mask), strict=True):
        unclipped = (v[i, t] - ret[i, t]) ** 2
        if clip is None:
            expected[i, t] = 0.5 * unclipped
            continue
        v_clip = clamp(v[i, t], v_old[i, t] - clip, v_old[i, t] + clip)
        expected[i, t] = 0.5 * max(unclipped, (v_clip - ret[i, t]) ** 2)
        flags[i, t] = (v_clip - ret[i, t]) ** 2 > unclipped
    np.testing.assert_allclose(loss, expected, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(metrics["vf_clipfrac"], flags[mask].mean(), rtol=1e-6)
