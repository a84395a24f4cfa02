"""A run never fails silently: verifier failures and non-finite gradients stop it with a clear
message, reward reasons are counted per step, and config values no algorithm reads are refused."""

from __future__ import annotations

import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from train_fixtures import toy_config

from flowrl_jax.algos import base as algos_base
from flowrl_jax.algos import make_algorithm
from flowrl_jax.algos.grpo import GRPO
from flowrl_jax.models import from_pretrained
from flowrl_jax.models.heads import LogZHead
from flowrl_jax.tasks import base as tasks_base
from flowrl_jax.tasks.toy import FirstChar
from flowrl_jax.train.config import for_algorithm, validate
from flowrl_jax.train.step import PolicyModel, policy_forward
from flowrl_jax.train.trainer import Trainer


class BrokenVerifier(FirstChar):
    name = "broken_verifier_test"

    def verify(self, response, reference, *, timeout, **options):
        raise RuntimeError("the verifier's own bug")


class NaNLoss(GRPO):
    name = "nan_loss_test"
    display_name = "NaN"

    def loss(self, fwd, mb, norms, max_len):
        loss, metrics = super().loss(fwd, mb, norms, max_len)
        return loss * jnp.nan, metrics


@pytest.fixture
def registered():
    """Registers test-only tasks and algorithms for one test."""
    added_tasks, added_algos = [], []

    def add(thing):
        if isinstance(thing, tasks_base.Task):
            tasks_base.register_task(thing)
            added_tasks.append(thing.name)
        else:
            algos_base.register(thing)
            added_algos.append(thing.name)

    yield add
    for name in added_tasks:
        tasks_base._TASKS.pop(name)
    for name in added_algos:
        algos_base._ALGORITHMS.pop(name)


def test_reason_counts_are_logged_per_step(tiny_model, tmp_path):
    Trainer(toy_config(tiny_model, tmp_path, steps=2)).train()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        counts = {k: v for k, v in row.items() if k.startswith("reasons/")}
        assert set(counts) <= {"reasons/correct", "reasons/wrong"} and counts
        assert sum(counts.values()) == 16  # 4 prompts x 4 samples
        assert row["verifier_failed"] == 0


def test_a_broken_verifier_stops_the_run(registered, tiny_model, tmp_path):
    registered(BrokenVerifier())
    config = toy_config(
        tiny_model, tmp_path, task="broken_verifier_test", **{"reward.unsafe_in_process": True}
    )
    with pytest.raises(RuntimeError, match=r"step 1: the verifier failed on 16 of 16.*own bug"):
        Trainer(config).train()


def test_non_finite_gradients_warn_and_stop_the_run(registered, tiny_model, tmp_path, caplog):
    registered(NaNLoss)
    config = toy_config(tiny_model, tmp_path, "nan_loss_test", steps=5)
    with config.unlocked():
        config.optim.max_skipped_steps = 3
    trainer = Trainer(config)
    before = jax.tree.map(np.asarray, trainer.params)
    with caplog.at_level(logging.WARNING), pytest.raises(FloatingPointError, match="last 3 RL"):
        trainer.train()
    assert caplog.text.count("updates skipped (the gradient was not finite)") == 3
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(trainer.params), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))  # nothing NaN was written


def test_gspo_from_a_config_gets_gspos_defaults():
    config = for_algorithm("grpo")
    with config.unlocked():
        config.algo.policy_loss = "gspo"
    algo = make_algorithm(config.algo)
    assert algo.p.policy_loss_options() == {}  # GSPO's own 3e-4 / 4e-4, no dual clip
    assert algo.p.agg_mode == "seq-mean-token-mean"
    assert make_algorithm(for_algorithm("grpo").algo).p.policy_loss_options() == {
        "clip_ratio_c": 3.0
    }


def test_a_value_the_algorithm_does_not_read_is_refused():
    config = for_algorithm("grpo")
    with config.unlocked():
        config.algo.overlong_buffer_len = 4
    with pytest.raises(
        ValueError, match=r"algo.overlong_buffer_len=4 is not read by.*'grpo'.*dapo"
    ):
        validate(config)
    switched = for_algorithm("dapo")  # a DAPO config run as FlowRL: DAPO's values are unread
    with switched.unlocked():
        switched.algo.name = "flowrl"
    with pytest.raises(ValueError, match=r"algo.name='flowrl', but this config holds dapo's"):
        validate(switched)
    switched.algo.preset = "flowrl"  # on purpose: then the values FlowRL ignores are named
    with pytest.raises(ValueError, match=r"is not read by algo\.name='flowrl'"):
        validate(switched)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("algo.clip_ratio_high", -0.1, r"config.algo.clip_ratio_high=-0.1 must be >= 0"),
        ("algo.advantage", "grpoo", r"config.algo.advantage='grpoo' is not valid"),
        ("optim.lr", float("nan"), r"config.optim.lr=nan must be a finite number > 0"),
        ("rollout.top_p", 0.0, r"config.rollout.top_p=0.0 must be in \(0, 1\]"),
        ("mesh.fsdp", 0, r"config.mesh.fsdp=0 must be >= 1, or -1"),
        ("reward.correct", float("nan"), r"config.reward.correct=nan must be a finite"),
        ("reward.num_workers", -1, r"config.reward.num_workers=-1 must be >= 0"),
        ("task", "algebra", r"config.task='algebra' is not valid"),
    ],
)
def test_bad_values_name_the_key(key, value, match):
    config = for_algorithm("grpo")
    section, _, name = key.rpartition(".")
    with config.unlocked():
        (config[section] if section else config)[name] = value
    with pytest.raises(ValueError, match=match):
        validate(config)


def test_forward_without_an_algorithm_ignores_the_heads(tiny_model):
    lm = from_pretrained(tiny_model)
    model = PolicyModel(lm, logz=LogZHead(lm.config.hidden_size, rngs=nnx.Rngs(0)))
    batch = {"ids": jnp.ones((2, 6), jnp.int32), "attn": jnp.ones((2, 6), bool)}
    fwd = policy_forward(model, batch, prompt_len=3, temperature=1.0)
    assert set(fwd) == {"lp", "entropy"} and fwd["lp"].shape == (2, 3)
