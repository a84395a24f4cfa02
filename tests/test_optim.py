"""The optimizer's learning rate follows the RL step (docs/algorithms.md §8.1):
every update of one RL step uses that step's rate, warm-up and cosine lengths count RL steps,
and a module with a rate of its own (PPO's separate critic) gets it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from flowrl_jax.optim import lr_schedule, make_rl_optimizer, scale_by_rl_step_schedule, set_rl_step


def optim_section(**overrides) -> ml_collections.ConfigDict:
    section = dict(
        lr=1e-3,
        warmup_steps=2,
        schedule="constant",
        weight_decay=0.0,
        b1=0.9,
        b2=0.999,
        grad_clip=1e9,
    )
    return ml_collections.ConfigDict({**section, **overrides})


def test_constant_schedule_is_exactly_lr_after_warmup():
    rates = make_rl_optimizer(optim_section(), total_steps=10).learning_rates
    got = [rates(s)["optim/lr"] for s in range(4)]
    assert got == [0.0, np.float32(0.0005), np.float32(1e-3), np.float32(1e-3)]  # float32 lr


def test_cosine_length_counts_rl_steps():
    rate = lr_schedule(1.0, total_steps=110, warmup_steps=10, schedule="cosine")
    assert float(rate(10)) == 1.0
    assert float(rate(60)) == pytest.approx(0.5, abs=1e-6)
    assert float(rate(110)) == pytest.approx(0.0, abs=1e-6)


def test_updates_of_one_rl_step_share_its_rate():
    """The counter does not advance with the updates; only `set_rl_step` moves it."""
    rate = lr_schedule(1.0, total_steps=10, warmup_steps=4)
    tx = scale_by_rl_step_schedule(rate)
    ones = {"w": jnp.ones(3)}
    state = set_rl_step(tx.init(ones), 2)
    for _ in range(4):  # four mini-batches of RL step 2
        updates, state = tx.update(ones, state)
        np.testing.assert_array_equal(updates["w"], -0.5)
    updates, _ = tx.update(ones, set_rl_step(state, 3))
    np.testing.assert_array_equal(updates["w"], -0.75)


def test_a_group_gets_its_own_rate():
    params = {"lm": {"w": jnp.zeros(4)}, "critic": {"w": jnp.zeros(4)}}
    opt = make_rl_optimizer(optim_section(warmup_steps=0), total_steps=10, groups={"critic": 0.1})
    state = set_rl_step(opt.tx.init(params), 0)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = opt.tx.update(grads, state, params)
    # Adam's first step is g/|g| per coordinate, so each update is -rate
    np.testing.assert_allclose(updates["lm"]["w"], -1e-3, rtol=1e-5)
    np.testing.assert_allclose(updates["critic"]["w"], -0.1, rtol=1e-5)
    assert opt.learning_rates(5) == {"optim/lr": pytest.approx(1e-3), "optim/lr_critic": 0.1}
