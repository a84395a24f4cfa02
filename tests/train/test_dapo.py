"""DAPO's loop pieces (docs/algorithms.md §2.8): the overlong buffer follows the length limit,
overlong filtering masks the loss only, dynamic sampling stops with an error at its limit (or
fills the batch when asked) and reports what it did."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_fixtures import toy_config

from flowrl_jax.algos import make_algorithm
from flowrl_jax.losses import group_normalized_advantages
from flowrl_jax.rollout import Rollout
from flowrl_jax.train.config import for_algorithm
from flowrl_jax.train.trainer import Trainer


def fake_rollout(rewards, lengths, truncated, *, max_new=4, prompt_len=8, correct=None):
    """A scored rollout with the given rewards and response lengths (tokens are irrelevant)."""
    b = len(rewards)
    lengths = np.asarray(lengths)
    mask = np.arange(max_new)[None] < lengths[:, None]
    attn = np.concatenate([np.ones((b, prompt_len), bool), mask], axis=1)
    rewards = np.asarray(rewards, np.float32)
    return Rollout(
        ids=jnp.ones((b, prompt_len + max_new), jnp.int32),
        attn=jnp.asarray(attn),
        mask=jnp.asarray(mask),
        lp_old=jnp.zeros((b, max_new)),
        rewards=rewards,
        correct=rewards > 0 if correct is None else np.asarray(correct, bool),
        lengths=lengths,
        truncated=np.asarray(truncated, bool),
        failed=np.zeros(b, bool),
        texts=[""] * b,
        reasons=["correct" if r > 0 else "wrong" for r in rewards],
    )


def dapo(**values):
    config = for_algorithm("dapo")
    with config.unlocked():
        config.algo.update(values)
    return make_algorithm(config.algo)


def test_overlong_buffer_follows_max_new_tokens():
    """The paper's L_b = 4096 of L_max = 20480: the penalty starts 4096 tokens before the limit
    and reaches −1 at it (with an absolute buffer of 4 tokens, only the last 4 tokens cost)."""
    r = fake_rollout([1.0, 1.0, 1.0, 1.0], [16384, 18432, 20476, 20480], [0, 0, 0, 1], max_new=1)
    rewards = dapo().shape_rewards(r, 20480)[0]
    np.testing.assert_allclose(rewards, [1.0, 0.5, 1 - 4092 / 4096, 0.0], atol=1e-6)
    absolute = dapo(overlong_buffer_len=1024).shape_rewards(r, 20480)[0]
    np.testing.assert_allclose(absolute, [1.0, 1.0, 1 - 1020 / 1024, 0.0], atol=1e-6)


def test_overlong_buffer_must_fit_the_limit():
    config = for_algorithm("dapo")
    with config.unlocked():
        config.rollout.max_new_tokens = 4
        config.algo.overlong_buffer_frac = 0.1
    with pytest.raises(ValueError, match=r"overlong_buffer_frac=0.1.*0 tokens"):
        make_algorithm(config.algo).check_run(config)


def test_overlong_filter_masks_only_the_loss(tiny_model, tmp_path):
    """Truncated responses leave the loss, but their rewards stay in their group's mean and
    std: the kept rows' advantages are GRPO's over all rewards (ROLL's max_len_mask)."""
    overrides = {
        "algo.overlong_filter": True,
        "algo.dynamic_sampling": False,
        "algo.overlong_buffer_frac": 0.0,
    }
    trainer = Trainer(toy_config(tiny_model, tmp_path, "dapo", **overrides))
    rewards = [1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0]
    truncated = [0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    lengths = np.where(truncated, 4, 2)
    fake = fake_rollout(rewards, lengths, truncated)
    trainer._generate = lambda *args: fake  # (model, prompts, key, score, timings)
    batch, _ = trainer.collect(jax.random.key(0), None, {})
    expected = group_normalized_advantages(
        jnp.asarray(rewards, jnp.float32), jnp.arange(16) // 4, num_groups=4
    )
    kept = ~np.asarray(truncated, bool)
    np.testing.assert_allclose(np.asarray(batch["adv"])[kept, 0], np.asarray(expected)[kept])
    in_loss = np.asarray(trainer.algo.online_mask(batch))
    assert not in_loss[~kept].any() and in_loss[kept].sum() == lengths[kept].sum()


def draws(calls: list, mixed: int, group_size: int = 4, num_prompts: int = 4):
    """A draw of `num_prompts` groups: the first `mixed` have one correct response, the rest
    none."""

    def draw(attempt):
        calls.append(attempt)
        rewards = np.zeros((num_prompts, group_size))
        rewards[:mixed, 0] = 1.0
        return fake_rollout(rewards.reshape(-1), [2] * rewards.size, [0] * rewards.size)

    return draw


def test_dynamic_sampling_raises_at_its_limit():
    """verl's recipe: keep generating up to the limit (10 generation batches), then stop."""
    calls = []
    with pytest.raises(RuntimeError, match=r"10 rollouts of 4 prompts gave 0 groups.*ds_fill"):
        dapo().collect(draws(calls, mixed=0), 4, 4)
    assert calls == list(range(10))


def test_dynamic_sampling_fills_when_asked():
    calls = []
    r, metrics = dapo(ds_fill=True, max_resample=2).collect(draws(calls, mixed=1), 4, 4)
    assert calls == [0, 1, 2] and len(r.rewards) == 16
    assert metrics == {"ds_resamples": 2, "ds_dropped": 8, "ds_filled": 1}
    assert r.rewards.reshape(4, 4)[:3, 0].tolist() == [1, 1, 1]  # the mixed groups come first


def test_dynamic_sampling_stops_when_full():
    calls = []
    _, metrics = dapo(max_resample=5).collect(draws(calls, mixed=2), 4, 4)
    assert calls == [0, 1] and metrics == {"ds_resamples": 1, "ds_dropped": 4, "ds_filled": 0}
