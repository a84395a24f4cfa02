"""PPO's separate critic (docs/algorithms.md §2.6): a copy of the initial policy with its own
value head, learning rate and optimizer, next to the default value head on the policy."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from train_fixtures import toy_config

from flowrl_jax.losses import value_loss
from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.step import policy_forward
from flowrl_jax.train.trainer import Trainer


def _leaves(module):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(module, nnx.Param))]


def test_separate_critic_is_its_own_model(tiny_model, tmp_path):
    overrides = {"algo.critic": "separate", "algo.critic_lr": 3e-3}
    trainer = Trainer(toy_config(tiny_model, tmp_path, "ppo", steps=2, **overrides))
    model = trainer.model
    for a, b in zip(_leaves(model.lm), _leaves(model.value.backbone), strict=True):
        np.testing.assert_array_equal(a, b)  # starts as a copy of the initial policy

    # the value loss reaches the critic only, never the policy's parameters
    with make_scorer(trainer.config) as score:
        batch, _ = trainer.collect(jax.random.key(0), score, {})

    def critic_loss(params):
        m = nnx.merge(trainer.graphdef, params, trainer.rest)
        fwd = policy_forward(m, batch, prompt_len=8, temperature=1.0, algo=trainer.algo)
        v, _ = value_loss(fwd["values"], batch["values_old"], batch["returns"], batch["mask"])
        return jnp.sum(v)

    grads = jax.grad(critic_loss)(trainer.params)
    assert all(not np.any(np.asarray(g)) for g in jax.tree.leaves(grads["lm"]))
    assert any(np.any(np.asarray(g)) for g in jax.tree.leaves(grads["value"]["backbone"]))

    trainer.train()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["optim/lr_value"] == np.float32(3e-3)
    assert rows[-1]["optim/lr"] == np.float32(trainer.config.optim.lr)
    pairs = zip(_leaves(model.lm), _leaves(model.value.backbone), strict=True)
    assert max(np.abs(a - b).max() for a, b in pairs) > 0  # trained apart
