"""Rollouts: sample G responses per prompt, detokenise them, score them.

Used alike by training, evaluation and DPH-RL's reference set. The sampler returns rows
prompt-major (row i·G + g is sample g of prompt i), so the group of row r is `r // G`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from flowrl_jax.data import PromptSet
from flowrl_jax.rollout.scoring import ScoreFn
from flowrl_jax.sampling import detokenize, sample


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How responses are drawn (`flowrl_jax.sampling.sample`'s options)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 16

    @classmethod
    def of(cls, section: Any, max_new_tokens: int) -> SamplingOptions:
        """From a config section with temperature and top_p (and top_k, else 0)."""
        return cls(section.temperature, section.top_p, section.get("top_k", 0), max_new_tokens)


@dataclasses.dataclass
class Rollout:
    """Samples of `num_prompts` groups, on device, with host-side rewards."""

    ids: jax.Array  # [B, P+T]
    attn: jax.Array  # [B, P+T]
    mask: jax.Array  # [B, T]
    lp_old: jax.Array  # [B, T]
    rewards: np.ndarray  # [B] the verifier's rewards
    correct: np.ndarray  # [B] bool
    lengths: np.ndarray  # [B]
    truncated: np.ndarray  # [B] bool
    failed: np.ndarray  # [B] bool: the verifier failed (not the response's fault)
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
    sampling: SamplingOptions,
    score: ScoreFn,
    timings: dict[str, float] | None = None,
) -> Rollout:
    """Samples `num_samples` responses per prompt, detokenises and scores them.

    `timings`, when given, accumulates seconds of the `rollout` and `verify` phases.
    """
    timings = {} if timings is None else timings
    g = num_samples
    start = time.perf_counter()
    out = sample(
        model,
        jnp.asarray(prompt_ids),
        jnp.asarray(prompt_mask),
        key,
        stop_ids=stop_ids(tokenizer),
        num_samples=g,
        **dataclasses.asdict(sampling),
    )
    tokens, mask = np.asarray(out.tokens), np.asarray(out.mask).astype(bool)
    timings["rollout"] = timings.get("rollout", 0.0) + time.perf_counter() - start

    start = time.perf_counter()
    texts = detokenize(tokenizer, out)
    refs = [references[i // g] for i in range(len(texts))]
    scores = score(texts, refs)
    timings["verify"] = timings.get("verify", 0.0) + time.perf_counter() - start

    ids = np.concatenate([np.repeat(prompt_ids, g, axis=0), tokens], axis=1)
    attn = np.concatenate([np.repeat(prompt_mask, g, axis=0), mask], axis=1)
    return Rollout(
        ids=jnp.asarray(ids),
        attn=jnp.asarray(attn),
        mask=jnp.asarray(mask),
        lp_old=out.logprobs,
        rewards=np.asarray(scores.rewards, np.float32),
        correct=np.asarray(scores.correct, bool),
        lengths=np.asarray(out.lengths),
        truncated=np.asarray(out.truncated, bool),
        failed=np.asarray(scores.failed, bool),
        texts=texts,
        reasons=list(scores.reasons),
    )


def generate_all(
    model: Any,
    tokenizer: Any,
    prompts: PromptSet,
    indices: np.ndarray,
    key: jax.Array,
    *,
    num_samples: int,
    sampling: SamplingOptions,
    score: ScoreFn,
    chunk: int,
    progress: bool = False,
    desc: str = "rollout",
) -> Rollout:
    """Rollouts of the prompts `indices` of `prompts`, `chunk` prompts per sampler call.

    Every call has one shape (the last chunk wraps around to full size; its extra rows are
    dropped), so one program serves them all; the chunk starting at position s samples with
    `fold_in(key, s)`. Rows are prompt-major in the order of `indices`.
    """
    parts = []
    bar = tqdm(total=len(indices), desc=desc, disable=not progress, leave=False)
    for start in range(0, len(indices), chunk):
        idx = indices[np.arange(start, start + chunk) % len(indices)]
        r = generate(
            model,
            tokenizer,
            prompts.ids[idx],
            prompts.mask[idx],
            [prompts.problems[i].reference for i in idx],
            jax.random.fold_in(key, start),
            num_samples=num_samples,
            sampling=sampling,
            score=score,
        )
        real = min(chunk, len(indices) - start)
        parts.append(select_groups(r, np.arange(real), num_samples))
        bar.update(real)
    bar.close()
    return concat(parts)


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
