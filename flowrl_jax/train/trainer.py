"""The RL loop: rollout -> verify -> reference / old log-probs -> advantages -> updates.

`Trainer(config).train()` runs `config.steps` RL steps from `config.model_path`, writing into
`config.workdir`: the resolved config, metrics (JSONL, TensorBoard), orbax checkpoints, the
evaluation results and, at the end, the policy as Hugging Face safetensors in `export/`.

The loop names no algorithm and no task: it calls the algorithm's hooks
(`flowrl_jax.algos.base`, in the order listed there) and the task's scorer.
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
from jax.sharding import NamedSharding

from flowrl_jax.algos import RunContext, make_algorithm
from flowrl_jax.data import PromptSet, tokenize_prompts
from flowrl_jax.distributed import replicated, rollout_copy, rows_sharding
from flowrl_jax.distributed.multihost import is_primary
from flowrl_jax.eval.evaluate import evaluate_configured
from flowrl_jax.optim import make_rl_optimizer, set_rl_step
from flowrl_jax.rollout import (
    Rollout,
    SamplingOptions,
    ScoreFn,
    TaskScorer,
    generate,
    generate_all,
    make_scorer,
    reason_counts,
)
from flowrl_jax.tasks import get_task
from flowrl_jax.train.checkpoint import Checkpointer, CorruptCheckpoint
from flowrl_jax.train.config import recomputes_logprobs, validate
from flowrl_jax.train.metrics import MetricsLogger
from flowrl_jax.train.runlog import RunLog
from flowrl_jax.train.runs import build_policy, eval_key, export_policy
from flowrl_jax.train.step import make_forward_fn, make_train_step

log = logging.getLogger("flowrl_jax")

VERIFIER_ERROR_LIMIT = 0.5
"""A step whose items are mostly verifier errors stops the run: a broken verifier must not look
like a model that never learns."""


class Trainer:
    """Holds the policy, its optimizer state, the data cursor and the jitted functions."""

    def __init__(self, config: ml_collections.ConfigDict):
        validate(config)
        self.config = config
        self.algo = make_algorithm(config.algo)
        self.task = get_task(config.task)
        self.workdir = os.path.abspath(config.workdir)
        os.makedirs(self.workdir, exist_ok=True)

        self.model, self.tokenizer, self.mesh = build_policy(config, self.algo, config.model_path)
        self.graphdef, self.params, self.rest = nnx.split(self.model, nnx.Param, ...)
        needs_ref = self.algo.needs_reference
        self.ref_params = jax.tree.map(jnp.copy, self.params) if needs_ref else None

        self.prompt_len = config.data.max_prompt_len
        self.max_new = config.rollout.max_new_tokens
        self.sampling = SamplingOptions.of(config.rollout, self.max_new)
        self.recompute = recomputes_logprobs(config)  # lp_old from the update's forward
        self.train_set = self._prompts("train")
        self.eval_set = self._prompts("eval")
        self.step = 0
        self.cursor = {"epoch": 0, "index": 0}
        self.pool: np.ndarray = np.arange(len(self.train_set))  # the prompts sampled online
        self.skipped_in_a_row = 0  # RL steps whose every update was skipped

        self.forward = make_forward_fn(
            self.graphdef,
            prompt_len=self.prompt_len,
            temperature=config.rollout.temperature,
            algo=self.algo,
            logprob_chunk=config.model.logprob_chunk,
        )
        self.optimizer = make_rl_optimizer(config.optim, config.steps, self.algo.param_groups())
        self.set_optimizer(self.optimizer.tx)

    @functools.cached_property
    def checkpointer(self) -> Checkpointer:
        """Made on first use, so that evaluating a checkpoint leaves no checkpoint directory."""
        return Checkpointer(os.path.join(self.workdir, "checkpoints"), self.config.checkpoint.keep)

    def set_optimizer(self, tx: optax.GradientTransformation) -> None:
        """Uses `tx` from now on: a fresh optimizer state and the train step built around it."""
        self.tx = tx
        # optax creates its step counters off the mesh; the update returns them on it. Place
        # them there now, or the second update would compile again for the new input sharding.
        self.opt_state = jax.tree.map(
            lambda x: (
                x
                if isinstance(x.sharding, NamedSharding)
                else jax.device_put(x, replicated(self.mesh))
            ),
            tx.init(self.params),
        )
        self.train_step = make_train_step(
            self.graphdef,
            tx,
            self.algo,
            prompt_len=self.prompt_len,
            max_len=self.max_new,
            temperature=self.config.rollout.temperature,
            logprob_chunk=self.config.model.logprob_chunk,
        )

    # ------------------------------------------------------------------------------ data

    def _prompts(self, split: str) -> PromptSet:
        c = self.config
        problems = self.task.problems(c.data, split)
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

    def _rollout_model(self, timings: dict[str, float]) -> Any:
        """The policy resharded to the rollout layout, in its compute dtype; the seconds it
        took are added to `timings["reshard"]`."""
        start = time.perf_counter()
        lm = rollout_copy(self.model.lm, self.mesh, self.model.lm.dtype)
        jax.block_until_ready(nnx.state(lm))
        timings["reshard"] = timings.get("reshard", 0.0) + time.perf_counter() - start
        return lm

    def _generate(self, lm, idx: np.ndarray, key: jax.Array, score: ScoreFn, timings) -> Rollout:
        s, c = self.train_set, self.config.rollout
        if c.prompts_per_call and c.prompts_per_call < len(idx):
            return generate_all(
                lm,
                self.tokenizer,
                s,
                idx,
                key,
                num_samples=c.group_size,
                sampling=self.sampling,
                score=score,
                chunk=c.prompts_per_call,
                timings=timings,
            )
        return generate(
            lm,
            self.tokenizer,
            s.ids[idx],
            s.mask[idx],
            [s.problems[i].reference for i in idx],
            key,
            num_samples=c.group_size,
            sampling=self.sampling,
            score=score,
            timings=timings,
        )

    def run_context(self, score: ScoreFn) -> RunContext:
        """What an algorithm's `setup` may use (it samples the initial policy)."""
        c = self.config

        def rollout(idx: np.ndarray, num_samples: int, key: jax.Array, desc: str = "rollout"):
            return generate_all(
                self._rollout_model({}),
                self.tokenizer,
                self.train_set,
                idx,
                key,
                num_samples=num_samples,
                sampling=self.sampling,
                score=score,
                chunk=c.rollout.prompts_per_call or c.rollout.prompts_per_step,
                progress=c.log.progress,
                desc=desc,
            )

        def logprobs(r: Rollout) -> jax.Array:
            if not self.recompute:
                return r.lp_old
            return jnp.where(
                r.mask, self._forward(self.params, {"ids": r.ids, "attn": r.attn})["lp"], 0.0
            )

        return RunContext(
            rollout=rollout,
            logprobs=logprobs,
            num_prompts=len(self.train_set),
            prompts_per_step=c.rollout.prompts_per_step,
            prompt_len=self.prompt_len,
            max_new_tokens=self.max_new,
            workdir=self.workdir,
            seed=c.seed,
            progress=c.log.progress,
        )

    def _sample(self, key: jax.Array, score: ScoreFn, timings: dict) -> tuple[Rollout, dict]:
        """The algorithm's `collect` on the policy resharded to the rollout layout (once per
        step; the copy is dropped on return)."""
        n, g = self.config.rollout.prompts_per_step, self.config.rollout.group_size
        lm = self._rollout_model(timings)

        def draw(attempt: int) -> Rollout:
            return self._generate(
                lm, self._next_prompts(n), jax.random.fold_in(key, attempt), score, timings
            )

        return self.algo.collect(draw, n, g)

    def collect(self, key: jax.Array, score: TaskScorer, timings: dict) -> tuple[dict, dict]:
        """One step's batch (a dict of device arrays) and its rollout metrics.

        Batch: `ids`, `attn` [B, P+T]; `mask` [B, T] (the response tokens); `lp_old` [B, T]
        (the sampler's, or recomputed); `lp_ref` [B, T] when the algorithm needs a reference;
        and what the algorithm's `shape_rewards`, `advantages` and `extra_rows` add.
        """
        algo, g = self.algo, self.config.rollout.group_size
        r, metrics = self._sample(key, score, timings)
        self.last_rollout = r  # for the run log (samples, uniform groups)
        rewards, rows = algo.shape_rewards(r, self.max_new)
        batch = {"ids": r.ids, "attn": r.attn, "mask": r.mask, "lp_old": r.lp_old, **rows}
        start = time.perf_counter()
        old = None
        if self.recompute or algo.needs_old_forward:
            old = self._forward(self.params, batch)
            if self.recompute:
                batch["lp_old"] = jnp.where(r.mask, old["lp"], 0.0)
        if self.ref_params is not None:
            batch["lp_ref"] = self._forward(self.ref_params, batch)["lp"]
        batch.update(algo.advantages(rewards, batch, group_size=g, old=old))
        timings["reference"] = time.perf_counter() - start
        batch = algo.extra_rows(batch, self.step)

        metrics.update(
            reward=float(np.mean(rewards)),
            reward_std=float(np.std(rewards)),
            accuracy=float(np.mean(r.correct)),
            response_len=float(np.mean(r.lengths)),
            response_len_max=int(np.max(r.lengths)),
            truncated_frac=float(np.mean(r.truncated)),
            tokens=int(np.sum(r.lengths)),
            verifier_failed=int(np.sum(r.failed)),
            **{f"reasons/{k}": v for k, v in reason_counts(r.reasons).items()},
        )
        self._check_verifier(r)
        return batch, metrics

    def _check_verifier(self, r: Rollout) -> None:
        failed = int(np.sum(r.failed))
        if failed > VERIFIER_ERROR_LIMIT * len(r.failed):
            example = r.reasons[int(np.argmax(r.failed))]
            raise RuntimeError(
                f"step {self.step + 1}: the verifier failed on {failed} of {len(r.failed)} "
                f"responses (e.g. {example!r}): the {self.config.task!r} verifier or its "
                "references are broken; fix them before training on these rewards."
            )

    def _forward(self, params, batch: dict) -> dict[str, jax.Array]:
        """No-gradient forward over the batch in micro-batches of the update's shape (the last
        one padded by repeating rows): one compiled shape, and the update's own numbers."""
        b = batch["ids"].shape[0]
        micro = self.config.optim.micro_batch_size or b
        pad = -b % micro
        rows = {k: jnp.pad(batch[k], [(0, pad), (0, 0)], mode="edge") for k in ("ids", "attn")}
        outs = [
            self.forward(params, self.rest, {k: v[i : i + micro] for k, v in rows.items()})
            for i in range(0, b + pad, micro)
        ]
        return jax.tree.map(lambda *x: jnp.concatenate(x)[:b], *outs)

    # ------------------------------------------------------------------------------ update

    def update(self, batch: dict, key: jax.Array) -> dict[str, float]:
        """E epochs over the batch in mini-batches; each mini-batch is one optimizer step.

        The rollout's rows (prompts_per_step · group_size) are shuffled each epoch; the
        algorithm's `layout` places them and the rows it added (`extra_rows`) in mini-batches
        (by default each mini-batch takes an equal share of the added rows, in order).
        """
        c = self.config
        rows = np.arange(batch["ids"].shape[0])
        sampled = c.rollout.prompts_per_step * c.rollout.group_size
        online, extra = rows[:sampled], rows[sampled:]
        n_mini = c.rollout.prompts_per_step // (
            c.optim.mini_batch_prompts or c.rollout.prompts_per_step
        )
        history = []
        self.opt_state = set_rl_step(self.opt_state, self.step)  # one learning rate per RL step
        for epoch in range(c.optim.epochs):
            k = jax.random.fold_in(key, 1000 + epoch)
            perm = np.asarray(jax.random.permutation(k, online))
            for m, take in enumerate(self.algo.layout(perm, extra, n_mini)):
                micro = c.optim.micro_batch_size or len(take)
                if len(take) % micro:
                    raise ValueError(
                        f"a mini-batch of {len(take)} rows ({c.algo.name}'s layout of "
                        f"{sampled} sampled and {len(extra)} added rows) does not split into "
                        f"micro-batches of optim.micro_batch_size={micro}."
                    )
                picked = {name: x[take] for name, x in batch.items()}
                picked["mask"] = picked["mask"] & (take >= 0)[:, None]  # -1: an empty row
                mini = {
                    name: jax.device_put(
                        x.reshape(len(take) // micro, micro, *x.shape[1:]),
                        rows_sharding(self.mesh, micro, x.ndim + 1, row_axis=1),
                    )
                    for name, x in picked.items()
                }
                self.params, self.opt_state, metrics = self.train_step(
                    self.params, self.rest, self.opt_state, mini, jax.random.fold_in(k, m)
                )
                history.append(metrics)
        nnx.update(self.model, self.params)
        out = {k: float(np.mean([float(h[k]) for h in history])) for k in history[0]}
        out["skipped"] = float(np.sum([float(h["skipped"]) for h in history]))
        out["updates"] = len(history)
        out.update(self.optimizer.learning_rates(self.step))
        return out

    def _check_skips(self, metrics: dict[str, Any]) -> None:
        """Warns of skipped updates (a non-finite gradient); stops the run when every update
        of `optim.max_skipped_steps` RL steps in a row was skipped."""
        if not metrics["skipped"]:
            self.skipped_in_a_row = 0
            return
        log.warning(
            "step %d: %d of %d updates skipped (the gradient was not finite)",
            self.step + 1,
            metrics["skipped"],
            metrics["updates"],
        )
        all_skipped = metrics["skipped"] == metrics["updates"]
        self.skipped_in_a_row = self.skipped_in_a_row + 1 if all_skipped else 0
        limit = self.config.optim.max_skipped_steps
        if limit and self.skipped_in_a_row >= limit:
            raise FloatingPointError(
                f"every update of the last {limit} RL steps had a non-finite gradient "
                f"(optim.max_skipped_steps={limit}): the parameters have not changed since step "
                f"{self.step + 1 - limit}. Lower optim.lr, check the rewards and the algorithm's "
                "settings (an unclipped importance weight can overflow), or raise the limit."
            )

    # ------------------------------------------------------------------------------ state

    def save(self) -> None:
        meta = {"step": self.step, "cursor": self.cursor}
        self.checkpointer.save(
            self.step, {"params": self.params, "opt_state": self.opt_state}, meta
        )

    def restore(self, *, fallback: bool = False) -> bool:
        """Restores the latest checkpoint in workdir; False when there is none.

        A step that fails its checks raises `CorruptCheckpoint`, unless `fallback`: then it is
        moved aside (with a warning naming it and the fault) and the previous step is tried.
        """
        for step in reversed(self.checkpointer.all_steps()):
            try:
                state, meta = self.checkpointer.restore(
                    step, {"params": self.params, "opt_state": self.opt_state}
                )
            except CorruptCheckpoint as e:
                if not fallback:
                    raise
                log.warning("%s; moved to %s", e, self.checkpointer.set_aside(step))
                continue
            self.params, self.opt_state = state["params"], state["opt_state"]
            nnx.update(self.model, self.params)
            self.step, self.cursor = int(meta["step"]), dict(meta["cursor"])
            return True
        if fallback and self.checkpointer.latest_step() is None:
            log.warning("no usable checkpoint left: starting from step 0")
        return False

    # ------------------------------------------------------------------------------ loop

    def run_eval(self, score: ScoreFn, key: jax.Array) -> dict[str, float]:
        result = evaluate_configured(
            self._rollout_model({}), self.tokenizer, self.eval_set, score, key, self.config
        )
        return {f"eval/{k}": v for k, v in result.metrics.items()}

    def train(self, *, resume: bool = False, fallback: bool = False) -> dict[str, float]:
        """Runs the remaining steps; returns the last step's metrics (with the final eval).

        `resume` continues from the latest checkpoint (`CorruptCheckpoint` if it fails its
        checks); `fallback` also resumes, from the latest step that passes them.
        """
        c = self.config
        if (resume or fallback) and self.restore(fallback=fallback):
            log.info("resumed from step %d", self.step)
        elif self.step == 0 and self.checkpointer.latest_step() is not None:
            raise FileExistsError(
                f"{self.workdir} already holds checkpoints (up to step "
                f"{self.checkpointer.latest_step()}): pass --resume to continue that run, or "
                "set --config.workdir to a new directory."
            )
        runlog = RunLog(c, self.workdir, self.tokenizer, writes=is_primary())
        runlog.banner(
            model=self.model, algo=self.algo, train=self.train_set, eval_set=self.eval_set
        )
        if is_primary():
            with open(os.path.join(self.workdir, "config.json"), "w", encoding="utf-8") as f:
                f.write(c.to_json_best_effort(indent=2))  # beside the run's outputs
        base_key = jax.random.key(c.seed)
        logger = MetricsLogger(
            self.workdir, c.steps, self.step, tensorboard=c.log.tensorboard, progress=c.log.progress
        )  # rows after self.step (a run killed after logging, before saving) are dropped
        metrics: dict[str, Any] = {}
        with make_scorer(c) as score, contextlib.closing(logger):
            pool = self.algo.setup(self.run_context(score))
            if pool is not None:
                self.pool = pool
            while self.step < c.steps:
                key = jax.random.fold_in(base_key, self.step)
                timings: dict[str, float] = {}
                start = time.perf_counter()
                batch, metrics = self.collect(key, score, timings)
                metrics.update(
                    runlog.rollout(self.step + 1, self.last_rollout, c.rollout.group_size, metrics)
                )
                t0 = time.perf_counter()
                metrics.update(self.update(batch, key))
                timings["update"] = time.perf_counter() - t0
                timings["step"] = time.perf_counter() - start
                metrics.update({f"time/{k}": v for k, v in timings.items()})
                metrics["tokens_per_s/rollout"] = metrics["tokens"] / max(timings["rollout"], 1e-9)
                metrics["verifier_replaced_workers"] = score.replaced_workers
                self._check_skips(metrics)
                self.step += 1
                if c.eval.every and self.step % c.eval.every == 0 and self.step < c.steps:
                    metrics.update(self.run_eval(score, eval_key(c.seed, self.step)))
                logger.log(self.step, metrics)  # before the checkpoint: a resume never lacks it
                runlog.step(self.step, metrics)
                if c.checkpoint.every and self.step % c.checkpoint.every == 0:
                    self.save()
            if c.eval.num_samples:
                final = self.run_eval(score, eval_key(c.seed, c.steps))
                metrics.update(final)
                logger.log(self.step, final, advance=False)
                runlog.step(self.step, final)
                if is_primary():
                    with open(os.path.join(self.workdir, "eval.json"), "w") as f:
                        json.dump(final, f, indent=2)
        self.save()
        if c.checkpoint.export_hf:
            export = os.path.join(self.workdir, "export")
            export_policy(self.model.lm, self.tokenizer, export, dtype=c.dtype, source=c.model_path)
        runlog.finish()
        return metrics
