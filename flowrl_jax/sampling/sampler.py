"""The rollout sampler: one jitted program per shape bucket, prefill + a while-loop decode.

`sample(model, prompt_ids, prompt_mask, key, ...)` takes left-padded prompts [B, P] and returns
a `SampleOutput` whose rows are ordered prompt-major: row i*G + g is sample g of prompt i
(G = num_samples). Inside the one compiled program:

1. prefill: the B prompts (padded to the bucketed length P_b) run once through the decoder,
   filling a KV cache of P_b slots; only the last position goes through the LM head;
2. the cache and the last-position logits are repeated G times (a group shares its prefill),
   the cache extended to the fixed size of P_b + T_b slots;
3. the first token of every row is drawn from those logits, then `lax.while_loop` feeds the
   previous token, draws the next one and stops as soon as every row has emitted a stop id, or
   after `max_new_tokens` tokens (a traced scalar, so any length up to the bucket T_b reuses the
   program).

The cache and the output buffers live inside the program and are updated in place by the loop,
so there is nothing to donate between steps; the weights enter as a jit argument (nnx.split) and
are never donated, since the trainer keeps them.

Log-probs are `token_logprobs(logits, token, T)` of the sampled token, exactly the quantity the
trainer's teacher-forced pass computes, so a first on-policy ratio is 1. Like that pass, they
ignore top-k / top-p. With temperature 0 the draw is greedy (argmax) and the log-probs are those
at T = 1.

Recompilation: the jitted program is keyed on (model structure, B, P_b, T_b, G, stop ids, top_k,
greedy, top_p < 1, pad id, mesh); temperature, top_p and max_new_tokens are traced. P and T are
rounded up by `bucket_length`, so a training run compiles a handful of programs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from flowrl_jax.distributed.sharding import kv_cache_sharding, rows_sharding
from flowrl_jax.models.decoder import Decoder, KVCache, token_logprobs
from flowrl_jax.sampling.filtering import sample_token

MIN_BUCKET = 16


class SampleOutput(NamedTuple):
    """Completions of `sample`, on device; N = B·G rows, prompt-major (row i*G + g).

    tokens:      [N, T] int32, the completion, `pad_id` after the end;
    mask:        [N, T] bool, the completion tokens including the stop token;
    logprobs:    [N, T] float32, log softmax(logits / T)[token] (T = 1 when greedy), 0 where
                 mask is 0;
    lengths:     [N] int32, mask.sum(-1);
    truncated:   [N] bool, no stop token within max_new_tokens;
    prompt_ids:  [N, P_b] int32, the prompts left-padded to the bucket P_b >= P, repeated G times;
    prompt_mask: [N, P_b] bool;
    decode_steps: [] int32, tokens drawn per row by the loop (= lengths.max(): the loop exits
                 as soon as every row has stopped).
    """

    tokens: jax.Array
    mask: jax.Array
    logprobs: jax.Array
    lengths: jax.Array
    truncated: jax.Array
    prompt_ids: jax.Array
    prompt_mask: jax.Array
    decode_steps: jax.Array


def bucket_length(n: int, minimum: int = MIN_BUCKET) -> int:
    """n rounded up to the ladder 16, 24, 32, 48, 64, 96, ... (2^k and 1.5·2^k: < 50% padding)."""
    if n <= minimum:
        return minimum
    p = 1 << (n - 1).bit_length()  # next power of two >= n
    return 3 * p // 4 if 3 * p // 4 >= n else p


# --------------------------------------------------------------------------- the program

_TRACES = {"count": 0}  # times the sampling program was traced (for tests and benchmarks)


def num_traces() -> int:
    """How many times the sampling program has been traced (= compiled) in this process."""
    return _TRACES["count"]


def _batch_spec(mesh: Mesh | None, n: int, ndim: int) -> NamedSharding | None:
    return None if mesh is None else rows_sharding(mesh, n, ndim)


def _constrain_cache(cache: KVCache, mesh: Mesh | None) -> KVCache:
    """Cache rows over (data, fsdp) and kv heads over tensor, as the weights are split."""
    if mesh is None:
        return cache
    n, k, _, _ = cache.keys[0].shape
    kv = kv_cache_sharding(mesh, n, k)
    c = jax.lax.with_sharding_constraint
    return KVCache(
        keys=tuple(c(x, kv) for x in cache.keys),
        values=tuple(c(x, kv) for x in cache.values),
        mask=c(cache.mask, rows_sharding(mesh, n, 2)),
        index=cache.index,
    )


@functools.partial(
    jax.jit,
    static_argnames=(
        "graphdef",
        "bucket_new",
        "num_samples",
        "stop_ids",
        "top_k",
        "greedy",
        "use_top_p",
        "pad_id",
        "mesh",
    ),
)
def _sample_program(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    prompt_ids: jax.Array,  # [B, P_b] int32, left-padded
    prompt_mask: jax.Array,  # [B, P_b] bool
    key: jax.Array,
    temperature: jax.Array,  # [] float32
    top_p: jax.Array,  # [] float32
    max_new_tokens: jax.Array,  # [] int32, <= bucket_new
    *,
    bucket_new: int,
    num_samples: int,
    stop_ids: tuple[int, ...],
    top_k: int,
    greedy: bool,
    use_top_p: bool,
    pad_id: int,
    mesh: Mesh | None,
) -> SampleOutput:
    _TRACES["count"] += 1
    model: Decoder = nnx.merge(graphdef, state)
    b, p = prompt_ids.shape
    n = b * num_samples
    rows = functools.partial(_constrain, spec=_batch_spec(mesh, n, 1))

    def draw(logits: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Token [N] and its log-prob [N] from last-position logits [N, V]."""
        if greedy:
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            return token, token_logprobs(logits, token, 1.0)
        u = rows(jax.random.uniform(jax.random.fold_in(key, step), (n,)))
        token = sample_token(logits, u, temperature, top_k=top_k, top_p=top_p, use_top_p=use_top_p)
        return token, token_logprobs(logits, token, temperature)

    def is_stop(token: jax.Array) -> jax.Array:
        hit = jnp.zeros(token.shape, bool)
        for s in stop_ids:
            hit = hit | (token == s)
        return hit

    # Prefill the B prompts once into a cache of their P_b slots (so the prefill's attention
    # scores are [P_b, P_b], not [P_b, P_b + T_b]), then give every sample of a group its own
    # copy of the cache, extended by the T_b slots the decode loop writes.
    cache = _constrain_cache(model.init_cache(b, p), mesh)
    hidden, cache = model.backbone(prompt_ids, prompt_mask, cache=cache)
    logits = model.logits(hidden[:, -1:])[:, 0]  # [B, V]; left padding: the last is real

    def group(x: jax.Array, slot_axis: int | None = None) -> jax.Array:
        x = jnp.repeat(x, num_samples, axis=0)
        if slot_axis is None:
            return x
        widths = [(0, 0)] * x.ndim
        widths[slot_axis] = (0, bucket_new)
        return jnp.pad(x, widths)

    cache = KVCache(
        keys=tuple(group(x, 2) for x in cache.keys),
        values=tuple(group(x, 2) for x in cache.values),
        mask=group(cache.mask, 1),
        index=cache.index,
    )
    cache = _constrain_cache(cache, mesh)
    logits = group(logits)

    token, logprob = draw(logits, jnp.int32(0))
    tokens = jnp.full((n, bucket_new), pad_id, jnp.int32).at[:, 0].set(token)
    logprobs = jnp.zeros((n, bucket_new), jnp.float32).at[:, 0].set(logprob)
    done = is_stop(token)
    lengths = jnp.ones((n,), jnp.int32)
    ones = jnp.ones((n, 1), bool)

    def cond(carry):
        step, _, done, *_ = carry
        return (step < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        step, token, done, lengths, tokens, logprobs, cache = carry
        out = model(token[:, None], ones, cache=cache)
        token, logprob = draw(out.logits[:, 0], step)
        live = ~done
        col = (0, step)
        tokens = jax.lax.dynamic_update_slice(tokens, jnp.where(live, token, pad_id)[:, None], col)
        logprobs = jax.lax.dynamic_update_slice(
            logprobs, jnp.where(live, logprob, 0.0)[:, None], col
        )
        lengths = lengths + live
        done = done | (live & is_stop(token))
        return step + 1, token, done, lengths, tokens, logprobs, _constrain_cache(out.cache, mesh)

    carry = (jnp.int32(1), token, done, lengths, tokens, logprobs, cache)
    steps, _, done, lengths, tokens, logprobs, _ = jax.lax.while_loop(cond, body, carry)
    return SampleOutput(
        tokens=tokens,
        mask=jnp.arange(bucket_new)[None, :] < lengths[:, None],
        logprobs=logprobs,
        lengths=lengths,
        truncated=~done,
        prompt_ids=group(prompt_ids),
        prompt_mask=group(prompt_mask),
        decode_steps=steps,
    )


def _constrain(x: jax.Array, spec: NamedSharding | None) -> jax.Array:
    return x if spec is None else jax.lax.with_sharding_constraint(x, spec)


@functools.partial(jax.jit, static_argnames=("length",))
def _trim(out: SampleOutput, length: int) -> SampleOutput:
    """Completion arrays cut from the bucket T_b to the requested length."""
    cut = lambda x: x[:, :length]  # noqa: E731
    return out._replace(tokens=cut(out.tokens), mask=cut(out.mask), logprobs=cut(out.logprobs))


# --------------------------------------------------------------------------- host side


def _left_pad(
    ids: Any, mask: Any, width: int, pad_id: int
) -> tuple[np.ndarray | jax.Array, np.ndarray | jax.Array]:
    """Prompts [B, P] left-padded to [B, width]: on the host for host arrays."""
    extra = width - ids.shape[1]
    if isinstance(ids, jax.Array) and not ids.is_fully_addressable:
        widths = ((0, 0), (extra, 0))
        return (
            jnp.pad(ids.astype(jnp.int32), widths, constant_values=pad_id),
            jnp.pad(mask.astype(bool), widths),
        )
    ids = np.asarray(ids, np.int32)
    mask = np.asarray(mask).astype(bool)
    b = ids.shape[0]
    return (
        np.concatenate([np.full((b, extra), pad_id, np.int32), np.where(mask, ids, pad_id)], 1),
        np.concatenate([np.zeros((b, extra), bool), mask], 1),
    )


def _check_prompts(ids: Any, mask: Any) -> None:
    if ids.ndim != 2 or ids.shape != mask.shape:
        raise ValueError(
            f"prompt_ids {tuple(ids.shape)} and prompt_mask {tuple(mask.shape)} must both be "
            "[batch, prompt_len]."
        )
    if isinstance(ids, jax.Array) and not ids.is_fully_addressable:
        return  # not checked: the rows live on several hosts
    m = np.asarray(mask).astype(bool)
    empty = np.flatnonzero(~m.any(axis=1))
    if empty.size:
        raise ValueError(f"prompt rows {empty[:8].tolist()} have no real token (mask all 0).")
    right_padded = np.flatnonzero((m[:, 1:] < m[:, :-1]).any(axis=1))
    if right_padded.size:
        raise ValueError(
            f"prompt rows {right_padded[:8].tolist()} are not left-padded (a 0 in the mask after "
            "a 1); tokenise with padding_side='left'."
        )


def sample(
    model: Decoder,
    prompt_ids: Any,
    prompt_mask: Any,
    key: jax.Array,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int,
    stop_ids: Sequence[int] = (),
    num_samples: int = 1,
    pad_id: int = 0,
    mesh: Mesh | None = None,
) -> SampleOutput:
    """Samples `num_samples` completions of each left-padded prompt, in one compiled call.

    prompt_ids, prompt_mask: [B, P] (numpy or jax), left-padded; key: a PRNG key (the same key
    gives the same output). temperature: > 0 samples from softmax(logits / T), 0 is greedy.
    top_k: 0 = off; top_p: 1 = off (applied after top-k). Generation of a row ends after a token
    in `stop_ids` (which is kept, with mask 1) or after `max_new_tokens` tokens (`truncated`).
    mesh: optional; places the prompts' batch over (data, fsdp) and keeps the cache rows there
    (shard the model itself, e.g. with `shard_model(model, mesh, SAMPLER_RULES)`).

    Returns a `SampleOutput` with [B·G, T] completions, T = max_new_tokens, rows prompt-major
    (row i*G + g is sample g of prompt i).
    """
    if not isinstance(prompt_ids, jax.Array):
        prompt_ids, prompt_mask = np.asarray(prompt_ids), np.asarray(prompt_mask)
    temperature, top_p = float(temperature), float(top_p)
    vocab = model.config.vocab_size
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}.")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}.")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {top_k}.")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    stop_ids = tuple(sorted({int(s) for s in stop_ids}))
    bad = [s for s in (*stop_ids, pad_id) if not 0 <= s < vocab]
    if bad:
        raise ValueError(f"stop / pad ids {bad} are outside the vocabulary [0, {vocab}).")
    _check_prompts(prompt_ids, prompt_mask)

    bucket_new = bucket_length(max_new_tokens)
    ids, mask = _left_pad(prompt_ids, prompt_mask, bucket_length(prompt_ids.shape[1]), pad_id)
    if mesh is not None:
        spec = _batch_spec(mesh, ids.shape[0], 2)
        ids, mask = jax.device_put(ids, spec), jax.device_put(mask, spec)
    graphdef, state = nnx.split(model)
    out = _sample_program(
        graphdef,
        state,
        ids,
        mask,
        key,
        np.float32(temperature if temperature > 0 else 1.0),
        np.float32(top_p),
        np.int32(max_new_tokens),
        bucket_new=bucket_new,
        num_samples=num_samples,
        stop_ids=stop_ids,
        top_k=top_k if top_k < vocab else 0,
        greedy=temperature == 0.0,
        use_top_p=top_p < 1.0,
        pad_id=pad_id,
        mesh=mesh,
    )
    return out if bucket_new == max_new_tokens else _trim(out, max_new_tokens)


