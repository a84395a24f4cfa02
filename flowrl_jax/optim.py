"""Optimizers and the update shared by RL and supervised training.

`make_optimizer`: AdamW after global-norm clipping, with linear warm-up and a constant or
cosine schedule. `guarded_update`: one optimizer step that is skipped (parameters and state
unchanged) when the gradient is not finite. `make_supervised_step`: next-token training on a
masked target, the step the embedded task's base policy is built with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flowrl_jax.models import token_logprobs

SCHEDULES = ("constant", "cosine")


def make_optimizer(
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: str = "constant",
    end_lr_ratio: float = 0.0,
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    grad_clip: float = 1.0,
) -> optax.GradientTransformation:
    """AdamW(b1, b2, weight_decay) after clipping the global norm to `grad_clip`.

    The learning rate rises linearly from 0 over `warmup_steps`, then stays at `lr`
    (`constant`) or follows a cosine to `end_lr_ratio·lr` at `total_steps` (`cosine`).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}; choose one of {list(SCHEDULES)}.")
    warmup = max(int(warmup_steps), 0)
    if schedule == "cosine":
        rate = optax.warmup_cosine_decay_schedule(
            0.0,
            lr,
            max(warmup, 1),
            max(total_steps, warmup + 1),
            end_value=lr * end_lr_ratio,
        )
    elif warmup:
        rate = optax.join_schedules(
            [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup]
        )
    else:
        rate = optax.constant_schedule(lr)
    return optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.adamw(rate, b1=b1, b2=b2, weight_decay=weight_decay),
    )


def guarded_update(
    tx: optax.GradientTransformation, grads: Any, opt_state: Any, params: Any
) -> tuple[Any, Any, jax.Array, jax.Array]:
    """(params, opt_state, grad_norm, finite): the update applied only when every gradient is
    finite, so that one overflow skips a step instead of writing NaN into the weights."""
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(grad_norm)
    updates, new_opt_state = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)

    def keep(new, old):
        return jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)

    return keep(new_params, params), keep(new_opt_state, opt_state), grad_norm, finite


def make_supervised_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation) -> Callable:
    """Jitted (params, opt_state, ids [B, S], attn [B, S], loss_mask [B, S-1]) ->
    (params, opt_state, loss): the mean next-token negative log-likelihood over the positions
    `loss_mask` marks (logits at t predict token t+1). Parameters and state are donated."""

    def loss_fn(params, ids, attn, loss_mask):
        model = nnx.merge(graphdef, params)
        logits = model(ids, attn).logits[:, :-1]
        lp = token_logprobs(logits, ids[:, 1:])
        return -jnp.sum(lp * loss_mask) / jnp.maximum(jnp.sum(loss_mask), 1.0)

    def step(params, opt_state, ids, attn, loss_mask):
        loss, grads = jax.value_and_grad(loss_fn)(params, ids, attn, loss_mask)
        params, opt_state, _, _ = guarded_update(tx, grads, opt_state, params)
        return params, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))
