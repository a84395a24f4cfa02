"""The registry of advantage estimators and policy losses (flowrl_jax/losses/registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowrl_jax.losses import (
    advantage_names,
    broadcast_to_tokens,
    gae_advantages,
    get_advantage_fn,
    get_policy_loss_fn,
    group_normalized_advantages,
    gspo_loss,
    outcome_token_rewards,
    policy_loss_names,
    ppo_clip_loss,
    register_advantage,
    register_policy_loss,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
)
from flowrl_jax.losses import registry as registry_module

IDS = np.array([0, 0, 0, 1, 1, 1])


@pytest.fixture
def rollout(rng, make_mask):
    mask = make_mask(rng, 6, 4, empty_row=False)
    rewards = rng.integers(0, 2, size=6).astype(np.float32)
    values = rng.normal(size=(6, 4)).astype(np.float32)
    return rewards, outcome_token_rewards(rewards, mask), mask, values


def test_names():
    assert set(advantage_names()) >= {
        "grpo", "dr_grpo", "lite_ppo", "group_norm", "rloo", "reinforce_pp",
        "reinforce_pp_baseline", "gae",
    }  # fmt: skip
    assert set(policy_loss_names()) >= {"ppo_clip", "gspo"}
    assert get_policy_loss_fn("ppo_clip") is ppo_clip_loss
    assert get_policy_loss_fn("gspo") is gspo_loss


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown advantage estimator 'grpoo'.*dr_grpo, gae"):
        get_advantage_fn("grpoo")
    with pytest.raises(ValueError, match=r"unknown policy loss 'ppo'.*gspo, ppo_clip"):
        get_policy_loss_fn("ppo")


@jax.jit
def registry_and_direct(rewards, token_rewards, mask, values):
    """{case: (registry output, direct call)}, all in one compilation."""
    common = {"group_ids": IDS, "num_groups": 2, "values": values}

    def adv(name, **options):
        return get_advantage_fn(name)(token_rewards, mask, **common, **options)[0]

    def group(mean, std):
        a = group_normalized_advantages(rewards, IDS, num_groups=2, mean=mean, std=std)
        return broadcast_to_tokens(a, mask)

    return {
        "grpo": (adv("grpo"), group("group", "group")),
        "dr_grpo": (adv("dr_grpo"), group("group", "none")),
        "lite_ppo": (adv("lite_ppo"), group("group", "batch")),
        "group_norm": (adv("group_norm", mean="batch", std="none"), group("batch", "none")),
        "rloo": (
            adv("rloo"),
            broadcast_to_tokens(rloo_advantages(rewards, IDS, num_groups=2), mask),
        ),
        "reinforce_pp": (
            adv("reinforce_pp", gamma=0.9),
            reinforce_pp_advantages(token_rewards, mask, gamma=0.9)[0],
        ),
        "reinforce_pp_baseline": (
            adv("reinforce_pp_baseline"),
            reinforce_pp_baseline_advantages(rewards, IDS, mask, num_groups=2),
        ),
        "gae": (
            get_advantage_fn("gae")(token_rewards, mask, values=values, lam=0.95),
            gae_advantages(token_rewards, values, mask, lam=0.95),
        ),
    }


def test_entries_equal_the_functions(rollout):
    for name, (got, expected) in registry_and_direct(*rollout).items():
        for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-6, err_msg=name)


def test_valid_mask_zeroes_padding_sequences(rollout):
    _, token_rewards, mask, values = rollout
    valid = np.array([1, 1, 1, 1, 1, 0], bool)
    token_rewards = jnp.asarray(token_rewards).at[5].set(jnp.nan)
    names = ("grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "gae")
    common = {"group_ids": IDS, "num_groups": 2, "values": values, "valid": valid}
    out = jax.jit(lambda r: {n: get_advantage_fn(n)(r, mask, **common) for n in names})(
        token_rewards
    )
    for name, (adv, _) in out.items():
        assert np.all(np.isfinite(adv)) and np.all(np.asarray(adv)[5] == 0), name


def test_missing_inputs_and_misspelt_options(rollout):
    _, token_rewards, mask, _ = rollout
    with pytest.raises(ValueError, match="needs group_ids, num_groups"):
        get_advantage_fn("grpo")(token_rewards, mask)
    with pytest.raises(ValueError, match="needs values"):
        get_advantage_fn("gae")(token_rewards, mask)
    with pytest.raises(TypeError, match="gama"):
        get_advantage_fn("reinforce_pp")(token_rewards, mask, gama=0.9)


def test_register_new_entries_and_reject_duplicates():
    try:

        @register_advantage("test_zero")
        def zero(token_rewards, mask, **_):
            return jnp.zeros_like(token_rewards), jnp.zeros_like(token_rewards)

        @register_policy_loss("test_pg")
        def pg(lp, lp_old, advantages, mask, **_):
            return -advantages * lp, {}

        assert get_advantage_fn("test_zero") is zero and get_policy_loss_fn("test_pg") is pg
        with pytest.raises(ValueError, match="already registered"):
            register_advantage("grpo")(zero)
    finally:
        registry_module._ADVANTAGES.pop("test_zero", None)
        registry_module._POLICY_LOSSES.pop("test_pg", None)


def test_entries_are_jittable(rollout):
    _, token_rewards, mask, _ = rollout
    fn = jax.jit(lambda r, m: get_advantage_fn("grpo")(r, m, group_ids=IDS, num_groups=2))
    assert fn(token_rewards, mask)[0].shape == (6, 4)
