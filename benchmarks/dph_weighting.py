"""How much weight DPH-RL's f-divergence term gets against the PPO term in each optimizer step,
under the library's three ways of combining them, at the released run's shapes.

Each micro-batch loss is counted as 1 (a token mean of a unit loss), so a step's numbers are the
coefficients the two terms enter the gradient with: `token` (the default: PPO + η·f, each a
token mean over its own rows), the `microbatch` mode before the released layout (the trainer's
default layout, stored rows spread evenly over the mini-batches, each micro-batch of
`--micro` rows dispatched by its first row and divided by the actual number of micro-batches),
and the `microbatch` mode now (`flowrl_jax.algos.dph.released_layout`: ranks, their own
mini-batches, micro-batches of `--micro-rows` per rank, the configured normaliser).

    python benchmarks/dph_weighting.py   # 128 prompts x 16 + 256 stored, mini 64 prompts, 8 GPUs
"""

from __future__ import annotations

import argparse

import numpy as np

from flowrl_jax.algos.base import Algorithm
from flowrl_jax.algos.dph import released_layout


def weights(steps: list[np.ndarray], n_online: int, block: int, per_step_blocks: int | None):
    """[(ppo, f)] per step: blocks of `block` rows typed by their first row (-1: empty),
    each divided by `per_step_blocks` (None: the step's own number of blocks)."""
    out = []
    for take in steps:
        firsts = take.reshape(-1, block)[:, 0]
        n = per_step_blocks or len(firsts)
        ppo = np.sum((firsts >= 0) & (firsts < n_online)) / n
        out.append((ppo, np.sum(firsts >= n_online) / n))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=128)
    p.add_argument("--group", type=int, default=16)
    p.add_argument("--stored", type=int, default=256)
    p.add_argument("--mini-prompts", type=int, default=64)
    p.add_argument("--ranks", type=int, default=8)
    p.add_argument("--micro-rows", type=int, default=2, help="released micro-batch per rank")
    p.add_argument("--micro", type=int, default=16, help="the trainer's micro-batch (old mode)")
    a = p.parse_args()
    n_online, n_mini = a.prompts * a.group, a.prompts // a.mini_prompts
    online, stored = np.arange(n_online), np.arange(n_online, n_online + a.stored)
    mini_rows = n_online // n_mini
    modes = {
        "token": [(1.0, 1.0)] * n_mini,
        "microbatch, before": weights(
            Algorithm.layout(None, online, stored, n_mini), n_online, a.micro, None
        ),
        "microbatch, released": weights(
            released_layout(online, stored, mini_rows=mini_rows, ranks=a.ranks),
            n_online,
            a.micro_rows,
            mini_rows // a.micro_rows,
        ),
    }
    print(
        f"{a.prompts} prompts x {a.group} + {a.stored} stored rows, mini-batches of "
        f"{a.mini_prompts} prompts, {a.ranks} ranks, released micro-batch {a.micro_rows}:"
    )
    print(
        "| mode | optimizer steps | PPO weight per step | f weight per step (x eta) | "
        "f / PPO over the RL step (x eta) |\n|---|---|---|---|---|"
    )
    for mode, w in modes.items():
        ppo, f = np.array(w).T
        print(
            f"| {mode} | {len(w)} | {' '.join(f'{x:.3f}' for x in ppo)} | "
            f"{' '.join(f'{x:.3f}' for x in f)} | {f.sum() / ppo.sum():.3f} |"
        )


if __name__ == "__main__":
    main()
