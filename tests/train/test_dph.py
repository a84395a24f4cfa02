"""DPH-RL's one-time D_pef build, the exploration set, and the stored samples in each step."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from train_fixtures import toy_config, use_sgd

from flowrl_jax.algos import RunContext
from flowrl_jax.algos.dph import build_reference_set, exploration_pool, released_layout
from flowrl_jax.losses import f_divergence, ppo_clip_loss
from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.step import policy_forward
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


def test_released_layout():
    """verl's dispatch: rows (online, then stored) in contiguous rank pieces, each cut into
    mini-batches; step j = mini-batch j of every rank; a short one padded with -1."""
    online, stored = np.arange(16) + 100, np.arange(16, 20)
    steps = released_layout(online, stored, mini_rows=8, ranks=2)
    expected = [
        [100, 101, 102, 103, 110, 111, 112, 113],
        [104, 105, 106, 107, 114, 115, 16, 17],
        [108, 109, -1, -1, 18, 19, -1, -1],
    ]
    np.testing.assert_array_equal(np.stack(steps), expected)


def test_microbatch_weighting_is_the_released_update(solved_toy_policy, tmp_path):
    """dph_weighting='microbatch' gives the update DPH-RL's verl fork computes, written here
    literally: ranks take contiguous pieces of (online rows, then stored rows), split them into
    mini-batches and micro-batches; a micro-batch whose first row is stored has loss
    η·token-mean f, any other the PPO loss; each divided by the configured number of
    micro-batches per mini-batch; gradients averaged over ranks; one SGD step per mini-batch."""
    overrides = {
        "algo.pef_samples": 2,
        "algo.pef_correct": 2,
        "algo.stored_per_step": 4,
        "algo.eta": 0.5,
        "algo.dph_weighting": "microbatch",
        "algo.dph_ranks": 2,
        "algo.dph_micro_rows": 2,
        "optim.mini_batch_prompts": 2,
        "optim.micro_batch_size": 4,
    }
    trainer = Trainer(toy_config(solved_toy_policy, tmp_path, "dph_forward_kl", **overrides))
    use_sgd(trainer)
    with make_scorer(trainer.config) as score:
        trainer.algo.setup(trainer.run_context(score))
        batch, _ = trainer.collect(jax.random.key(0), score, {})
    params = jax.tree.map(jnp.copy, trainer.params)
    metrics = trainer.update(batch, jax.random.key(1))
    assert metrics["updates"] == 3  # 2 mini-batches of online rows, then the stored rows' own

    p = trainer.algo.p
    perm = np.asarray(jax.random.permutation(jax.random.fold_in(jax.random.key(1), 1000), 16))
    pieces = np.split(np.concatenate([perm, np.arange(16, 20)]), 2)  # one per rank
    grad_accumulation = 4 // 2  # per-rank mini-batch / micro-batch, as configured

    def micro_loss(params, rows):
        mb = {k: v[rows] for k, v in batch.items()}
        model = nnx.merge(trainer.graphdef, params, trainer.rest)
        lp = policy_forward(model, mb, prompt_len=8, temperature=1.0)["lp"]
        mask = mb["mask"].astype(bool)
        if bool(mb["stored"][0]):
            f = f_divergence(lp, mb["lp_old"], mask, kind="forward_kl")
            loss = p.eta * jnp.sum(f) / jnp.sum(mask)
        else:
            ppo, _ = ppo_clip_loss(
                lp, mb["lp_old"], mb["adv"], mask, clip_ratio_high=0.28, clip_ratio_c=3.0
            )
            loss = jnp.sum(ppo) / jnp.sum(mask)
        return loss / grad_accumulation

    for step in range(3):
        grads = jax.tree.map(jnp.zeros_like, params)
        for piece in pieces:
            mini = piece[4 * step : 4 * step + 4]
            for i in range(0, len(mini), 2):
                g = jax.grad(micro_loss)(params, mini[i : i + 2])
                grads = jax.tree.map(lambda a, b: a + b / len(pieces), grads, g)
        params = jax.tree.map(lambda w, g: w - g, params, grads)

    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(trainer.params), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert np.abs(a - b).max() <= 1e-5 * max(1.0, np.abs(a).max())
