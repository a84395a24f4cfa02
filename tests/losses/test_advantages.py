"""Advantages and reward shaping (docs/algorithms.md §2) against NumPy references with loops."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrl_jax.losses import (
    broadcast_to_tokens,
    discounted_returns,
    gae_advantages,
    group_normalized_advantages,
    kl_penalized_rewards,
    outcome_token_rewards,
    overlong_penalty,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
    uniform_group_mask,
    whiten,
)

NUM_GROUPS = 4
STATS = ("group", "batch", "none")


# ----------------------------------------------------------------------------- NumPy references


def ref_mean_std(values):
    """Mean and unbiased std of a list (std None for fewer than 2 values)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return mean, std


def ref_group_norm(s, ids, valid, mean, std, eps=1e-6):
    out = np.zeros(len(s))
    batch = [s[i] for i in range(len(s)) if valid[i]]
    b_mean, b_std = ref_mean_std(batch) if batch else (0.0, None)
    for i in range(len(s)):
        if not valid[i]:
            continue
        group = [s[j] for j in range(len(s)) if valid[j] and ids[j] == ids[i]]
        g_mean, g_std = ref_mean_std(group)
        mu = {"group": g_mean if len(group) > 1 else 0.0, "batch": b_mean, "none": 0.0}[mean]
        if std == "none":
            sigma, e = 1.0, 0.0
        else:
            sigma = g_std if std == "group" else b_std
            sigma, e = (1.0 if sigma is None else sigma), eps
        out[i] = (s[i] - mu) / (sigma + e)
    return out


def ref_whiten(x, mask):
    vals = [x[i, t] for i in range(x.shape[0]) for t in range(x.shape[1]) if mask[i, t]]
    if not vals:
        return np.zeros_like(x)
    mean, std = ref_mean_std(vals)
    out = (x - mean) if std is None else (x - mean) / math.sqrt(std**2 + 1e-8)
    return np.where(mask, out, 0.0)


def valid_positions(mask_row):
    return [t for t in range(len(mask_row)) if mask_row[t]]


def ref_returns(r, mask, gamma):
    out = np.zeros_like(r)
    for i in range(r.shape[0]):
        g = 0.0
        for t in reversed(valid_positions(mask[i])):
            g = r[i, t] + gamma * g
            out[i, t] = g
    return out


def ref_gae(r, v, mask, gamma, lam):
    adv = np.zeros_like(r)
    for i in range(r.shape[0]):
        a_next, v_next = 0.0, 0.0
        for t in reversed(valid_positions(mask[i])):
            delta = r[i, t] + gamma * v_next - v[i, t]
            a_next = delta + gamma * lam * a_next
            v_next = v[i, t]
            adv[i, t] = a_next
    return adv, np.where(mask, adv + v, 0.0)


# ----------------------------------------------------------------------------- inputs


def grouped_rewards(rng, case):
    """(rewards [12], group ids, valid): groups of size 1 and G, optional all-equal rewards."""
    ids = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3])  # group 2 is a group of one
    valid = np.ones(12, bool)
    if case == "random":
        s = rng.normal(size=12)
    elif case == "binary":
        s = rng.integers(0, 2, size=12).astype(float)
    elif case == "all_equal":
        s = np.full(12, 0.7)
    else:  # "padded": invalid sequences with NaN rewards, group 3 left with a single member
        s = rng.normal(size=12)
        valid[[10, 11, 7]] = False
        s[~valid] = np.nan
    return s, ids, valid


CASES = ("random", "binary", "all_equal", "padded")


# ----------------------------------------------------------------------------- group normalisation


COMBOS = tuple(itertools.product(STATS, STATS))


@jax.jit
def all_group_norms(s, ids, valid):
    """[9, B] advantages for every (mean, std) pair, one compilation."""
    return jnp.stack(
        [
            group_normalized_advantages(s, ids, num_groups=NUM_GROUPS, mean=m, std=d, valid=valid)
            for m, d in COMBOS
        ]
    )


@pytest.mark.parametrize("case", CASES)
def test_group_normalized_matches_reference(x64, rng, case):
    s, ids, valid = grouped_rewards(rng, case)
    got = all_group_norms(s, ids, valid)
    for k, (mean, std) in enumerate(COMBOS):
        expected = ref_group_norm(s, ids, valid, mean, std)
        np.testing.assert_allclose(got[k], expected, rtol=1e-6, atol=1e-12, err_msg=f"{mean}/{std}")


