"""The trainable model (policy + heads), its forward pass, and the jitted update.

`train_step` takes one mini-batch laid out as [n_micro, b, ...], has the algorithm compute the
mini-batch's normalisers once, scans over the micro-batches summing gradients (so 1 or 16
micro-batches give the same update), clips the global norm, skips a step whose gradient is not
finite, and applies optax. Parameters and optimizer state are donated; the function is traced
once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flowrl_jax.algos import Algorithm
from flowrl_jax.models import Decoder, response_logprobs
from flowrl_jax.optim import guarded_update


class PolicyModel(nnx.Module):
    """The language model and the heads an algorithm trains with it (`logz`, `value`)."""

    def __init__(
        self, lm: Decoder, *, logz: nnx.Module | None = None, value: nnx.Module | None = None
    ):
        self.lm = lm
        self.logz = logz
        self.value = value


def policy_forward(
    model: PolicyModel,
    batch: dict[str, jax.Array],
    *,
    prompt_len: int,
    temperature: float,
    logprob_chunk: int = 0,
    algo: Algorithm | None = None,
    dropout_key: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Teacher-forced pass over prompt + response.

    batch: `ids` [b, P+T], `attn` [b, P+T] (prompt left-padded, response right-padded).
    `dropout_key` turns the heads' dropout on (training); None is evaluation mode.
    Returns `lp` [b, T] (log-probs of the response tokens under logits / temperature, exactly
    the sampler's quantity), `entropy` [b, T] (constant), and the outputs of `algo`'s heads
    (`Algorithm.head_outputs`; none without an algorithm). The LM head runs on the response
    positions only, `logprob_chunk` at a time (`flowrl_jax.models.response_logprobs`).
    """
    with_heads = algo is not None and (model.value is not None or model.logz is not None)
    out = response_logprobs(
        model.lm,
        batch["ids"],
        batch["attn"],
        prompt_len=prompt_len,
        temperature=temperature,
        chunk=logprob_chunk,
        return_hidden=with_heads,
    )
    fwd = {"lp": out.lp, "entropy": out.entropy}
    if with_heads:
        fwd.update(
            algo.head_outputs(
                model, out.hidden, batch, prompt_len=prompt_len, dropout_key=dropout_key
            )
        )
    return fwd


def make_train_step(
    graphdef: Any,
    tx: optax.GradientTransformation,
    algo: Algorithm,
    *,
    prompt_len: int,
    max_len: int,
    temperature: float,
    logprob_chunk: int = 0,
) -> Callable:
    """Jitted (params, rest, opt_state, minibatch [n_micro, b, ...], key).

    Returns (params, opt_state, metrics); params and opt_state are donated.
    """

    def loss_fn(params, rest, mb, norms, key):
        model = nnx.merge(graphdef, params, rest)
        fwd = policy_forward(
            model,
            mb,
            prompt_len=prompt_len,
            temperature=temperature,
            logprob_chunk=logprob_chunk,
            algo=algo,
            dropout_key=key,
        )
        return algo.loss(fwd, mb, norms, max_len)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(params, rest, opt_state, minibatch, key):
        n_micro = jax.tree.leaves(minibatch)[0].shape[0]
        flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), minibatch)
        norms = algo.normalizers(flat, max_len)

        def body(grads, xs):
            mb, k = xs
            (loss, metrics), g = grad_fn(params, rest, mb, norms, k)
            return jax.tree.map(jnp.add, grads, g), (loss, metrics)

        zeros = jax.tree.map(jnp.zeros_like, params)
        keys = jax.random.split(key, n_micro)
        grads, (losses, metrics) = jax.lax.scan(body, zeros, (minibatch, keys))
        loss = jnp.sum(losses)
        if norms is None:  # per-micro-batch normalisers: the mean of the micro-batch losses
            grads = jax.tree.map(lambda g: g / n_micro, grads)
            loss = loss / n_micro
        params, opt_state, grad_norm, finite = guarded_update(tx, grads, opt_state, params)
        metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
        metrics.update(loss=loss, grad_norm=grad_norm, skipped=1.0 - finite.astype(jnp.float32))
        return params, opt_state, metrics

    return jax.jit(step, donate_argnums=(0, 2))


def make_forward_fn(
    graphdef: Any, *, prompt_len: int, temperature: float, algo: Algorithm, logprob_chunk: int = 0
) -> Callable:
    """Jitted no-gradient (params, rest, batch) -> {lp, heads' outputs}: lp_old, lp_ref, V_old.

    It runs the forward half of the update's differentiation (`jax.vjp`, whose residuals are
    then dropped) rather than a plain forward: XLA fuses a forward that no gradient follows
    differently, and in bfloat16 those roundings move log-probs by up to ~0.1 per token,
    while the forward of a vjp computes what the update's own forward computes, so that
    on-policy importance ratios are exactly 1 (docs/algorithms.md §8.2).
    """

    def forward(params, rest, batch):
        def fwd(p):
            model = nnx.merge(graphdef, p, rest)
            return policy_forward(
                model,
                batch,
                prompt_len=prompt_len,
                temperature=temperature,
                logprob_chunk=logprob_chunk,
                algo=algo,
            )

        out, residuals = jax.vjp(fwd, params)
        return out, residuals

    jitted = jax.jit(forward)

    def call(params, rest, batch):
        out, _ = jitted(params, rest, batch)
        return {k: v for k, v in out.items() if k != "entropy"}

    return call
