"""Optimizers and the update shared by RL and supervised training.

`make_rl_optimizer`: AdamW after global-norm clipping whose learning rate follows the RL step,
not the optimizer update: every update of one RL step uses the same rate, as the released codes
step their schedulers once per RL step (docs/algorithms.md §8.1). The step is a
counter in the optimizer state that the trainer sets (`set_rl_step`), so a resumed run restores
it with the rest of the state. Modules an algorithm trains at their own rate (PPO's separate
critic) get their own AdamW. `make_optimizer`: the same AdamW with the schedule counting
updates, for supervised training. `guarded_update`: one optimizer step that is skipped
(parameters and state unchanged) when the gradient is not finite. `make_supervised_step`:
next-token training on a masked target, the step the embedded task's base policy is built with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flowrl_jax.models import token_logprobs

SCHEDULES = ("constant", "cosine")
POLICY_GROUP = "policy"
"""The label of every parameter that has no learning rate of its own."""


def lr_schedule(
    lr: float,
    *,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: str = "constant",
    end_lr_ratio: float = 0.0,
) -> optax.Schedule:
    """The rate at step t: linear from 0 over `warmup_steps`, then `lr` (`constant`) or a
    cosine to `end_lr_ratio·lr` at `total_steps` (`cosine`). After warm-up a `constant`
    schedule is exactly `lr`."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}; choose one of {list(SCHEDULES)}.")
    warmup = max(int(warmup_steps), 0)
    if schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0,
            lr,
            max(warmup, 1),
            max(total_steps, warmup + 1),
            end_value=lr * end_lr_ratio,
        )
    if warmup:
        return optax.join_schedules(
            [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup]
        )
    return optax.constant_schedule(lr)


def make_optimizer(
    rate: optax.Schedule,
    *,
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    grad_clip: float = 1.0,
) -> optax.GradientTransformation:
    """AdamW(b1, b2, weight_decay) after clipping the global norm to `grad_clip`, with the
    learning rate `rate` (e.g. `lr_schedule(...)`) evaluated on the number of optimizer updates
    (supervised training)."""
    return optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.adamw(rate, b1=b1, b2=b2, weight_decay=weight_decay),
    )


# ------------------------------------------------------------------------------ per RL step


class RLStepState(NamedTuple):
    """The RL step whose learning rate the updates use; only `set_rl_step` changes it."""

    rl_step: jax.Array  # int32 scalar


def scale_by_rl_step_schedule(schedule: optax.Schedule) -> optax.GradientTransformation:
    """Multiplies updates by −schedule(rl_step), the step held in the state (`set_rl_step`).

    Unlike `optax.scale_by_schedule`, the update does not advance the counter: however many
    mini-batches and epochs an RL step has, they all use the rate of that step.
    """

    def init(params):
        del params
        return RLStepState(jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        del params
        step_size = -schedule(state.rl_step)
        return jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates), state

    return optax.GradientTransformation(init, update)


def set_rl_step(opt_state: Any, step: int) -> Any:
    """`opt_state` with every `RLStepState` at `step` (placed where the old counter was, so
    the jitted update does not compile again). A state without one is returned as it is."""

    def put(s):
        if not isinstance(s, RLStepState):
            return s
        return RLStepState(jax.device_put(jnp.asarray(step, jnp.int32), s.rl_step.sharding))

    return jax.tree.map(put, opt_state, is_leaf=lambda s: isinstance(s, RLStepState))


@dataclasses.dataclass(frozen=True)
class RLOptimizer:
    """The transformation and, by metric name, the learning-rate schedule of each group."""

    tx: optax.GradientTransformation
    schedules: Mapping[str, optax.Schedule]

    def learning_rates(self, step: int) -> dict[str, float]:
        """The rates the updates of RL step `step` use (`optim/lr`, `optim/lr_<group>`)."""
        return {name: float(rate(step)) for name, rate in self.schedules.items()}


def make_rl_optimizer(
    optim: Any, total_steps: int, groups: Mapping[str, float] | None = None
) -> RLOptimizer:
    """AdamW from the `config.optim` section whose rate follows the RL step (`set_rl_step`).

    `warmup_steps` and the cosine length (`total_steps`) count RL steps. `groups` maps a
    top-level module of the trained model (e.g. `critic`) to its own constant learning rate:
    such a module gets its own AdamW and its own gradient clipping (as the separate critic of
    the released codes, which has its own optimizer); everything else follows `optim.lr`.
    """
    groups = dict(groups or {})

    def adamw(rate: optax.Schedule) -> optax.GradientTransformation:
        return optax.chain(
            optax.clip_by_global_norm(optim.grad_clip),
            optax.scale_by_adam(b1=optim.b1, b2=optim.b2),
            optax.add_decayed_weights(optim.weight_decay),
            scale_by_rl_step_schedule(rate),
        )

    policy = lr_schedule(
        optim.lr,
        total_steps=total_steps,
        warmup_steps=optim.warmup_steps,
        schedule=optim.schedule,
    )
    schedules = {"optim/lr": policy}
    if not groups:
        return RLOptimizer(adamw(policy), schedules)
    if POLICY_GROUP in groups:
        raise ValueError(f"{POLICY_GROUP!r} is the label of the parameters without a group.")
    transforms = {POLICY_GROUP: adamw(policy)}
    for name, lr in groups.items():
        schedules[f"optim/lr_{name}"] = optax.constant_schedule(lr)
        transforms[name] = adamw(schedules[f"optim/lr_{name}"])

    def labels(params):
        def label(path, _):
            top = path[0].key if hasattr(path[0], "key") else path[0].name
            return top if top in groups else POLICY_GROUP

        return jax.tree_util.tree_map_with_path(label, params)

    return RLOptimizer(optax.multi_transform(transforms, labels), schedules)


# ------------------------------------------------------------------------------ updates
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
