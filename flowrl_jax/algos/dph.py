"""DPH-RL (arXiv 2509.07430): PPO exploration plus a mass-covering f-divergence to the initial
policy on stored samples it already solves (docs/algorithms.md §4).

Group/group advantages, clip 0.2 / 0.28 with dual clip 3, token-mean on the online samples;
η·f(π_θ/π_ref) (token-mean) on a batch of stored D_pef samples each step. Three generators:
forward KL (DPH-F), Jensen–Shannon (DPH-JS), α-divergence.

What makes it different, in the order the trainer meets it:

- `setup`: D_pef, once. Sample `pef_samples` responses per training prompt from the initial
  policy; a prompt solved in at least `pef_correct` of them is "perfect"; for each perfect
  prompt sample one fresh response and keep it if correct, with its tokens and per-token
  log-probs (these are lp_ref: no reference network is needed afterwards; the update's own
  forward computes them when the run recomputes behaviour log-probs, as in bfloat16). The
  other prompts form D_exp, the online set. Saved to `workdir/reference_set.npz`, so a
  resumed run reuses it.
- `extra_rows`: each step appends `stored_per_step` stored samples after the online rows.
- `loss`: no PPO term on stored rows, no f term on online ones (a per-row type mask).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.algos.base import Batch, Metrics, RunContext, register
from flowrl_jax.algos.policy_gradient import PolicyGradient, PolicyGradientParams
from flowrl_jax.distributed.multihost import host_array
from flowrl_jax.losses import (
    F_DIVERGENCES,
    aggregate,
    f_divergence,
    masked_mean,
    normalizers,
)

log = logging.getLogger("flowrl_jax")

WEIGHTINGS = ("token", "microbatch")


@dataclasses.dataclass(frozen=True)
class DPHParams(PolicyGradientParams):
    divergence: str = "forward_kl"  # forward_kl | js | alpha
    eta: float = 0.01  # η, the f-divergence's weight
    alpha: float = 0.2  # α of the α-divergence
    pef_samples: int = 8  # samples per prompt when building D_pef
    pef_correct: int = 8  # prompts solved in at least this many are "perfect"
    stored_per_step: int = 16  # D_pef samples added to each step's batch (f-term only)
    dph_weighting: str = "token"  # token | microbatch (the released code's weighting)
    dph_ranks: int = 8  # microbatch: data-parallel ranks of the released run (8 GPUs)
    dph_micro_rows: int = 2  # microbatch: its micro-batch per rank (ppo_micro_batch_size_per_gpu)
    explore_only: bool = True  # online RL only on D_exp (prompts not in D_pef)

    def check(self) -> None:
        super().check()
        self.choice("divergence", F_DIVERGENCES)
        self.choice("dph_weighting", WEIGHTINGS)
        self.at_least("eta", 0.0)
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"config.algo.alpha={self.alpha!r} must be in (0, 1).")
        for name in (
            "pef_samples",
            "pef_correct",
            "stored_per_step",
            "dph_ranks",
            "dph_micro_rows",
        ):
            self.at_least(name, 1)
        if self.pef_correct > self.pef_samples:
            raise ValueError(
                f"config.algo.pef_correct={self.pef_correct} exceeds "
                f"algo.pef_samples={self.pef_samples}: no prompt could be perfect."
            )


@dataclasses.dataclass
class ReferenceSet:
    """D_pef: stored samples of the initial policy with their per-token log-probs."""

    ids: np.ndarray  # [N, P+T]
    attn: np.ndarray  # [N, P+T]
    mask: np.ndarray  # [N, T]
    lp_ref: np.ndarray  # [N, T]
    prompts: np.ndarray  # [N] train-set index of each stored sample

    def __len__(self) -> int:
        return len(self.prompts)

    @classmethod
    def empty(cls, prompt_len: int, max_new_tokens: int) -> ReferenceSet:
        width = prompt_len + max_new_tokens
        return cls(
            np.zeros((0, width), np.int32),
            np.zeros((0, width), bool),
            np.zeros((0, max_new_tokens), bool),
            np.zeros((0, max_new_tokens), np.float32),
            np.zeros((0,), np.int64),
        )


def build_reference_set(ctx: RunContext, pef_samples: int, pef_correct: int) -> ReferenceSet:
    """Samples D_pef from the initial policy (see the module docstring)."""
    key = jax.random.fold_in(jax.random.key(ctx.seed), 2**20)
    idx = np.arange(ctx.num_prompts)
    probe = ctx.rollout(idx, pef_samples, jax.random.fold_in(key, 0), "D_pef probe")
    perfect = idx[probe.correct.reshape(-1, pef_samples).sum(axis=1) >= pef_correct]
    if not len(perfect):
        return ReferenceSet.empty(ctx.prompt_len, ctx.max_new_tokens)
    fresh = ctx.rollout(perfect, 1, jax.random.fold_in(key, 1), "D_pef")
    ok = np.flatnonzero(fresh.correct)
    return ReferenceSet(
        host_array(fresh.ids)[ok],
        host_array(fresh.attn)[ok],
        host_array(fresh.mask)[ok],
        host_array(ctx.logprobs(fresh))[ok],
        perfect[ok],
    )


def exploration_pool(n_train: int, solved: np.ndarray, *, explore_only: bool) -> np.ndarray:
    """Online prompts: D_exp (every prompt not in D_pef) with `explore_only`, else all.

    If the initial policy solves every prompt, D_exp is empty and all prompts are used.
    """
    everything = np.arange(n_train)
    if not explore_only:
        return everything
    pool = np.setdiff1d(everything, solved)
    if not len(pool):
        log.warning("D_exp is empty (the initial policy solves every prompt); online RL uses all.")
        return everything
    return pool


def released_layout(
    online: np.ndarray, stored: np.ndarray, *, mini_rows: int, ranks: int
) -> list[np.ndarray]:
    """The optimizer steps of one epoch as DPH-RL's verl fork forms them (docs/algorithms.md
    §4.2): the step's rows, online then stored, are cut into `ranks` contiguous equal pieces
    (one per data-parallel rank); each rank cuts its piece into mini-batches of
    `mini_rows / ranks` rows, the last one short when the stored rows do not fill it; optimizer
    step j is mini-batch j of every rank, rank after rank. A short mini-batch is padded with
    empty rows (-1) to the full size, so that every step has one shape and, with the
    micro-batch losses averaged over the full count, each is divided by the configured number
    of micro-batches as in the released code.

    Returns:
      one [mini_rows] array of row indices (or -1) per optimizer step.
    """
    rows = np.concatenate([online, stored])
    if len(rows) % ranks or mini_rows % ranks:
        raise ValueError(
            f"{len(rows)} rows per step and mini-batches of {mini_rows} rows must both split "
            f"over algo.dph_ranks={ranks} ranks."
        )
    per_rank = mini_rows // ranks
    pieces = np.split(rows, ranks)
    steps = []
    for start in range(0, len(pieces[0]), per_rank):
        parts = [piece[start : start + per_rank] for piece in pieces]
        steps.append(
            np.concatenate([np.pad(p, (0, per_rank - len(p)), constant_values=-1) for p in parts])
        )
    return steps


class DPH(PolicyGradient):
    """DPH-RL with the generator `defaults["divergence"]`; registered below, one per f."""

    paper = "arXiv 2509.07430"
    Params = DPHParams
    defaults = dict(
        advantage="grpo",
        clip_ratio_low=0.2,
        clip_ratio_high=0.28,
        clip_ratio_c=3.0,
        eta=0.01,
    )

    def __init__(self, params: DPHParams):
        super().__init__(params)
        self.reference_set: ReferenceSet | None = None
        self.seed = 0

    def extra_rows_per_step(self, config: Any) -> int:
        return self.p.stored_per_step

    def check_run(self, config: Any) -> None:
        super().check_run(config)
        if self.p.dph_weighting != "microbatch":
            return
        p, g = self.p, config.rollout.group_size
        mini = (config.optim.mini_batch_prompts or config.rollout.prompts_per_step) * g
        rows = config.rollout.prompts_per_step * g + p.stored_per_step
        micro = config.optim.micro_batch_size or mini
        if rows % p.dph_ranks or mini % (p.dph_ranks * p.dph_micro_rows):
            raise ValueError(
                f"dph_weighting='microbatch' lays out {rows} rows per step over "
                f"algo.dph_ranks={p.dph_ranks} ranks in mini-batches of {mini} rows and "
                f"micro-batches of algo.dph_micro_rows={p.dph_micro_rows} per rank: the rows "
                "must split over the ranks, and each rank's share of a mini-batch into "
                "micro-batches."
            )
        if micro % p.dph_micro_rows:
            raise ValueError(
                f"optim.micro_batch_size={micro} must be a multiple of "
                f"algo.dph_micro_rows={p.dph_micro_rows} (the released micro-batch)."
            )

    def minibatch_rows(self, config: Any) -> int:
        if self.p.dph_weighting != "microbatch":
            return super().minibatch_rows(config)
        prompts = config.optim.mini_batch_prompts or config.rollout.prompts_per_step
        return prompts * config.rollout.group_size  # stored rows make steps of their own

    def layout(self, online: np.ndarray, extra: np.ndarray, num_minibatches: int) -> list:
        if self.p.dph_weighting != "microbatch":
            return super().layout(online, extra, num_minibatches)
        mini_rows = len(online) // num_minibatches
        return released_layout(online, extra, mini_rows=mini_rows, ranks=self.p.dph_ranks)

    def setup(self, ctx: RunContext) -> np.ndarray:
        """D_pef (loaded from `workdir/reference_set.npz` when present) and D_exp."""
        p, self.seed = self.p, ctx.seed
        path = os.path.join(ctx.workdir, "reference_set.npz")
        if os.path.exists(path):
            data = np.load(path)
            ref = ReferenceSet(**{f.name: data[f.name] for f in dataclasses.fields(ReferenceSet)})
        else:
            ref = build_reference_set(ctx, p.pef_samples, p.pef_correct)
            # every process holds the same set; each writes it whole (atomically), so a host
            # without a shared file system finds its own copy when the run resumes
            tmp = f"{path}.tmp-{os.getpid()}.npz"
            np.savez(tmp, **dataclasses.asdict(ref))
            os.replace(tmp, path)
        if not len(ref):
            log.warning(
                "D_pef is empty: no training prompt is solved %d/%d times by the initial "
                "policy; DPH-RL runs as plain PPO-clip.",
                p.pef_correct,
                p.pef_samples,
            )
        log.info("D_pef: %d stored samples of %d training prompts", len(ref), ctx.num_prompts)
        self.reference_set = ref
        return exploration_pool(ctx.num_prompts, ref.prompts, explore_only=p.explore_only)

    def advantages(
        self, rewards: np.ndarray, batch: Batch, *, group_size: int, old: Batch | None
    ) -> Batch:
        out = super().advantages(rewards, batch, group_size=group_size, old=old)
        n = rewards.shape[0]
        return {
            **out,
            "stored": jnp.zeros(n, bool),
            "lp_ref_stored": jnp.zeros_like(batch["lp_old"]),
        }

    def extra_rows(self, batch: Batch, step: int) -> Batch:
        """The step's stored samples after the online rows, with their stored lp_ref (also as
        lp_old: no PPO term reads it) and zeros for what only online rows carry."""
        ref = self.reference_set
        if ref is None or not len(ref):
            return batch
        s = self.p.stored_per_step
        rows = np.random.default_rng([self.seed, step, 7]).choice(len(ref), s)
        stored = {
            "ids": ref.ids[rows],
            "attn": ref.attn[rows],
            "mask": ref.mask[rows],
            "lp_old": ref.lp_ref[rows],
            "lp_ref_stored": ref.lp_ref[rows],
            "stored": np.ones(s, bool),
        }
        if "lp_ref" in batch:
            stored["lp_ref"] = ref.lp_ref[rows]
        for k, v in batch.items():
            stored.setdefault(k, np.zeros((s, *v.shape[1:]), v.dtype))
        return {k: jnp.concatenate([batch[k], jnp.asarray(stored[k])]) for k in batch}

    # ------------------------------------------------------------------ loss

    def online_mask(self, mb: Batch) -> jax.Array:
        return mb["mask"].astype(bool) & ~mb["stored"][:, None]

    def stored_mask(self, mb: Batch) -> jax.Array:
        return mb["mask"].astype(bool) & mb["stored"][:, None]

    def normalizers(self, batch: Batch, max_len: int) -> Any:
        norms = super().normalizers(batch, max_len)
        if norms is None or self.p.dph_weighting == "microbatch":
            return None  # the released code averages per-micro-batch losses
        return {**norms, "stored": normalizers(self.stored_mask(batch), "token-mean")}

    def loss(self, fwd: Batch, mb: Batch, norms: Any, max_len: int) -> tuple[jax.Array, Metrics]:
        """PPO on the online rows + η·f on the stored rows (token-means of their own), or, with
        `dph_weighting="microbatch"`, the released dispatch (`microbatch_loss`)."""
        p = self.p
        if p.dph_weighting == "microbatch":
            return self.microbatch_loss(fwd, mb, max_len)
        loss, metrics = super().loss(fwd, mb, norms, max_len)
        stored = self.stored_mask(mb)
        f_tok = f_divergence(
            fwd["lp"], mb["lp_ref_stored"], stored, kind=p.divergence, alpha=p.alpha
        )
        f_loss = self.aggregate(f_tok, stored, norms, max_len, kind="stored", mode="token-mean")
        return loss + p.eta * f_loss, {**metrics, "f_div": masked_mean(f_tok, stored)}

    def microbatch_loss(self, fwd: Batch, mb: Batch, max_len: int) -> tuple[jax.Array, Metrics]:
        """DPH-RL's released loss (`verl/workers/actor/dp_actor.py`, `update_policy`): the rows
        go in blocks of `dph_micro_rows` (the released micro-batches); a block whose first row
        is stored gets η·f(π_θ/π_old) on all its rows (π_old: the stored lp_ref on stored rows),
        any other block the PPO loss (+ β·KL) of its online rows; each is a mean over all the
        block's tokens. The blocks' losses are averaged and the trainer averages micro-batches,
        so each block is divided by the number of blocks of a full mini-batch (the released
        normaliser, `loss / gradient_accumulation`)."""
        p, mask = self.p, mb["mask"].astype(bool)
        ppo_tok, kl, metrics = self.token_terms(fwd, mb)
        f_tok = f_divergence(fwd["lp"], mb["lp_old"], mask, kind=p.divergence, alpha=p.alpha)

        def per_block(token_values):
            blocks = token_values.reshape(-1, p.dph_micro_rows, token_values.shape[-1])
            masks = mask.reshape(blocks.shape)
            return jax.vmap(lambda x, m: aggregate(x, m, mode=p.agg_mode, max_len=max_len))(
                blocks, masks
            )

        stored_first = mb["stored"].reshape(-1, p.dph_micro_rows)[:, 0]
        block_loss = jnp.where(stored_first, p.eta * per_block(f_tok), per_block(ppo_tok))
        if kl is not None and p.kl_coef:
            block_loss = block_loss + p.kl_coef * per_block(kl)
        metrics["f_div"] = masked_mean(f_tok, self.stored_mask(mb))
        return jnp.mean(block_loss), metrics


@register
class DPHForwardKL(DPH):
    name = "dph_forward_kl"
    display_name = "DPH-F"
    defaults = {**DPH.defaults, "divergence": "forward_kl"}


@register
class DPHJensenShannon(DPH):
    name = "dph_js"
    display_name = "DPH-JS"
    defaults = {**DPH.defaults, "divergence": "js"}


@register
class DPHAlpha(DPH):
    name = "dph_alpha"
    display_name = "DPH-α"
    defaults = {**DPH.defaults, "divergence": "alpha", "alpha": 0.2}
