"""Rollouts: sample G responses per prompt, detokenise them, score them.

Used alike by training, evaluation and DPH-RL's reference set. The sampler returns rows
prompt-major (row i·G + g is sample g of prompt i), so the group of row r is `r // G`.

On a mesh (the model's weights placed on one, e.g. by `distributed.rollout_copy`), the rows
are split over its batch axes: in a multi-host run each process loads its share of the
prompts, samples them on its own devices, detokenises and scores its own responses, and only
the per-row verdicts (reward, correctness, reason, text) are gathered, so that every process
holds the same `Rollout` and makes the same decisions. A group stays on one process (the
prompts per call must split evenly over the mesh's batch shards). The token arrays stay
where they were sampled, as global arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from flowrl_jax.data import PromptSet
from flowrl_jax.distributed.multihost import (
    gather_rows,
    gather_strings,
    mesh_of,
    place_rows,
    process_rows,
)
from flowrl_jax.rollout.scoring import ScoreFn
from flowrl_jax.sampling import SampleOutput, detokenize, local_rows, sample


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

    prompt_ids, prompt_mask: [B, P] host arrays, the same on every process. `timings`, when
    given, accumulates seconds of the `rollout` and `verify` phases.
    """
    timings = {} if timings is None else timings
    g = num_samples
    mesh = mesh_of(model)
    start = time.perf_counter()
    out = sample(
        model,
        place_rows(mesh, prompt_ids),
        place_rows(mesh, prompt_mask),
        key,
        stop_ids=stop_ids(tokenizer),
        num_samples=g,
        mesh=mesh,
        **dataclasses.asdict(sampling),
    )
    jax.block_until_ready(out.tokens)
    timings["rollout"] = timings.get("rollout", 0.0) + time.perf_counter() - start

    start = time.perf_counter()
    n = out.tokens.shape[0]
    mine = process_rows(out.tokens.sharding, out.tokens.shape)
    texts = detokenize(tokenizer, out)  # this process's rows
    scores = score(texts, [references[i // g] for i in range(mine.start, mine.stop)])
    timings["verify"] = timings.get("verify", 0.0) + time.perf_counter() - start

    def gathered(x: Any, dtype: Any) -> np.ndarray:
        return gather_rows(np.asarray(x, dtype), mine, n)

    ids, attn = _sequences(out, prompt_ids.shape[1])
    return Rollout(
        ids=ids,
        attn=attn,
        mask=out.mask,
        lp_old=out.logprobs,
        rewards=gathered(scores.rewards, np.float32),
        correct=gathered(scores.correct, bool),
        lengths=gathered(local_rows(out.lengths), np.int32),
        truncated=gathered(local_rows(out.truncated), bool),
        failed=gathered(scores.failed, bool),
        texts=gather_strings(texts, mine, n),
        reasons=gather_strings(list(scores.reasons), mine, n),
    )


@functools.partial(jax.jit, static_argnames=("prompt_len",))
def _sequences(out: SampleOutput, prompt_len: int) -> tuple[jax.Array, jax.Array]:
    """ids and attention mask [N, prompt_len + T]: the prompts as given (the sampler padded
    them further to its bucket, on the left) followed by the completions."""
    ids = jnp.concatenate([out.prompt_ids[:, -prompt_len:], out.tokens], axis=1)
    attn = jnp.concatenate([out.prompt_mask[:, -prompt_len:], out.mask], axis=1)
    return ids, attn


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
    timings: dict[str, float] | None = None,
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
            timings=timings,
        )
        real = min(chunk, len(indices) - start)
        parts.append(select_groups(r, np.arange(real), num_samples))
        bar.update(real)
    bar.close()
    return concat(parts)


END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")
"""Special tokens that end a turn or a document in the supported families (Qwen's ChatML,
Llama 3): a base model's eos is `<|endoftext|>` while its chat template closes each turn with
`<|im_end|>`, and a response that goes on after it is scored on what follows."""


def stop_ids(tokenizer: Any) -> tuple[int, ...]:
    """The tokens a response stops at: the tokenizer's eos, and each `END_OF_TURN` token the
    tokenizer has as a special token, unless it is the padding token (Qwen2.5 pads with
    <|endoftext|>; its base models' eos is that token too, and stays a stop)."""
    eos = tokenizer.eos_token_id
    ids = set(eos) if isinstance(eos, list | tuple) else {int(eos)}
    added = getattr(tokenizer, "added_tokens_decoder", {})
    turn = {i for i, t in added.items() if t.special and t.content in END_OF_TURN}
    return tuple(sorted(ids | (turn - {tokenizer.pad_token_id})))


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