def concat_prompt_completion(
    prompt_ids: jax.Array, prompt_mask: jax.Array, out: SampleOutput
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The full sequences for the trainer's teacher-forced pass.

    prompt_ids, prompt_mask: [N, P'] prompts already expanded to the N = B·G rows (e.g.
    `out.prompt_ids`, `out.prompt_mask`). Returns ids [N, P'+T], mask [N, P'+T] (prompt mask,
    then completion mask) and completion_mask [N, P'+T] (1 on completion tokens only). The
    log-prob of ids[:, t] is read from the logits at t - 1: with `logits = model(ids, mask)`,
    `token_logprobs(logits[:, :-1], ids[:, 1:], T)` masked by `completion_mask[:, 1:]`
    reproduces `out.logprobs`.
    """
    if prompt_ids.shape[0] != out.tokens.shape[0]:
        raise ValueError(
            f"prompt rows {prompt_ids.shape[0]} != completion rows {out.tokens.shape[0]}; pass "
            "the prompts expanded to B·num_samples rows (out.prompt_ids, out.prompt_mask)."
        )
    ids = jnp.concatenate([jnp.asarray(prompt_ids, jnp.int32), out.tokens], axis=1)
    prompt_mask = jnp.asarray(prompt_mask, bool)
    mask = jnp.concatenate([prompt_mask, out.mask], axis=1)
    completion_mask = jnp.concatenate([jnp.zeros_like(prompt_mask), out.mask], axis=1)
    return ids, mask, completion_mask
