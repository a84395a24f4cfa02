"""The RL loop: rollout -> verify -> reference / old log-probs -> advantages -> updates.

`Trainer(config).train()` runs `config.steps` RL steps from `config.model_path`, writing into
`config.workdir`: the resolved config, metrics (JSONL, TensorBoard), orbax checkpoints, the
evaluation results and, at the end, the policy as Hugging Face safetensors in `export/`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from flowrl_jax.algos.objectives import OBJECTIVES
from flowrl_jax.data.tasks import PromptSet, load_problems, tokenize_prompts
from flowrl_jax.distributed import make_mesh, shard_model
from flowrl_jax.eval.evaluate import evaluate_configured
from flowrl_jax.models import from_pretrained, load_tokenizer, save_pretrained
from flowrl_jax.models.heads import LogZHead, ValueHead
from flowrl_jax.train import rollout as ro
from flowrl_jax.train.checkpoint import Checkpointer
from flowrl_jax.train.config import validate
from flowrl_jax.train.metrics import MetricsLogger
from flowrl_jax.train.reference_set import ReferenceSet, build_reference_set
from flowrl_jax.train.scoring import make_scorer
from flowrl_jax.train.step import (
    PolicyModel,
    make_forward_fn,
    make_optimizer,
    make_train_step,
)

log = logging.getLogger("flowrl_jax")


def _sampling(rollout: Any) -> dict[str, Any]:
    return dict(
        temperature=rollout.temperature,
        top_p=rollout.top_p,
        top_k=rollout.top_k,
        max_new_tokens=rollout.max_new_tokens,
    )


class Trainer:
    """Holds the policy, its optimizer state, the data cursor and the jitted functions."""

    def __init__(self, config: ml_collections.ConfigDict):
        validate(config)
        assert config.algo.objective in OBJECTIVES
        self.config = config
        self.algo = config.algo
        self.workdir = os.path.abspath(config.workdir)
        os.makedirs(self.workdir, exist_ok=True)

        lm = from_pretrained(config.model_path, dtype=config.dtype, param_dtype=config.param_dtype)
        self.tokenizer = load_tokenizer(config.model_path, vocab_size=lm.config.vocab_size)
        rngs = nnx.Rngs(params=config.seed, dropout=config.seed + 1)
        hidden = lm.config.hidden_size
        logz = None
        if self.algo.objective == "trajectory_balance" and self.algo.use_logz:
            logz = LogZHead(hidden, rngs=rngs, dropout=self.algo.logz_dropout)
        value = ValueHead(hidden, rngs=rngs) if self.algo.advantage == "gae" else None
        self.model = PolicyModel(lm, logz=logz, value=value)
        self.mesh = make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
        shard_model(self.model, self.mesh)
        self.graphdef, self.params, self.rest = nnx.split(self.model, nnx.Param, ...)
        self.needs_ref = bool(
            self.algo.kl_coef
            or self.algo.kl_reward_coef
            or (self.algo.objective == "trajectory_balance" and self.algo.reference == "initial")
        )
        self.ref_params = jax.tree.map(jnp.copy, self.params) if self.needs_ref else None

        self.prompt_len = config.data.max_prompt_len
        self.max_new = config.rollout.max_new_tokens
        self.train_set = self._prompts("train")
        self.eval_set = self._prompts("eval")
        self.step = 0
        self.cursor = {"epoch": 0, "index": 0}
        self.pool: np.ndarray = np.arange(len(self.train_set))  # online prompts (D_exp for DPH)
        self.reference_set: ReferenceSet | None = None

        kw = dict(
            prompt_len=self.prompt_len, temperature=config.rollout.temperature, algo=self.algo
        )
        self.forward = make_forward_fn(self.graphdef, **kw)
        self.set_optimizer(make_optimizer(config.optim, config.steps))

    @functools.cached_property
    def checkpointer(self) -> Checkpointer:
        """Made on first use, so that evaluating a checkpoint leaves no checkpoint directory."""
        return Checkpointer(os.path.join(self.workdir, "checkpoints"), self.config.checkpoint.keep)

    def set_optimizer(self, tx: optax.GradientTransformation) -> None:
        """Uses `tx` from now on: a fresh optimizer state and the train step built around it."""
        self.tx = tx
        # optax creates its step counters off the mesh; the update returns them on it. Place
        # them there now, or the second update would compile again for the new input sharding.
        replicated = NamedSharding(self.mesh, PartitionSpec())
        self.opt_state = jax.tree.map(
            lambda x: x if isinstance(x.sharding, NamedSharding) else jax.device_put(x, replicated),
            tx.init(self.params),
        )
        self.train_step = make_train_step(
            self.graphdef,
            tx,
            self.algo,
            prompt_len=self.prompt_len,
            max_len=self.max_new,
            temperature=self.config.rollout.temperature,
        )

    # ------------------------------------------------------------------------------ data

    def _prompts(self, split: str) -> PromptSet:
        c = self.config
        problems = load_problems(c, split)
        prompts = tokenize_prompts(
            problems, self.tokenizer, self.prompt_len, chat_template=c.data.chat_template
        )
        if prompts.dropped:
            log.warning(
                "%s: dropped %d of %d prompts longer than data.max_prompt_len=%d",
                split,
                prompts.dropped,
                len(problems),
                self.prompt_len,
            )
        if not len(prompts):
            raise ValueError(f"no {split} prompt fits data.max_prompt_len={self.prompt_len}.")
        return prompts

    def _next_prompts(self, n: int) -> np.ndarray:
        """The next n prompt indices of a per-epoch permutation fixed by (seed, epoch)."""
        out = []
        while len(out) < n:
            order = np.random.default_rng([self.config.seed, self.cursor["epoch"]]).permutation(
                self.pool
            )
            take = order[self.cursor["index"] : self.cursor["index"] + n - len(out)]
            out.extend(take.tolist())
            self.cursor["index"] += len(take)
            if self.cursor["index"] >= len(order):
                self.cursor = {"epoch": self.cursor["epoch"] + 1, "index": 0}
        return np.asarray(out)

    # ------------------------------------------------------------------------------ rollout

    def _generate(self, idx: np.ndarray, key: jax.Array, score, timings) -> ro.Rollout:
        s = self.train_set
        return ro.generate(
            self.model.lm,
            self.tokenizer,
            s.ids[idx],
            s.mask[idx],
            [s.problems[i].reference for i in idx],
            key,
            num_samples=self.config.rollout.group_size,
            sampling=_sampling(self.config.rollout),
            score=score,
            timings=timings,
        )

    def collect(self, key: jax.Array, score, timings: dict) -> tuple[dict, dict]:
        """One step's batch (device arrays, see `rollout`) and its rollout metrics."""
        c, algo, g = self.config, self.algo, self.config.rollout.group_size
        n = c.rollout.prompts_per_step
        r = self._generate(self._next_prompts(n), jax.random.fold_in(key, 0), score, timings)
        metrics: dict[str, Any] = {}
        if algo.dynamic_sampling:  # DAPO: resample until n groups have mixed correctness
            tries = 0
            while len(ro.dynamic_sampling_keep(r.correct, g)) < n and tries < algo.max_resample:
                tries += 1
                extra = self._generate(
                    self._next_prompts(n), jax.random.fold_in(key, tries), score, timings
                )
                r = ro.concat([r, extra])
            mixed = ro.dynamic_sampling_keep(r.correct, g)
            uniform = np.setdiff1d(np.arange(len(r.texts) // g), mixed)
            r = ro.select_groups(r, np.concatenate([mixed, uniform])[:n], g)
            metrics.update(ds_resamples=tries, ds_filled=max(n - len(mixed), 0))

        rewards, mask = ro.shape_rewards(r, algo, self.max_new)
        batch = {
            "ids": r.ids,
            "attn": r.attn,
            "mask": mask,
            "lp_old": r.lp_old,
            "stored": jnp.zeros(len(r.texts), bool),
        }
        start = time.perf_counter()
        fwd = None
        if c.rollout.recompute_logprobs or self.model.value is not None:
            fwd = self._forward(self.params, batch)
            if c.rollout.recompute_logprobs:
                batch["lp_old"] = fwd["lp"]
        if self.needs_ref:
            batch["lp_ref"] = self._forward(self.ref_params, batch)["lp"]
        values = None if fwd is None else fwd.get("values")
        batch["values_old"] = jnp.zeros_like(batch["lp_old"]) if values is None else values
        batch.update(
            ro.advantages(
                rewards,
                mask,
                algo=algo,
                group_size=g,
                lp_old=batch["lp_old"],
                lp_ref=batch.get("lp_ref"),
                values=values,
            )
        )
        timings["reference"] = time.perf_counter() - start
        if algo.divergence:
            batch = self._append_stored(batch)

        lengths = r.lengths
        metrics.update(
            reward=float(np.mean(rewards)),
            reward_std=float(np.std(rewards)),
            accuracy=float(np.mean(r.correct)),
            response_len=float(np.mean(lengths)),
            response_len_max=int(np.max(lengths)),
            truncated_frac=float(np.mean(r.truncated)),
            tokens=int(np.sum(lengths)),
        )
        return batch, metrics

    def _forward(self, params, batch: dict) -> dict[str, jax.Array]:
        """No-gradient forward over the batch in micro-batches (one compiled shape)."""
        b = batch["ids"].shape[0]
        micro = self.config.optim.micro_batch_size or b
        outs = [
            self.forward(params, self.rest, {k: batch[k][i : i + micro] for k in ("ids", "attn")})
            for i in range(0, b, micro)
        ]
        return jax.tree.map(lambda *x: jnp.concatenate(x), *outs)

    def _append_stored(self, batch: dict) -> dict:
        """DPH-RL: the step's stored D_pef samples after the online rows (lp_ref stored)."""
        ref = self.reference_set
        batch["lp_ref_stored"] = jnp.zeros_like(batch["lp_old"])
        if ref is None or not len(ref):
            return batch
        s = self.algo.stored_per_step
        rows = np.random.default_rng([self.config.seed, self.step, 7]).choice(len(ref), s)
        stored = {
            "ids": ref.ids[rows],
            "attn": ref.attn[rows],
            "mask": ref.mask[rows],
            "lp_old": ref.lp_ref[rows],
            "lp_ref_stored": ref.lp_ref[rows],
            "stored": jnp.ones(s, bool),
        }
        if "lp_ref" in batch:
            stored["lp_ref"] = ref.lp_ref[rows]
        for k in batch:
            if k not in stored:
                stored[k] = jnp.zeros((s, *batch[k].shape[1:]), batch[k].dtype)
        return {k: jnp.concatenate([batch[k], jnp.asarray(stored[k])]) for k in batch}

    # ------------------------------------------------------------------------------ update

    def update(self, batch: dict, key: jax.Array) -> dict[str, float]:
        """E epochs over the batch in mini-batches; each mini-batch is one optimizer step."""
        c = self.config
        online = np.flatnonzero(~np.asarray(batch["stored"]))
        stored = np.flatnonzero(np.asarray(batch["stored"]))
        n_mini = c.rollout.prompts_per_step // (
            c.optim.mini_batch_prompts or c.rollout.prompts_per_step
        )
        per_mini = len(online) // n_mini
        stored_per_mini = len(stored) // n_mini
        rows_per_mini = per_mini + stored_per_mini
        micro = c.optim.micro_batch_size or rows_per_mini
        if rows_per_mini % micro:
            raise ValueError(
                f"a mini-batch of {rows_per_mini} rows ({per_mini} online + {stored_per_mini} "
                f"stored) does not split into micro-batches of optim.micro_batch_size={micro}."
            )
        history = []
        for epoch in range(c.optim.epochs):
            k = jax.random.fold_in(key, 1000 + epoch)
            perm = np.asarray(jax.random.permutation(k, online))
            for m in range(n_mini):
                rows = np.concatenate(
                    [
                        perm[m * per_mini : (m + 1) * per_mini],
                        stored[m * stored_per_mini : (m + 1) * stored_per_mini],
                    ]
                )
                mini = {
                    name: self._place(x[rows].reshape(rows_per_mini // micro, micro, *x.shape[1:]))
                    for name, x in batch.items()
                }
                self.params, self.opt_state, metrics = self.train_step(
                    self.params, self.rest, self.opt_state, mini, jax.random.fold_in(k, m)
                )
                history.append(metrics)
        nnx.update(self.model, self.params)
        out = {k: float(np.mean([float(h[k]) for h in history])) for k in history[0]}
        out["skipped"] = float(np.sum([float(h["skipped"]) for h in history]))
        return out

    def _place(self, x: jax.Array) -> jax.Array:
        """A [n_micro, micro, ...] array with its micro-batch rows split over (data, fsdp)."""
        shards = self.mesh.shape["data"] * self.mesh.shape["fsdp"]
        spec = [None, ("data", "fsdp") if x.shape[1] % shards == 0 else None]
        spec += [None] * (x.ndim - 2)
        return jax.device_put(x, NamedSharding(self.mesh, PartitionSpec(*spec)))

    # ------------------------------------------------------------------------------ state

    def save(self) -> None:
        meta = {"step": self.step, "cursor": self.cursor}
        self.checkpointer.save(
            self.step, {"params": self.params, "opt_state": self.opt_state}, meta
        )

    def restore(self) -> bool:
        """Restores the latest checkpoint in workdir; False when there is none."""
        step = self.checkpointer.latest_step()
        if step is None:
            return False
        state, meta = self.checkpointer.restore(
            step, {"params": self.params, "opt_state": self.opt_state}
        )
        self.params, self.opt_state = state["params"], state["opt_state"]
        nnx.update(self.model, self.params)
        self.step, self.cursor = int(meta["step"]), dict(meta["cursor"])
        return True

    # ------------------------------------------------------------------------------ loop

    def run_eval(self, score, key: jax.Array) -> dict[str, float]:
        result = evaluate_configured(
            self.model.lm, self.tokenizer, self.eval_set, score, key, self.config
        )
        return {f"eval/{k}": v for k, v in result.metrics.items()}

    def train(self, *, resume: bool = False) -> dict[str, float]:
        """Runs the remaining steps; returns the last step's metrics (with the final eval)."""
        c = self.config
        if resume and self.restore():
            log.info("resumed from step %d", self.step)
        elif self.step == 0 and self.checkpointer.latest_step() is not None:
            raise FileExistsError(
                f"{self.workdir} already holds checkpoints (up to step "
                f"{self.checkpointer.latest_step()}): pass --resume to continue that run, or "
                "set --config.workdir to a new directory."
            )
        with open(os.path.join(self.workdir, "config.json"), "w", encoding="utf-8") as f:
            f.write(c.to_json_best_effort(indent=2))  # beside the run's outputs
        base_key = jax.random.key(c.seed)
        eval_key = jax.random.fold_in(base_key, 2**30)  # a stream apart from the steps' keys
        logger = MetricsLogger(
            self.workdir, c.steps, self.step, tensorboard=c.log.tensorboard, progress=c.log.progress
        )
        metrics: dict[str, float] = {}
        with make_scorer(c) as score, contextlib.closing(logger):
            if self.algo.divergence:
                self.reference_set, self.pool = build_reference_set(self, score)
            while self.step < c.steps:
                key = jax.random.fold_in(base_key, self.step)
                timings: dict[str, float] = {}
                start = time.perf_counter()
                batch, metrics = self.collect(key, score, timings)
                t0 = time.perf_counter()
                metrics.update(self.update(batch, key))
                timings["update"] = time.perf_counter() - t0
                timings["step"] = time.perf_counter() - start
                metrics.update({f"time/{k}": v for k, v in timings.items()})
                metrics["tokens_per_s/rollout"] = metrics["tokens"] / max(timings["rollout"], 1e-9)
                self.step += 1
                if c.eval.every and self.step % c.eval.every == 0 and self.step < c.steps:
                    metrics.update(self.run_eval(score, jax.random.fold_in(eval_key, self.step)))
                if c.checkpoint.every and self.step % c.checkpoint.every == 0:
                    self.save()
                logger.log(self.step, metrics)
            if c.eval.num_samples:
                final = self.run_eval(score, jax.random.fold_in(eval_key, c.steps))
                metrics.update(final)
                logger.log(self.step, final, advance=False)
                with open(os.path.join(self.workdir, "eval.json"), "w", encoding="utf-8") as f:
                    json.dump(final, f, indent=2)
        self.save()
        if c.checkpoint.export_hf:
            save_pretrained(
                self.model.lm, os.path.join(self.workdir, "export"), tokenizer=self.tokenizer
            )
        return metrics
