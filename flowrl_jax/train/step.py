"""The trainable model (policy + heads), its forward pass, and the jitted update.

`train_step` takes one mini-batch laid out as [n_micro, b, ...], computes the global normalisers
once, scans over the micro-batches summing gradients (so 1 or 16 micro-batches give the same
update), clips the global norm, skips a step whose gradient is not finite, and applies optax.
Parameters and optimizer state are donated; the function is traced once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flowrl_jax.algos.objectives import OBJECTIVES, global_normalizers
from flowrl_jax.models import Decoder, token_logprobs
from flowrl_jax.models.heads import LogZHead, ValueHead


class PolicyModel(nnx.Module):
    """The language model and the heads an algorithm trains with it (log Z, value)."""

    def __init__(
        self, lm: Decoder, *, logz: LogZHead | None = None, value: ValueHead | None = None
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
    algo: Any = None,
    dropout_key: jax.Array | None = None,
) -> dict[str, jax.Array | None]:
    """Teacher-forced pass over prompt + response.

    batch: `ids` [b, P+T], `attn` [b, P+T] (prompt left-padded, response right-padded).
    `dropout_key` turns the heads' dropout on (training); None is evaluation mode.
    Returns `lp` [b, T] (log-probs of the response tokens under logits / temperature, exactly
    the sampler's quantity), `entropy` [b, T] (constant), `values` [b, T] and `log_z` [b] when
    the model has those heads.
    """
    need_hidden = model.value is not None or model.logz is not None
    out = model.lm(batch["ids"], batch["attn"], return_hidden=need_hidden)
    logits = out.logits[:, prompt_len - 1 : -1]
    lp = token_logprobs(logits, batch["ids"][:, prompt_len:], temperature)
    logp = jax.nn.log_softmax(jax.lax.stop_gradient(logits) / temperature, axis=-1)
    entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
    fwd: dict[str, jax.Array | None] = {"lp": lp, "entropy": entropy, "values": None, "log_z": None}
    if model.value is not None:
        fwd["values"] = model.value(out.hidden_states[:, prompt_len - 1 : -1])
    if model.logz is not None:
        prompt_mask = batch["attn"].at[:, prompt_len:].set(False)
        fwd["log_z"] = model.logz(
            out.hidden_states,
            prompt_mask,
            exclude_last_prompt_token=algo.logz_exclude_last_prompt_token,
            stop_gradient_input=algo.logz_stop_gradient,
            deterministic=dropout_key is None,
            dropout_key=dropout_key,
        )
    return fwd


def make_optimizer(optim: Any, total_steps: int) -> optax.GradientTransformation:
    """AdamW with linear warm-up and a constant or cosine schedule, after global-norm clipping."""
    warmup = max(int(optim.warmup_steps), 0)
    if optim.schedule == "cosine":
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, optim.lr, max(warmup, 1), max(total_steps, warmup + 1)
        )
    else:
        schedule = (
            optax.join_schedules(
                [
                    optax.linear_schedule(0.0, optim.lr, max(warmup, 1)),
                    optax.constant_schedule(optim.lr),
                ],
                [warmup],
            )
            if warmup
            else optax.constant_schedule(optim.lr)
        )
    return optax.chain(
        optax.clip_by_global_norm(optim.grad_clip),
        optax.adamw(schedule, b1=optim.b1, b2=optim.b2, weight_decay=optim.weight_decay),
    )


def make_train_step(
    graphdef: Any,
    tx: optax.GradientTransformation,
    algo: Any,
    *,
    prompt_len: int,
    max_len: int,
    temperature: float,
) -> Callable:
    """Jitted (params, rest, opt_state, minibatch [n_micro, b, ...], key).

    Returns (params, opt_state, metrics); params and opt_state are donated.
    """
    objective = OBJECTIVES[algo.objective]
    local = algo.normalizer == "local" or (algo.divergence and algo.dph_weighting == "microbatch")

    def loss_fn(params, rest, mb, norms, key):
        model = nnx.merge(graphdef, params, rest)
        fwd = policy_forward(
            model, mb, prompt_len=prompt_len, temperature=temperature, algo=algo, dropout_key=key
        )
        return objective(fwd, mb, norms, algo, max_len)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(params, rest, opt_state, minibatch, key):
        n_micro = jax.tree.leaves(minibatch)[0].shape[0]
        flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), minibatch)
        norms = None if local else global_normalizers(flat, algo, max_len)

        def body(grads, xs):
            mb, k = xs
            (loss, metrics), g = grad_fn(params, rest, mb, norms, k)
            return jax.tree.map(jnp.add, grads, g), (loss, metrics)

        zeros = jax.tree.map(jnp.zeros_like, params)
        keys = jax.random.split(key, n_micro)
        grads, (losses, metrics) = jax.lax.scan(body, zeros, (minibatch, keys))
        loss = jnp.sum(losses)
        if local:  # the released codes: mean of per-micro-batch losses
            grads = jax.tree.map(lambda g: g / n_micro, grads)
            loss = loss / n_micro
        grad_norm = optax.global_norm(grads)
        finite = jnp.isfinite(grad_norm)
        updates, new_opt_state = tx.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
        metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
        metrics.update(loss=loss, grad_norm=grad_norm, skipped=1.0 - finite.astype(jnp.float32))
        return keep(new_params, params), keep(new_opt_state, opt_state), metrics

    return jax.jit(step, donate_argnums=(0, 2))


def make_forward_fn(graphdef: Any, *, prompt_len: int, temperature: float, algo: Any) -> Callable:
    """Jitted no-gradient (params, rest, batch) -> {lp, values, log_z}: lp_old, lp_ref, V_old."""

    def forward(params, rest, batch):
        model = nnx.merge(graphdef, params, rest)
        fwd = policy_forward(
            model, batch, prompt_len=prompt_len, temperature=temperature, algo=algo
        )
        return {k: v for k, v in fwd.items() if v is not None and k != "entropy"}

    return jax.jit(forward)
