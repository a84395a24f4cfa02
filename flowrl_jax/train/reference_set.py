"""DPH-RL's D_pef: samples the initial policy already solves, stored once with their log-probs.

Built once before training (ALGORITHMS.md §4): sample `pef_samples` responses per training
prompt from the initial policy; a prompt solved in at least `pef_correct` of them is "perfect";
for each perfect prompt sample one fresh response and keep it if correct, with its tokens and
per-token log-probs (these are lp_ref: no reference network is needed afterwards). The other
prompts form D_exp, the exploration set. Saved to `workdir/reference_set.npz`, so a resumed
run reuses it instead of sampling again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from flowrl_jax.train import rollout as ro

log = logging.getLogger("flowrl_jax")


@dataclasses.dataclass
class ReferenceSet:
    ids: np.ndarray  # [N, P+T]
    attn: np.ndarray  # [N, P+T]
    mask: np.ndarray  # [N, T]
    lp_ref: np.ndarray  # [N, T]
    prompts: np.ndarray  # [N] train-set index of each stored sample

    def __len__(self) -> int:
        return len(self.prompts)


def _sample_all(trainer: Any, idx: np.ndarray, num_samples: int, key, score, desc: str):
    """Rollouts of every prompt in `idx`, in chunks of the step's prompt count (one shape)."""
    chunk = trainer.config.rollout.prompts_per_step
    out = []
    for start in tqdm(
        range(0, len(idx), chunk), desc=desc, leave=False, disable=not trainer.config.log.progress
    ):
        part = idx[np.arange(start, start + chunk) % len(idx)]
        s = trainer.train_set
        r = ro.generate(
            trainer.model.lm,
            trainer.tokenizer,
            s.ids[part],
            s.mask[part],
            [s.problems[i].reference for i in part],
            jax.random.fold_in(key, start),
            num_samples=num_samples,
            sampling=dict(
                temperature=trainer.config.rollout.temperature,
                top_p=trainer.config.rollout.top_p,
                top_k=trainer.config.rollout.top_k,
                max_new_tokens=trainer.max_new,
            ),
            score=score,
            timings={},
        )
        real = min(chunk, len(idx) - start) * num_samples
        out.append(ro.select_groups(r, np.arange(real // num_samples), num_samples))
    return ro.concat(out)


def build_reference_set(trainer: Any, score) -> tuple[ReferenceSet, np.ndarray]:
    """(D_pef samples, D_exp prompt indices); loads workdir/reference_set.npz when present."""
    algo = trainer.algo
    path = os.path.join(trainer.workdir, "reference_set.npz")
    n_train = len(trainer.train_set)
    if os.path.exists(path):
        data = np.load(path)
        ref = ReferenceSet(**{k: data[k] for k in ("ids", "attn", "mask", "lp_ref", "prompts")})
    else:
        key = jax.random.fold_in(jax.random.key(trainer.config.seed), 2**20)
        idx = np.arange(n_train)
        k, n = algo.pef_samples, algo.pef_correct
        probe = _sample_all(trainer, idx, k, jax.random.fold_in(key, 0), score, "D_pef probe")
        perfect = idx[probe.correct.reshape(n_train, k).sum(axis=1) >= n]
        ref = ReferenceSet(
            np.zeros((0, trainer.prompt_len + trainer.max_new), np.int32),
            np.zeros((0, trainer.prompt_len + trainer.max_new), bool),
            np.zeros((0, trainer.max_new), bool),
            np.zeros((0, trainer.max_new), np.float32),
            np.zeros((0,), np.int64),
        )
        if len(perfect):
            fresh = _sample_all(trainer, perfect, 1, jax.random.fold_in(key, 1), score, "D_pef")
            ok = np.flatnonzero(fresh.correct)
            ref = ReferenceSet(
                np.asarray(fresh.ids)[ok],
                np.asarray(fresh.attn)[ok],
                np.asarray(fresh.mask)[ok],
                np.asarray(fresh.lp_old)[ok],
                perfect[ok],
            )
        np.savez(path, **dataclasses.asdict(ref))
    if not len(ref):
        log.warning(
            "D_pef is empty: no training prompt is solved %d/%d times by the initial "
            "policy; DPH-RL runs as plain PPO-clip.",
            algo.pef_correct,
            algo.pef_samples,
        )
    log.info("D_pef: %d stored samples of %d training prompts", len(ref), n_train)
    return ref, exploration_pool(n_train, ref.prompts, explore_only=algo.explore_only)


def exploration_pool(n_train: int, solved: np.ndarray, *, explore_only: bool) -> np.ndarray:
    """Online prompts: D_exp (every prompt not in D_pef) with `explore_only`, else all.

    If the initial policy solves every prompt, D_exp is empty and all prompts are used.
    """
    everything = np.arange(n_train)
    if not explore_only:
        return everything
    pool = np.setdiff1d(everything, solved)
    if not len(pool):
        log.warning("D_exp is empty (the initial policy solves every prompt); online RL uses all.")
        return everything
    return pool
