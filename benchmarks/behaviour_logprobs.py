"""On-policy importance weights in low precision: the sampler's log-probs against the
training forward's, and what recomputing them costs.

One RL step's rollout of a config (default: FlowRL on the embedded Countdown task from
artifacts/countdown_base, `make base-model`) at `--dtype`, then three log-probs of the same
responses:

- `sampler`: the sampler's (the KV-cache decode), what `lp_old` was when nothing is recomputed;
- `recompute`: the trainer's no-gradient forward, what `rollout.recompute_logprobs` puts there;
- `train`: the log-probs inside the jitted gradient of the update (what the loss compares
  `lp_old` with on the first, on-policy, update).

Prints the per-token |train − old| and the range of FlowRL's sequence weight
w = exp(Σ_t (train − old)) for old = sampler and old = recompute (both ought to be 1 on policy),
and the median seconds of a step's rollout, recompute forward and update (after compiling).

    python benchmarks/behaviour_logprobs.py --dtype bfloat16
    python benchmarks/behaviour_logprobs.py --dtype float32 --set rollout.prompts_per_step=64
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.config import countdown_config
from flowrl_jax.train.step import policy_forward
from flowrl_jax.train.trainer import Trainer


def train_logprobs(trainer: Trainer, batch: dict, key: jax.Array) -> jax.Array:
    """lp as the update computes it: the train step's loss and gradient (the same program as
    `flowrl_jax.train.step.make_train_step`), per micro-batch, returning the forward's lp."""
    algo, c = trainer.algo, trainer.config

    def loss(params, mb, norms, k):
        model = nnx.merge(trainer.graphdef, params, trainer.rest)
        fwd = policy_forward(
            model,
            mb,
            prompt_len=trainer.prompt_len,
            temperature=c.rollout.temperature,
            algo=algo,
            dropout_key=k,
        )
        value, _ = algo.loss(fwd, mb, norms, trainer.max_new)
        return value, fwd["lp"]

    grad = jax.jit(jax.value_and_grad(loss, has_aux=True))
    norms = algo.normalizers(batch, trainer.max_new)
    b = batch["ids"].shape[0]
    micro = c.optim.micro_batch_size or b
    outs = [
        grad(trainer.params, {k: v[i : i + micro] for k, v in batch.items()}, norms, key)[0][1]
        for i in range(0, b, micro)
    ]
    return jnp.concatenate(outs)


def weight_stats(lp: jax.Array, lp_old: jax.Array, mask: jax.Array) -> dict[str, float]:
    delta = np.asarray(jnp.where(mask, lp - lp_old, 0.0), np.float64)
    w = np.exp(delta.sum(axis=1))
    m = np.asarray(mask)
    return {
        "token_absdiff_max": float(np.abs(delta[m]).max()),
        "token_absdiff_mean": float(np.abs(delta[m]).mean()),
        "w_min": float(w.min()),
        "w_max": float(w.max()),
        "w_outside_0.8_1.2": float(np.mean((w < 0.8) | (w > 1.2))),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algorithm", default="flowrl")
    p.add_argument("--model", default="artifacts/countdown_base")
    p.add_argument("--dtype", default="bfloat16", choices=("float32", "bfloat16"))
    p.add_argument("--steps", type=int, default=4, help="steps timed (after one to compile)")
    p.add_argument("--set", nargs="*", default=[], help="config overrides key=value (JSON)")
    a = p.parse_args()
    config = countdown_config(a.algorithm)
    with config.unlocked(), tempfile.TemporaryDirectory() as workdir:
        config.model_path, config.workdir, config.dtype = a.model, workdir, a.dtype
        config.rollout.recompute_logprobs = False  # keep the sampler's in the batch
        config.log.progress = False
        config.reward.unsafe_in_process = True  # the embedded task's verifier, no pool
        for item in a.set:
            key, _, value = item.partition("=")
            section, _, name = key.rpartition(".")
            node = config
            for part in filter(None, section.split(".")):
                node = node[part]
            node[name] = json.loads(value)
        trainer = Trainer(config)
        times: dict[str, list[float]] = {"rollout": [], "recompute": [], "update": []}
        with make_scorer(config) as score:
            for step in range(a.steps + 1):
                key = jax.random.key(step)
                timings: dict[str, float] = {}
                batch, _ = trainer.collect(key, score, timings)
                start = time.perf_counter()
                recompute = jax.block_until_ready(trainer._forward(trainer.params, batch)["lp"])
                t_recompute = time.perf_counter() - start
                if step == 0:
                    lp = train_logprobs(trainer, batch, key)
                    stats = {
                        old: weight_stats(lp, lp_old, batch["mask"])
                        for old, lp_old in (("sampler", batch["lp_old"]), ("recompute", recompute))
                    }
                start = time.perf_counter()
                trainer.update(batch, key)
                jax.block_until_ready(trainer.params)
                if step:  # the first step compiles
                    times["rollout"].append(timings["rollout"])
                    times["recompute"].append(t_recompute)
                    times["update"].append(time.perf_counter() - start)
    print(f"{a.algorithm}, dtype {a.dtype}, {batch['ids'].shape[0]} responses, on policy:")
    print(
        "| lp_old | max abs(lp - lp_old) per token | mean | w min | w max | w outside [0.8, 1.2] |"
    )
    print("|---|---|---|---|---|---|")
    for old, s in stats.items():
        print(
            f"| {old} | {s['token_absdiff_max']:.2e} | {s['token_absdiff_mean']:.2e} | "
            f"{s['w_min']:.4f} | {s['w_max']:.4f} | {s['w_outside_0.8_1.2']:.3f} |"
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        "median seconds per step: "
        + ", ".join(f"{k} {v:.3f}" for k, v in med.items())
        + f"; the recompute adds {100 * med['recompute'] / sum(med.values()):.1f}% to a step"
    )


if __name__ == "__main__":
    main()
