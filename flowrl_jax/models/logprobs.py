"""Log-probs and entropy of a response under teacher forcing, without full-vocabulary logits.

The training forward needs, for each response token, log softmax(logits / T)[token] and the
entropy of that distribution. Applying the LM head to every prompt and response position
builds [B, S, V] float32 logits (for a 152k vocabulary and 8k tokens, about 5 GB per sequence,
and as much again for its gradient). `response_logprobs` applies the head to the response
positions only, in chunks of `chunk` positions: each chunk's [B, chunk, V] logits are reduced to
[B, chunk] log-probs and entropies at once and rematerialised in the backward pass, so no
tensor larger than one chunk's logits is ever live. Values and gradients equal those of the
full-logits computation (`tests/models/test_logprobs.py`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from flowrl_jax.models.decoder import Decoder, token_logprobs


class ResponseLogprobs(NamedTuple):
    lp: jax.Array  # [B, T] log-probs of the response tokens under logits / temperature
    entropy: jax.Array  # [B, T] entropy of that distribution (no gradient)
    hidden: jax.Array | None  # [B, S, D] final hidden states, when requested


def head_logprobs(
    model: Decoder,
    hidden: jax.Array,
    tokens: jax.Array,
    temperature: float | jax.Array,
    *,
    chunk: int = 0,
) -> tuple[jax.Array, jax.Array]:
    """(lp, entropy) [B, T] of `tokens` [B, T] from the hidden states [B, T, D] that predict them.

    chunk: positions per LM-head application (0: all T at once). The last chunk is padded.
    `lp` is `token_logprobs` of the head's logits, the sampler's definition; the entropy is
    computed on stopped logits (a metric, never a loss term here).
    """

    def reduce(h: jax.Array, tok: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = model.logits(h)
        logp = jax.nn.log_softmax(jax.lax.stop_gradient(logits) / temperature, axis=-1)
        entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        return token_logprobs(logits, tok, temperature), entropy

    b, t, d = hidden.shape
    if not chunk or chunk >= t:
        return reduce(hidden, tokens)
    n = -(-t // chunk)
    pad = n * chunk - t
    h = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0))).reshape(b, n, chunk, d).swapaxes(0, 1)
    tok = jnp.pad(tokens, ((0, 0), (0, pad))).reshape(b, n, chunk).swapaxes(0, 1)
    lp, entropy = jax.lax.map(lambda xs: jax.checkpoint(reduce)(*xs), (h, tok))
    unchunk = lambda x: x.swapaxes(0, 1).reshape(b, n * chunk)[:, :t]  # noqa: E731
    return unchunk(lp), unchunk(entropy)


def response_logprobs(
    model: Decoder,
    ids: jax.Array,
    attn: jax.Array,
    *,
    prompt_len: int,
    temperature: float | jax.Array,
    chunk: int = 0,
    return_hidden: bool = False,
) -> ResponseLogprobs:
    """Teacher-forced log-probs of the response in `ids` [B, P+T] (prompt left-padded to
    `prompt_len`, response right-padded), with the mask `attn` [B, P+T].

    The LM head sees only the T positions that predict response tokens (P−1 ... P+T−2), in
    chunks of `chunk` positions (0: all at once). Returns `lp`, `entropy` [B, T] and, with
    `return_hidden`, the final hidden states of every position (for heads on the prompt).
    """
    hidden, _ = model.backbone(ids, attn)
    lp, entropy = head_logprobs(
        model, hidden[:, prompt_len - 1 : -1], ids[:, prompt_len:], temperature, chunk=chunk
    )
    return ResponseLogprobs(lp, entropy, hidden if return_hidden else None)
