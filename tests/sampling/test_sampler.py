"""The sampler: greedy = step-by-step argmax, log-probs = teacher-forced log-probs, stop tokens,
truncation, determinism, group ordering and one compilation per bucket."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sampling_fixtures import ragged_prompts

from flowrl_jax.models import token_logprobs
from flowrl_jax.sampling import (
    bucket_length,
    completion_ids,
    concat_prompt_completion,
    detokenize,
    num_traces,
    sample,
)

LENGTHS = (7, 3, 5)  # a batch of prompts of different lengths
STOPS = (3, 11, 19, 27, 42, 50, 64, 77)  # frequent enough that most rows stop within 12 tokens
# One sampled configuration shared by several tests, so that they share one compiled program.
SAMPLED = dict(temperature=0.7, top_k=20, top_p=0.9, max_new_tokens=12, stop_ids=STOPS)


@functools.partial(jax.jit, static_argnums=0)
def teacher_forced_logprobs(model, ids, mask, temperature):
    """What a trainer computes: log-probs [B, S-1] of ids[:, 1:] under the full forward pass."""
    return token_logprobs(model(ids, mask).logits[:, :-1], ids[:, 1:], temperature)


def test_bucket_length_ladder():
    assert [bucket_length(n) for n in (1, 16, 17, 24, 25, 33, 48, 49, 100, 129)] == [
        16, 16, 24, 24, 32, 48, 48, 64, 128, 192,
    ]  # fmt: skip
    for n in range(1, 3000):
        assert n <= bucket_length(n) < max(16, 1.5 * n) + 1


def test_greedy_equals_stepwise_argmax_of_full_forward(model):
    """Temperature 0 = argmax at every step of a full (no cache) forward over prompt + prefix."""
    ids, mask = ragged_prompts(LENGTHS, 7, 97)
    new = 10
    out = sample(model, ids, mask, jax.random.key(0), temperature=0.0, max_new_tokens=new)
    assert out.tokens.shape == out.mask.shape == out.logprobs.shape == (3, new)

    # Reference: a growing, right-padded buffer; causal attention ignores the future slots.
    @jax.jit
    def argmax_at(seq, seq_mask, t):
        logits = jnp.take(model(seq, seq_mask).logits, t - 1, axis=1)
        token = jnp.argmax(logits, -1)
        return token, token_logprobs(logits, token)

    b, p = ids.shape
    seq = np.concatenate([ids, np.zeros((b, new), np.int32)], 1)
    seq_mask = np.concatenate([mask, np.zeros((b, new), bool)], 1)
    want_lp = np.zeros((b, new), np.float32)
    for t in range(p, p + new):
        token, lp = argmax_at(seq, seq_mask, t)
        seq[:, t], seq_mask[:, t], want_lp[:, t - p] = token, True, lp
    np.testing.assert_array_equal(np.asarray(out.tokens), seq[:, p:])
    # Greedy log-probs are those at T = 1.
    np.testing.assert_allclose(np.asarray(out.logprobs), want_lp, atol=1e-5)
    assert np.asarray(out.mask).all() and np.asarray(out.truncated).all()
    np.testing.assert_array_equal(np.asarray(out.lengths), [new] * 3)
    assert int(out.decode_steps) == new


@pytest.mark.parametrize("temperature", [0.7, 1.0])
def test_logprobs_equal_teacher_forced_logprobs(model, temperature):
    """The behaviour log-probs are token_logprobs of a full forward at the same temperature (and
    ignore top-k / top-p), so a trainer's first importance ratio is exactly 1. The full
    sequences come from concat_prompt_completion, as in the trainer; since the forward pass uses
    `out.prompt_ids` (prompt i repeated on rows 3i..3i+2), matching log-probs also show that each
    group continues its own prompt."""
    ids, mask = ragged_prompts((6, 2, 9, 4), 9, 97, seed=1)
    out = sample(model, ids, mask, jax.random.key(1), **{**SAMPLED, "temperature": temperature},
                 num_samples=3)  # fmt: skip
    n, t = 4 * 3, 12
    assert out.tokens.shape == out.mask.shape == out.logprobs.shape == (n, t)
    lengths, m = np.asarray(out.lengths), np.asarray(out.mask)
    tokens = np.asarray(out.tokens)
    assert (lengths < t).any() and (lengths == t).any(), "want stopped and truncated rows"
    np.testing.assert_array_equal(m.sum(1), lengths)
    stopped = np.isin(tokens[np.arange(n), lengths - 1], STOPS)
    np.testing.assert_array_equal(np.asarray(out.truncated), ~stopped)
    assert (tokens[~m] == 0).all()

    full, full_mask, completion = concat_prompt_completion(out.prompt_ids, out.prompt_mask, out)
    p = out.prompt_ids.shape[1]
    assert p == bucket_length(9) and full.shape == full_mask.shape == completion.shape == (n, p + t)
    np.testing.assert_array_equal(np.asarray(full[:, p - 9 : p]), np.repeat(ids, 3, 0))
    np.testing.assert_array_equal(np.asarray(full_mask[:, p - 9 : p]), np.repeat(mask, 3, 0))
    assert not np.asarray(full_mask[:, : p - 9]).any() and not np.asarray(completion[:, :p]).any()
    np.testing.assert_array_equal(np.asarray(full[:, p:]), tokens)
    np.testing.assert_array_equal(np.asarray(completion[:, p:]), m)

    lp = np.asarray(teacher_forced_logprobs(model, full, full_mask, temperature))
    got = np.asarray(out.logprobs)
    diff = np.abs(lp[np.asarray(completion[:, 1:])] - got[m])
    assert diff.max() < 1e-5, diff.max()
    assert (got[~m] == 0).all()


def greedy_with_stops(model, new=14):
    """Greedy samples without stop ids, then with ids that rows 0, 1, 2 emit at tokens 5, 2, 7."""
    ids, mask = ragged_prompts(LENGTHS, 7, 97, seed=2)
    free = sample(model, ids, mask, jax.random.key(0), temperature=0.0, max_new_tokens=new)
    free_tokens = np.asarray(free.tokens)
    stops = (int(free_tokens[0, 4]), int(free_tokens[1, 1]), int(free_tokens[2, 6]))
    out = sample(
        model, ids, mask, jax.random.key(0), temperature=0.0, max_new_tokens=new, stop_ids=stops
    )
    return free_tokens, stops, out


def test_stop_tokens_end_rows_and_the_loop_exits_early(model):
    new = 14
    free_tokens, stops, out = greedy_with_stops(model, new)
    tokens, m = np.asarray(out.tokens), np.asarray(out.mask)
    assert tokens.shape == (3, new)
    for i, row in enumerate(free_tokens):
        hits = np.flatnonzero(np.isin(row, stops))
        length = hits[0] + 1
        assert out.lengths[i] == length and not out.truncated[i]
        np.testing.assert_array_equal(tokens[i, :length], row[:length])  # stop token included
        assert m[i, :length].all() and not m[i, length:].any()
        assert (tokens[i, length:] == 0).all() and (np.asarray(out.logprobs)[i, length:] == 0).all()
    # Every row stopped by token 7: the loop ran no further.
    assert int(out.decode_steps) == int(np.asarray(out.lengths).max()) <= 7


def test_same_key_same_output_and_groups_differ(model):
    ids, mask = ragged_prompts((6, 2, 9, 4), 9, 97, seed=1)
    a = sample(model, ids, mask, jax.random.key(5), **SAMPLED, num_samples=3)
    b = sample(model, ids, mask, jax.random.key(5), **SAMPLED, num_samples=3)
    c = sample(model, ids, mask, jax.random.key(6), **SAMPLED, num_samples=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a.tokens), np.asarray(c.tokens))
    # Rows are prompt-major: rows 3i..3i+2 continue prompt i, and differ from each other.
    np.testing.assert_array_equal(np.asarray(a.prompt_ids)[::3][:, -9:], ids)
    groups = np.asarray(a.tokens).reshape(4, 3, -1)
    for g in groups:  # (two samples may both stop at the same first token, not all three)
        assert len({tuple(r) for r in g}) >= 2


def test_compiles_once_per_bucket(model, caplog):
    """Prompt lengths, temperatures, top-p values and keys within one bucket reuse one program."""
    opts = {**SAMPLED, "num_samples": 3}
    ids, mask = ragged_prompts((6, 2, 9, 4), 9, 97, seed=1)
    sample(model, ids, mask, jax.random.key(0), **opts)  # compiled here or by an earlier test
    traces = num_traces()
    keys = list(jax.random.split(jax.random.key(1), 4))
    with jax.log_compiles(), caplog.at_level("WARNING"):
        for i, width in enumerate((9, 12, 16, 5)):
            p_ids, p_mask = ragged_prompts((5, 2, 3, 4), width, 97, seed=i)
            opts.update(temperature=0.5 + 0.2 * i, top_p=0.8 + 0.05 * i)
            out = sample(model, p_ids, p_mask, keys[i], **opts)
            jax.block_until_ready(out)
    assert num_traces() == traces
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert not compiled, compiled
    # Another max_new_tokens in the same bucket: still the same program (only a slice is new).
    sample(model, ids, mask, jax.random.key(0), **{**opts, "max_new_tokens": 10})
    assert num_traces() == traces


class CharTokenizer:
    """A stand-in for a transformers tokenizer: id i is chr(ord('a') + i % 26)."""

    def batch_decode(self, ids, skip_special_tokens=True):
        return ["".join(chr(ord("a") + i % 26) for i in row) for row in ids]


def test_host_helpers_strip_padding_and_stop(model):
    _, stops, out = greedy_with_stops(model)
    rows = completion_ids(out)
    assert [len(r) for r in rows] == np.asarray(out.lengths).tolist()
    assert rows[0][-1] in stops
    stripped = completion_ids(out, strip_stop=True)
    assert stripped[0] == rows[0][:-1]
    texts = detokenize(CharTokenizer(), out)
    assert texts == CharTokenizer().batch_decode(stripped)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=-1.0), "temperature"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_k=-2), "top_k"),
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(num_samples=0), "num_samples"),
        (dict(stop_ids=(97,)), "outside the vocabulary"),
    ],
)
def test_bad_options_raise(model, kwargs, message):
    ids, mask = ragged_prompts((2, 3), 3, 97)
    with pytest.raises(ValueError, match=message):
        sample(model, ids, mask, jax.random.key(0), **{"max_new_tokens": 4, **kwargs})


def test_bad_prompts_raise(model):
    ids, mask = ragged_prompts((2, 3), 3, 97)
    right = mask[:, ::-1].copy()
    with pytest.raises(ValueError, match="left-padded"):
        sample(model, ids, right, jax.random.key(0), max_new_tokens=4)
    empty = mask.copy()
    empty[1] = False
    with pytest.raises(ValueError, match="no real token"):
        sample(model, ids, empty, jax.random.key(0), max_new_tokens=4)
    with pytest.raises(ValueError, match=r"\[batch, prompt_len\]"):
        sample(model, ids[0], mask[0], jax.random.key(0), max_new_tokens=4)
