"""FlowRL trajectory balance (docs/algorithms.md §5): reference, hand example, micro-batches."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowrl_jax.losses import (
    WEIGHT_MODES,
    importance_weights,
    normalizers,
    trajectory_balance_loss,
    trajectory_balance_residual,
)

OPTIONS = ("beta", "length_normalize", "weight_mode", "weight_clip", "weight_max")
tb = jax.jit(trajectory_balance_loss, static_argnames=OPTIONS)


def ref_tb(
    lp, lp_old, lp_ref, adv, log_z, mask, *, beta, length_normalize, weight_mode, eps=0.2, cap=10.0
):
    """Loss and metrics of docs/algorithms.md §5, one sequence at a time."""
    terms, deltas, weights, clipped, zs = [], [], [], [], []
    for i in range(lp.shape[0]):
        tokens = np.flatnonzero(mask[i])
        if tokens.size == 0:
            continue
        norm = tokens.size + 1e-8 if length_normalize else 1.0
        lbar = sum(lp[i, t] for t in tokens) / norm
        lref = sum(lp_ref[i, t] for t in tokens) / norm
        delta = log_z[i] + lbar - beta * adv[i] - lref
        log_w = sum(lp[i, t] - lp_old[i, t] for t in tokens)
        w, was_clipped = {
            "none": (1.0, False),
            "raw": (math.exp(log_w), False),
            "clip": (
                min(max(math.exp(log_w), 1 - eps), 1 + eps),
                not 1 - eps <= math.exp(log_w) <= 1 + eps,
            ),
            "max": (min(math.exp(log_w), cap), math.exp(log_w) > cap),
        }[weight_mode]
        terms.append(w * delta**2)
        deltas.append(delta)
        weights.append(w)
        clipped.append(was_clipped)
        zs.append(log_z[i])
    return sum(terms) / len(terms), {
        "delta_mean": np.mean(deltas),
        "log_z_mean": np.mean(zs),
        "weight_mean": np.mean(weights),
        "weight_clipfrac": np.mean(clipped),
    }


def batch(rng, make_mask, poison, b=8, t=5):
    mask = make_mask(rng, b, t)
    lp_old = -rng.exponential(size=(b, t))
    lp = lp_old + 0.1 * rng.normal(size=(b, t))
    lp_ref = -rng.exponential(size=(b, t))
    adv, log_z = rng.normal(size=(2, b))
    adv[0] = log_z[0] = np.nan  # row 0 is empty: its r̂ and log Z must not matter
    arrays = (poison(lp, mask), poison(lp_old, mask), poison(lp_ref, mask), adv, log_z)
    return mask, (lp, lp_old, lp_ref, adv, log_z), arrays


@pytest.mark.parametrize("weight_mode", WEIGHT_MODES)
@pytest.mark.parametrize("length_normalize", [True, False])
def test_matches_reference(x64, rng, make_mask, poison, weight_mode, length_normalize):
    mask, clean, (lp, lp_old, lp_ref, adv, log_z) = batch(rng, make_mask, poison)
    opts = {"beta": 15.0, "length_normalize": length_normalize, "weight_mode": weight_mode}
    loss, metrics = tb(lp, lp_old, lp_ref, adv, mask, log_z=log_z, **opts)
    ref_loss, ref_metrics = ref_tb(*clean, mask, **opts)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    for name, value in ref_metrics.items():
        np.testing.assert_allclose(metrics[name], value, rtol=1e-6, atol=1e-12, err_msg=name)
    if weight_mode == "clip":
        assert 0 < ref_metrics["weight_clipfrac"] < 1


def test_hand_computed_two_by_three(x64):
    """none weights, log Z = 0, β = 15.

    row 0: tokens (−1, −2), ref (−2, −2): lbar = −1.5, lref = −2, r̂ = 0.5 → δ = −1.5 − 7.5 + 2 = −7
    row 1: tokens (−0.5 ×3), ref (−1 ×3): lbar = −0.5, lref = −1, r̂ = −0.5 → δ = −0.5 + 7.5 + 1 = 8
    L = (49 + 64) / 2 = 56.5; dL/dlp = 2δ_i / n_i / 2 = −3.5 (row 0), 8/3 (row 1); dL/dlogZ = δ_i.
    """
    lp = np.array([[-1.0, -2.0, np.nan], [-0.5, -0.5, -0.5]])
    lp_ref = np.array([[-2.0, -2.0, np.inf], [-1.0, -1.0, -1.0]])
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    adv, log_z = np.array([0.5, -0.5]), np.zeros(2)

    def loss(lp, log_z):
        return trajectory_balance_loss(
            lp, np.zeros((2, 3)), lp_ref, adv, mask, log_z=log_z, weight_mode="none"
        )[0]

    value, (g_lp, g_z) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(lp, log_z)
    np.testing.assert_allclose(value, 56.5, rtol=1e-6)
    np.testing.assert_allclose(g_lp, [[-3.5, -3.5, 0.0], [8 / 3, 8 / 3, 8 / 3]], rtol=1e-6)
    np.testing.assert_allclose(g_z, [-7.0, 8.0], rtol=1e-6)
    no_head = tb(lp, lp, lp_ref, adv, mask, log_z=None, weight_mode="none")
    np.testing.assert_allclose(no_head[0], 56.5, rtol=1e-6)


def test_microbatch_gradients_sum_to_minibatch_gradient(x64, rng, make_mask):
    """Shared parameters θ (policy) and φ (log Z): Σ micro-batch grads = mini-batch grad."""
    b, t = 8, 5
    mask = make_mask(rng, b, t)
    feats, lp_old, lp_ref = rng.normal(size=(3, b, t))
    z_feats, adv = rng.normal(size=(2, b))
    params = (jnp.asarray(rng.normal(size=t)), jnp.asarray(0.3))
    n_seq = normalizers(mask, "seq-mean-token-mean")["num_seqs"]

    def loss(params, feats, z_feats, lp_old, lp_ref, adv, mask):
        theta, phi = params
        lp = jax.nn.log_sigmoid(theta * feats)
        return trajectory_balance_loss(
            lp,
            lp_old,
            lp_ref,
            adv,
            mask,
            log_z=phi * z_feats,
            weight_mode="clip",
            num_seqs=n_seq,
        )[0]

    grad = jax.jit(jax.grad(loss))
    data = (feats, z_feats, lp_old, lp_ref, adv, mask)
    full = grad(params, *data)
    for num_micro in (1, 2, 4):
        chunks = zip(*(np.split(x, num_micro) for x in data), strict=True)
        parts = [grad(params, *chunk) for chunk in chunks]
        for k in range(2):
            np.testing.assert_allclose(sum(p[k] for p in parts), full[k], rtol=1e-10, atol=1e-12)


def test_weight_modes_clip_in_log_space(x64):
    mask = np.ones((4, 2), bool)
    lp_old = np.zeros((4, 2))
    lp = np.array([[0.05, 0.05], [0.5, 0.5], [-0.5, -0.5], [400.0, 400.0]])
    w, clipped = importance_weights(lp, lp_old, mask, weight_mode="clip", weight_clip=0.2)
    np.testing.assert_allclose(w, [math.exp(0.1), 1.2, 0.8, 1.2], rtol=1e-12)
    np.testing.assert_array_equal(clipped, [False, True, True, True])
    w, clipped = importance_weights(lp, lp_old, mask, weight_mode="max", weight_max=10.0)
    np.testing.assert_allclose(w, [math.exp(0.1), math.e, math.exp(-1.0), 10.0], rtol=1e-12)
    np.testing.assert_array_equal(clipped, [False, False, False, True])
    w, _ = importance_weights(lp, lp_old, mask, weight_mode="raw")
    assert np.isinf(w[3])  # exp(800) overflows: the step's gradient is non-finite and skipped
    with pytest.raises(ValueError, match="none, raw, clip, max"):
        importance_weights(lp, lp_old, mask, weight_mode="log")


def test_length_normalisation_switch(x64, rng, make_mask):
    mask = make_mask(rng, 4, 5)
    lp, lp_ref = rng.normal(size=(2, 4, 5))
    adv = np.zeros(4)
    summed = trajectory_balance_residual(lp, lp_ref, adv, mask, log_z=None, length_normalize=False)
    np.testing.assert_allclose(summed, np.where(mask, lp - lp_ref, 0).sum(-1), rtol=1e-12)


def test_nonfinite_padding_never_leaks(rng, make_mask, poison):
    mask, _, (lp, lp_old, lp_ref, adv, log_z) = batch(rng, make_mask, poison)
    lp, lp_old, lp_ref, adv, log_z = (
        jnp.asarray(x, jnp.float32) for x in (lp, lp_old, lp_ref, adv, log_z)
    )

    def loss(lp, log_z):
        return trajectory_balance_loss(lp, lp_old, lp_ref, adv, mask, log_z=log_z)

    (value, metrics), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        lp, log_z
    )
    assert np.isfinite(value) and all(np.isfinite(v) for v in metrics.values())
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.all(np.asarray(grads[0])[~mask] == 0) and grads[1][0] == 0


def test_vmaps_over_a_leading_axis(rng):
    lp, old, ref = rng.normal(size=(3, 2, 8, 5)).astype(np.float32)
    adv, z = rng.normal(size=(2, 2, 8)).astype(np.float32)
    mask = rng.random((2, 8, 5)) < 0.7

    def loss(lp, old, ref, adv, mask, z):
        return trajectory_balance_loss(lp, old, ref, adv, mask, log_z=z)[0]

    batched = jax.jit(jax.vmap(loss))(lp, old, ref, adv, mask, z)
    for k in range(2):
        single = tb(lp[k], old[k], ref[k], adv[k], mask[k], log_z=z[k])[0]
        np.testing.assert_allclose(batched[k], single, rtol=1e-6)


def test_jit_compiles_once(rng, trace_count):
    fn, count = trace_count(
        lambda lp, old, ref, adv, m, z: trajectory_balance_loss(lp, old, ref, adv, m, log_z=z)
    )
    for _ in range(3):
        lp, old, ref = rng.normal(size=(3, 8, 5)).astype(np.float32)
        adv, z = rng.normal(size=(2, 8)).astype(np.float32)
        fn(lp, old, ref, adv, rng.random((8, 5)) < 0.7, z)
    assert count[0] == 1
