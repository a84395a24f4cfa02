"""One RL step's data: sample, verify, reshape rewards, and compute advantages.

The sampler returns rows prompt-major (row i·G + g is sample g of prompt i), so group ids are
`row // G`. Everything the update needs is assembled into one dict of device arrays:

    ids, attn [B, P+T]     prompt (left-padded) + response (right-padded)
    mask [B, T]            response tokens that enter the loss
    stored [B]             DPH-RL stored samples (no PPO term, only the f-divergence)
    lp_old [B, T]          behaviour log-probs (the sampler's, or recomputed)
    lp_ref [B, T]          reference log-probs (only when the run needs them)
    adv, returns, values_old [B, T], seq_adv [B]
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.losses import (
    get_advantage_fn,
    group_normalized_advantages,
    kl_penalized_rewards,
    outcome_token_rewards,
    overlong_penalty,
    uniform_group_mask,
)
from flowrl_jax.sampling import detokenize, sample

ScoreFn = Callable[[list[str], list[Any]], tuple[np.ndarray, np.ndarray, list[str]]]


@dataclasses.dataclass
class Rollout:
    """Samples of `num_prompts` groups, on device, with host-side rewards."""

    ids: jax.Array  # [B, P+T]
    attn: jax.Array  # [B, P+T]
    mask: jax.Array  # [B, T]
    lp_old: jax.Array  # [B, T]
    rewards: np.ndarray  # [B] shaped rewards
    correct: np.ndarray  # [B] bool
    lengths: np.ndarray  # [B]
    truncated: np.ndarray  # [B] bool
    texts: list[str]
    reasons: list[str]


def generate(
    model: Any,
    tokenizer: Any,
    prompt_ids: np.ndarray,
    prompt_mask: np.ndarray,
    references: list[Any],
    key: jax.Array,
    *,
    num_samples: int,
    sampling: dict[str, Any],
    score: ScoreFn,
    timings: dict[str, float],
) -> Rollout:
    """Samples `num_samples` responses per prompt, detokenises and scores them.

    sampling: temperature, top_p, top_k, max_new_tokens. `timings` accumulates seconds of the
    `rollout` and `verify` phases.
    """
    g = num_samples
    start = time.perf_counter()
    out = sample(
        model,
        jnp.asarray(prompt_ids),
        jnp.asarray(prompt_mask),
        key,
        stop_ids=stop_ids(tokenizer),
        num_samples=g,
        **sampling,
    )
    tokens, mask = np.asarray(out.tokens), np.asarray(out.mask).astype(bool)
    timings["rollout"] = timings.get("rollout", 0.0) + time.perf_counter() - start

    start = time.perf_counter()
    texts = detokenize(tokenizer, out)
    refs = [references[i // g] for i in range(len(texts))]
    rewards, correct, reasons = score(texts, refs)
    timings["verify"] = timings.get("verify", 0.0) + time.perf_counter() - start

    ids = np.concatenate([np.repeat(prompt_ids, g, axis=0), tokens], axis=1)
    attn = np.concatenate([np.repeat(prompt_mask, g, axis=0), mask], axis=1)
    return Rollout(
        ids=jnp.asarray(ids),
        attn=jnp.asarray(attn),
        mask=jnp.asarray(mask),
        lp_old=out.logprobs,
        rewards=np.asarray(rewards, np.float32),
        correct=np.asarray(correct, bool),
        lengths=np.asarray(out.lengths),
        truncated=np.asarray(out.truncated, bool),
        texts=texts,
        reasons=reasons,
    )


def stop_ids(tokenizer: Any) -> tuple[int, ...]:
    eos = tokenizer.eos_token_id
    return tuple(eos) if isinstance(eos, list | tuple) else (int(eos),)


def concat(rollouts: list[Rollout]) -> Rollout:
    fields = {}
    for f in dataclasses.fields(Rollout):
        values = [getattr(r, f.name) for r in rollouts]
        if isinstance(values[0], list):
            fields[f.name] = [v for vs in values for v in vs]
        elif isinstance(values[0], np.ndarray):
            fields[f.name] = np.concatenate(values)
        else:
            fields[f.name] = jnp.concatenate(values)
    return Rollout(**fields)


def select_groups(r: Rollout, groups: np.ndarray, g: int) -> Rollout:
    rows = (groups[:, None] * g + np.arange(g)).reshape(-1)
    fields = {}
    for f in dataclasses.fields(Rollout):
        v = getattr(r, f.name)
        fields[f.name] = [v[i] for i in rows] if isinstance(v, list) else v[rows]
    return Rollout(**fields)


def dynamic_sampling_keep(correct: np.ndarray, g: int) -> np.ndarray:
    """Groups whose correctness is not all equal (DAPO): the ones with a learning signal."""
    groups = np.arange(len(correct)) // g
    uniform = np.asarray(
        uniform_group_mask(
            jnp.asarray(correct, jnp.float32), jnp.asarray(groups), num_groups=len(correct) // g
        )
    )
    return np.flatnonzero(~uniform.reshape(-1, g)[:, 0])


def shape_rewards(r: Rollout, algo: Any, max_new_tokens: int) -> tuple[np.ndarray, jax.Array]:
    """DAPO's overlong shaping of the rewards and overlong filtering of the mask."""
    rewards = r.rewards
    if algo.overlong_buffer:
        rewards = rewards + np.asarray(
            overlong_penalty(
                jnp.asarray(r.lengths),
                max_len=max_new_tokens,
                buffer_len=algo.overlong_buffer,
                penalty_factor=algo.overlong_penalty,
            )
        )
    mask = r.mask
    if algo.overlong_filter:
        mask = mask & ~jnp.asarray(r.truncated)[:, None]
    return rewards.astype(np.float32), mask


def advantages(
    rewards: np.ndarray,
    mask: jax.Array,
    *,
    algo: Any,
    group_size: int,
    lp_old: jax.Array,
    lp_ref: jax.Array | None,
    values: jax.Array | None,
) -> dict[str, jax.Array]:
    """`adv`, `returns` [B, T] and `seq_adv` [B] for the configured estimator (ALGORITHMS.md §2)."""
    b = rewards.shape[0]
    groups = jnp.arange(b) // group_size
    token_rewards = outcome_token_rewards(jnp.asarray(rewards), mask)
    if algo.kl_reward_coef:
        token_rewards = kl_penalized_rewards(
            token_rewards, lp_old, lp_ref, mask, beta=algo.kl_reward_coef
        )
    options = {}
    if algo.advantage == "group_norm":
        options = dict(mean=algo.adv_mean, std=algo.adv_std)
    elif algo.advantage in ("reinforce_pp",):
        options = dict(gamma=algo.gamma)
    elif algo.advantage == "gae":
        options = dict(gamma=algo.gamma, lam=algo.lam)
    adv, returns = get_advantage_fn(algo.advantage)(
        token_rewards,
        mask,
        group_ids=groups,
        num_groups=b // group_size,
        values=values,
        **options,
    )
    seq_adv = group_normalized_advantages(
        jnp.asarray(rewards), groups, num_groups=b // group_size, mean="group", std="group"
    )
    return {"adv": adv, "returns": returns, "seq_adv": seq_adv}
