"""Aggregation (docs/algorithms.md §1) against a NumPy reference; micro-batch invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrl_jax.losses import AGG_MODES, aggregate, normalizers

MAX_LEN = 11


def reference(loss, mask, mode, max_len=None):
    """docs/algorithms.md §1 with loops: N_tok, N_seq over the given (whole) batch."""
    b, t = loss.shape
    n_tok = sum(int(mask[i, j]) for i in range(b) for j in range(t))
    lengths = [int(mask[i].sum()) for i in range(b)]
    n_seq = sum(1 for n in lengths if n > 0)
    row_sums = [sum(loss[i, j] for j in range(t) if mask[i, j]) for i in range(b)]
    if mode == "token-mean":
        return sum(row_sums) / n_tok if n_tok else 0.0
    if n_seq == 0:
        return 0.0
    if mode == "seq-mean-token-mean":
        return sum(s / n for s, n in zip(row_sums, lengths, strict=True) if n > 0) / n_seq
    if mode == "seq-mean-token-sum":
        return sum(row_sums) / n_seq
    return sum(row_sums) / (n_seq * (t if max_len is None else max_len))


def all_modes(loss, mask, norms=None):
    """[4] the aggregate in every mode, local (norms None) or with the given global normalisers."""
    out = []
    for mode in AGG_MODES:
        kw = {"max_len": MAX_LEN} if norms is None else {**norms[mode]}
        out.append(aggregate(loss, mask, mode=mode, **kw))
    return jnp.stack(out)


all_modes_jit = jax.jit(all_modes)


def global_norms(mask):
    return {mode: normalizers(mask, mode, max_len=MAX_LEN) for mode in AGG_MODES}


@pytest.mark.parametrize("shape", [(1, 1), (8, 5)])
@pytest.mark.parametrize("contiguous", [True, False])
def test_matches_reference(x64, rng, make_mask, poison, shape, contiguous):
    mask = make_mask(rng, *shape, contiguous=contiguous)
    loss = rng.normal(size=shape)
    expected = [reference(loss, mask, mode, max_len=MAX_LEN) for mode in AGG_MODES]
    got = all_modes_jit(poison(loss, mask), mask.astype(np.int32))
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    with_global = all_modes_jit(poison(loss, mask), mask, global_norms(mask))
    np.testing.assert_allclose(with_global, expected, rtol=1e-6, atol=1e-12)


def test_normalizers_values():
    mask = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0]], bool)
    assert normalizers(mask, "token-mean") == {"num_tokens": 3}
    assert normalizers(mask, "seq-mean-token-mean") == {"num_seqs": 2}
    assert normalizers(mask, "seq-mean-token-sum") == {"num_seqs": 2}
    assert normalizers(mask, "seq-mean-token-sum-norm") == {"num_seqs": 2, "max_len": 3}
    assert normalizers(mask, "seq-mean-token-sum-norm", max_len=64)["max_len"] == 64


def test_empty_batch_is_zero():
    np.testing.assert_array_equal(all_modes_jit(jnp.full((8, 5), jnp.nan), jnp.zeros((8, 5))), 0)


def test_unknown_mode_lists_valid_names():
    with pytest.raises(ValueError, match="seq-mean-token-sum-norm"):
        aggregate(jnp.ones((1, 1)), jnp.ones((1, 1)), mode="sum")
    with pytest.raises(ValueError, match="token-mean"):
        normalizers(jnp.ones((1, 1)), "mean")


def test_microbatch_gradients_sum_to_minibatch_gradient(x64, rng, make_mask):
    """d loss / dθ of a mini-batch = Σ over its 1, 2, 4 micro-batches (global normalisers)."""
    b, t = 8, 5
    mask = make_mask(rng, b, t)
    feats = rng.normal(size=(b, t))
    theta = jnp.asarray(rng.normal(size=t))

    def losses(theta, feats, mask, norms):
        token_loss = jnp.sin(theta * feats) + (theta * feats) ** 2
        return all_modes(token_loss, mask, norms)

    norms = global_norms(mask)
    jac = jax.jit(jax.jacobian(losses))  # [modes, t]
    full = jac(theta, feats, mask, norms)
    for num_micro in (1, 2, 4):
        parts = sum(
            jac(theta, f, m, norms)
            for f, m in zip(np.split(feats, num_micro), np.split(mask, num_micro), strict=True)
        )
        np.testing.assert_allclose(parts, full, rtol=1e-10, atol=1e-12, err_msg=f"{num_micro}")
    # The local normaliser (the released codes' per-micro-batch mean) is not invariant.
    local = jax.jit(jax.jacobian(lambda th, f, m: all_modes(jnp.sin(th * f) + (th * f) ** 2, m)))
    chunks = zip(np.split(feats, 4), np.split(mask, 4), strict=True)
    parts = sum(local(theta, f, m) for f, m in chunks)
    assert not np.allclose(parts[0], full[0])


def test_nonfinite_padding_never_leaks(rng, make_mask, poison):
    mask = make_mask(rng, 8, 5)
    loss = rng.normal(size=(8, 5)).astype(np.float32)
    value, grad = jax.jit(jax.value_and_grad(lambda x: jnp.sum(all_modes(x, mask))))(
        jnp.asarray(poison(loss, mask))
    )
    np.testing.assert_allclose(value, jnp.sum(all_modes_jit(loss, mask)), rtol=1e-6)
    assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[~mask] == 0)


def test_bfloat16_loss_is_computed_in_float32():
    out = aggregate(jnp.ones((2, 3), jnp.bfloat16), jnp.ones((2, 3)), mode="token-mean")
    assert out.dtype == jnp.float32 and float(out) == 1.0


def test_jit_compiles_once(rng, trace_count):
    fn, count = trace_count(lambda x, m: aggregate(x, m, mode="seq-mean-token-mean"))
    for _ in range(3):
        fn(rng.normal(size=(8, 5)).astype(np.float32), rng.random((8, 5)) < 0.5)
    assert count[0] == 1


@settings(max_examples=25, deadline=None)
@given(b=st.sampled_from([1, 3, 8]), t=st.sampled_from([1, 5]), seed=st.integers(0, 2**16))
def test_property_random_shapes_and_masks(b, t, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((b, t)) < rng.random()
    loss = rng.normal(size=(b, t)).astype(np.float32)
    got = all_modes_jit(loss, mask)
    assert got.shape == (4,) and np.all(np.isfinite(got))
    expected = [reference(loss.astype(np.float64), mask, m, max_len=MAX_LEN) for m in AGG_MODES]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    if mask.any():
        np.testing.assert_allclose(got[0], loss[mask].mean(), rtol=1e-5, atol=1e-7)