def test_grpo_advantages_sum_to_zero_in_each_group(x64, rng):
    s, ids, valid = grouped_rewards(rng, "random")
    got = np.asarray(all_group_norms(s, ids, valid))
    for std in ("group", "none"):
        adv = got[COMBOS.index(("group", std))]
        for g in (0, 1, 3):
            assert abs(adv[ids == g].sum()) < 1e-12
        eps = 1e-6 if std == "group" else 0.0
        np.testing.assert_allclose(adv[ids == 2], s[ids == 2] / (1 + eps))


def test_group_normalized_rejects_unknown_statistic():
    with pytest.raises(ValueError, match="group, batch, none"):
        group_normalized_advantages(jnp.ones(2), jnp.zeros(2, int), num_groups=1, std="max")


def test_broadcast_to_tokens(make_mask, rng, poison):
    mask = make_mask(rng, 4, 5)
    out = broadcast_to_tokens(jnp.arange(4.0), mask)
    np.testing.assert_array_equal(out, np.where(mask, np.arange(4.0)[:, None], 0))


# ----------------------------------------------------------------------------- RLOO

rloo_jit = jax.jit(rloo_advantages, static_argnames="num_groups")


def test_rloo_is_reward_minus_leave_one_out_mean(x64, rng):
    s, ids, valid = grouped_rewards(rng, "random")
    ids, valid = np.where(ids == 2, 1, ids), valid  # no group of one
    got = rloo_jit(s, ids, num_groups=NUM_GROUPS, valid=valid)
    for i in range(12):
        others = [s[j] for j in range(12) if j != i and ids[j] == ids[i]]
        np.testing.assert_allclose(got[i], s[i] - sum(others) / len(others), rtol=1e-6)


def test_rloo_group_of_one_is_an_error_or_nan_under_jit(rng):
    s, ids, _ = grouped_rewards(rng, "random")
    with pytest.raises(ValueError, match=r"groups \[2\] have one"):
        rloo_advantages(s, ids, num_groups=NUM_GROUPS)
    traced = rloo_jit(s, ids, num_groups=NUM_GROUPS)
    assert np.isnan(traced[8]) and np.all(np.isfinite(np.delete(np.asarray(traced), 8)))


def test_rloo_ignores_invalid_sequences(rng):
    s, ids, valid = grouped_rewards(rng, "padded")
    valid[[8, 9]] = False  # no group of one left
    got = rloo_jit(s, ids, num_groups=NUM_GROUPS, valid=valid)
    assert np.all(np.isfinite(got)) and np.all(np.asarray(got)[~valid] == 0)


# ------------------------------------------------------------------------- whitening, REINFORCE++

whiten_jit = jax.jit(whiten)


@pytest.mark.parametrize("contiguous", [True, False])
def test_whiten_matches_reference(x64, rng, make_mask, poison, contiguous):
    mask = make_mask(rng, 8, 5, contiguous=contiguous)
    x = rng.normal(size=(8, 5)) * 3 + 1
    np.testing.assert_allclose(whiten_jit(poison(x, mask), mask), ref_whiten(x, mask), rtol=1e-6)


def test_whiten_one_valid_token_only_centres(x64):
    mask = np.zeros((2, 3), bool)
    mask[1, 2] = True
    x = np.full((2, 3), 5.0)
    np.testing.assert_array_equal(whiten_jit(x, mask), np.zeros((2, 3)))
    np.testing.assert_array_equal(whiten_jit(x, np.zeros((2, 3), bool)), np.zeros((2, 3)))


def test_outcome_token_rewards_put_reward_on_last_token(make_mask, rng):
    mask = make_mask(rng, 6, 5, contiguous=False)
    out = np.asarray(outcome_token_rewards(np.arange(1.0, 7.0), mask))
    for i in range(6):
        expected = np.zeros(5)
        if mask[i].any():
            expected[np.flatnonzero(mask[i])[-1]] = i + 1
        np.testing.assert_array_equal(out[i], expected)


