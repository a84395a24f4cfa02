"""DPH-RL's one-time D_pef build, the exploration set, and the stored samples in each step."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
from train_fixtures import toy_config

from flowrl_jax.algos import RunContext
from flowrl_jax.algos.dph import build_reference_set, exploration_pool
from flowrl_jax.train.trainer import Trainer


def test_exploration_pool_is_the_complement_of_d_pef():
    solved = np.array([1, 3, 4])
    np.testing.assert_array_equal(exploration_pool(6, solved, explore_only=True), [0, 2, 5])
    np.testing.assert_array_equal(exploration_pool(6, solved, explore_only=False), np.arange(6))
    np.testing.assert_array_equal(
        exploration_pool(3, np.arange(3), explore_only=True), np.arange(3)
    )


def test_reference_set_is_built_stored_and_reused(solved_toy_policy, tmp_path):
    overrides = {"algo.pef_samples": 2, "algo.pef_correct": 2, "optim.micro_batch_size": 4}
    trainer = Trainer(toy_config(solved_toy_policy, tmp_path, "dph_js", **overrides))
    trainer.train()
    ref = trainer.algo.reference_set
    assert len(ref) > 0 and (tmp_path / "reference_set.npz").exists()
    # stored samples are correct responses of D_pef prompts, with their reference log-probs
    responses = ref.ids[:, -ref.mask.shape[1] :]
    texts = [trainer.tokenizer.decode(r[m]) for r, m in zip(responses, ref.mask, strict=True)]
    assert all(t.startswith("1") for t in texts)
    assert np.all(ref.lp_ref[ref.mask] <= 0) and np.all(ref.lp_ref[~ref.mask] == 0)
    # the trained policy solves every prompt: D_exp would be empty, so online RL uses all
    assert len(np.unique(ref.prompts)) == len(trainer.train_set) == len(trainer.pool)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["f_div"]) for r in rows)

    again = Trainer(toy_config(solved_toy_policy, tmp_path, "dph_js", **overrides, steps=3))
    again.train(resume=True)
    np.testing.assert_array_equal(again.algo.reference_set.ids, ref.ids)


def test_empty_reference_set_warns_and_trains(tiny_model, tmp_path, caplog):
    trainer = Trainer(toy_config(tiny_model, tmp_path, "dph_forward_kl", **{"algo.pef_correct": 2}))
    trainer.train()
    assert len(trainer.algo.reference_set) == 0
    assert "D_pef is empty" in caplog.text


def test_stored_logprobs_are_the_runs_behaviour_logprobs():
    """The stored reference log-probs are what the run's updates would compute for those
    responses (`RunContext.logprobs`: the update's own forward when the run recomputes, as in
    bfloat16), not the sampler's."""
    rng = np.random.default_rng(0)

    def rollout(idx, num_samples, key, desc="rollout"):
        n = len(idx) * num_samples
        return SimpleNamespace(
            ids=np.arange(n)[:, None] * np.ones((1, 6), int),
            attn=np.ones((n, 6), bool),
            mask=np.ones((n, 2), bool),
            lp_old=np.full((n, 2), -1.0),  # the sampler's
            correct=np.ones(n, bool),
        )

    recomputed = rng.normal(size=(3, 2))
    ctx = RunContext(
        rollout=rollout,
        logprobs=lambda r: recomputed[: len(r.correct)],
        num_prompts=3,
        prompts_per_step=3,
        prompt_len=4,
        max_new_tokens=2,
        workdir="",
        seed=0,
        progress=False,
    )
    ref = build_reference_set(ctx, pef_samples=2, pef_correct=2)
    np.testing.assert_array_equal(ref.lp_ref, recomputed)
