"""The learning rate each optimizer update applies, counted per update (the old trainer) and per
RL step (`make_rl_optimizer`), for a run with several mini-batches per RL step.

The rate is read off the updates themselves: Adam with b1 = b2 = 0 and a gradient of ones turns
every update into −lr·1/(1 + 1e-8), so −update is the rate the optimizer applied. Prints, per RL
step, the rates of its updates under both counts.

    python benchmarks/lr_schedule.py --steps 12 --mini-batches 4 --warmup 4 --schedule cosine
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from flowrl_jax.optim import lr_schedule, make_rl_optimizer, set_rl_step


def applied_rates(tx: optax.GradientTransformation, steps: int, mini: int, per_rl_step: bool):
    params = {"w": jnp.zeros(())}
    grads = {"w": jnp.ones(())}
    state = tx.init(params)
    rates = np.zeros((steps, mini))
    for s in range(steps):
        if per_rl_step:
            state = set_rl_step(state, s)
        for m in range(mini):
            updates, state = tx.update(grads, state, params)
            rates[s, m] = -float(updates["w"]) * (1 + 1e-8)
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--steps", type=int, default=12, help="RL steps")
    p.add_argument("--mini-batches", type=int, default=4, help="optimizer updates per RL step")
    p.add_argument("--warmup", type=int, default=4, help="warm-up RL steps")
    p.add_argument("--schedule", default="cosine", choices=("constant", "cosine"))
    a = p.parse_args()
    optim = ml_collections.ConfigDict(
        dict(
            lr=a.lr,
            warmup_steps=a.warmup,
            schedule=a.schedule,
            weight_decay=0.0,
            b1=0.0,
            b2=0.0,
            grad_clip=1e30,
        )
    )
    # before: the same AdamW with the schedule counting updates (optax's own counter)
    rate = lr_schedule(a.lr, total_steps=a.steps, warmup_steps=a.warmup, schedule=a.schedule)
    before = optax.chain(optax.scale_by_adam(b1=0.0, b2=0.0), optax.scale_by_learning_rate(rate))
    after = make_rl_optimizer(optim, a.steps).tx
    old = applied_rates(before, a.steps, a.mini_batches, per_rl_step=False)
    new = applied_rates(after, a.steps, a.mini_batches, per_rl_step=True)
    print(
        f"lr {a.lr:g}, {a.schedule}, warm-up {a.warmup} RL steps, {a.steps} RL steps of "
        f"{a.mini_batches} updates; rates applied (in units of lr):"
    )
    print("| RL step | per update (before) | per RL step (after) |\n|---|---|---|")
    for s in range(a.steps):
        fmt = lambda r: " ".join(f"{x / a.lr:.3f}" for x in r)  # noqa: E731
        print(f"| {s} | {fmt(old[s])} | {fmt(new[s])} |")


if __name__ == "__main__":
    main()