@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("contiguous", [True, False])
def test_reinforce_pp_matches_reference(x64, rng, make_mask, poison, gamma, contiguous):
    mask = make_mask(rng, 8, 5, contiguous=contiguous)
    r = rng.normal(size=(8, 5))
    adv, returns = jax.jit(reinforce_pp_advantages)(poison(r, mask), mask, gamma=gamma)
    expected_returns = ref_returns(r, mask, gamma)
    np.testing.assert_allclose(returns, expected_returns, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(adv, ref_whiten(expected_returns, mask), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        jax.jit(discounted_returns)(r, mask, gamma=gamma), expected_returns, rtol=1e-6, atol=1e-12
    )


def test_reinforce_pp_baseline_matches_reference(x64, rng, make_mask):
    s, ids, valid = grouped_rewards(rng, "padded")
    mask = make_mask(rng, 12, 5)
    fn = jax.jit(reinforce_pp_baseline_advantages, static_argnames="num_groups")
    got = fn(s, ids, mask, num_groups=NUM_GROUPS, valid=valid)
    tokens = mask & valid[:, None]
    centred = ref_group_norm(s, ids, valid, "group", "none")
    expected = ref_whiten(np.where(tokens, centred[:, None], 0.0), tokens)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def test_kl_penalized_rewards(x64, rng, make_mask, poison):
    mask = make_mask(rng, 4, 5)
    r, lp_old, lp_ref = rng.normal(size=(3, 4, 5))
    got = kl_penalized_rewards(poison(r, mask), lp_old, poison(lp_ref, mask), mask, beta=0.1)
    np.testing.assert_allclose(got, np.where(mask, r - 0.1 * (lp_old - lp_ref), 0), rtol=1e-6)


# ----------------------------------------------------------------------------- GAE

gae_jit = jax.jit(gae_advantages, static_argnames="whiten_advantages")


@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 1.0), (0.99, 0.95)])
@pytest.mark.parametrize("contiguous", [True, False])
def test_gae_matches_reference(x64, rng, make_mask, poison, gamma, lam, contiguous):
    mask = make_mask(rng, 8, 5, contiguous=contiguous)
    r, v = rng.normal(size=(2, 8, 5))
    adv, returns = gae_jit(poison(r, mask), poison(v, mask), mask, gamma=gamma, lam=lam)
    ref_adv, ref_ret = ref_gae(r, v, mask, gamma, lam)
    np.testing.assert_allclose(returns, ref_ret, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(adv, ref_whiten(ref_adv, mask), rtol=1e-6, atol=1e-12)
    raw, _ = gae_jit(r, v, mask, gamma=gamma, lam=lam, whiten_advantages=False)
    np.testing.assert_allclose(raw, ref_adv, rtol=1e-6, atol=1e-12)


def test_gae_with_lambda_one_is_return_minus_value(x64, rng, make_mask):
    mask = make_mask(rng, 8, 5)
    r, v = rng.normal(size=(2, 8, 5))
    raw, _ = gae_jit(r, v, mask, whiten_advantages=False)
    np.testing.assert_allclose(raw, np.where(mask, ref_returns(r, mask, 1.0) - v, 0), atol=1e-12)


# ----------------------------------------------------------------------------- DAPO shaping


def test_overlong_penalty_hand_values():
    lengths = np.array([0, 60, 80, 90, 100, 130])
    got = overlong_penalty(lengths, max_len=100, buffer_len=20, penalty_factor=0.5)
    np.testing.assert_allclose(got, [0, 0, 0, -0.25, -0.5, -0.5])
    with pytest.raises(ValueError, match="buffer_len"):
        overlong_penalty(lengths, max_len=100, buffer_len=0)


def test_uniform_group_mask(rng):
    ids = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3])
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 1], bool)
    got = uniform_group_mask(correct, ids, num_groups=5)
    np.testing.assert_array_equal(got, [1, 1, 1, 0, 0, 0, 1, 1, 1, 1])
    valid = np.ones(10, bool)
    valid[4] = False  # group 1 becomes all wrong among its valid members
    got = uniform_group_mask(correct.astype(np.float32), ids, num_groups=5, valid=valid)
    np.testing.assert_array_equal(got[3:6], [1, 1, 1])


# ----------------------------------------------------------------------------- properties


def test_jit_compiles_once(rng, trace_count):
    fn, count = trace_count(
        lambda s, ids: group_normalized_advantages(s, ids, num_groups=3, std="batch")
    )
    for _ in range(3):
        fn(rng.normal(size=6).astype(np.float32), rng.integers(0, 3, size=6))
    assert count[0] == 1


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 1), st.booleans()), min_size=8, max_size=8
    ),
)
def test_property_group_norm(data):
    ids, s, valid = (np.array(col) for col in zip(*data, strict=True))
    s = s.astype(np.float32)
    all_got = np.asarray(all_group_norms(s, ids, valid))
    for got, (mean, std) in zip(all_got, COMBOS, strict=True):
        assert np.all(np.isfinite(got)) and np.all(got[~valid] == 0)
        expected = ref_group_norm(s, ids, valid, mean, std)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        if mean == "group":
            for g in range(4):
                if (members := valid & (ids == g)).sum() > 1:
                    assert abs(got[members].sum()) < 1e-3
