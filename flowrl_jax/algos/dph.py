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
from flowrl_jax.losses import F_DIVERGENCES, f_divergence, masked_mean, normalizers

log = logging.getLogger("flowrl_jax")

WEIGHTINGS = ("token", "microbatch")


@dataclasses.dataclass(frozen=True)
class DPHParams(PolicyGradientParams):
    divergence: str = "forward_kl"  # forward_kl | js | alpha
    eta: float = 0.01  # η, the f-divergence's weight
    alpha: float = 0.2  # α of the α-divergence
    pef_samples: int = 8  # samples per prompt when building D_pef
    pef_correct: int = 8  # prompts solved in at least this many are "perfect"
    stored_per_step: int = 16
    dph_weighting: str = "token"  # token | microbatch (the released code's weighting)
    explore_only: bool = True  # online RL only on D_exp (prompts not in D_pef)

    def check(self) -> None:
        super().check()
        self.choice("divergence", F_DIVERGENCES)
        self.choice("dph_weighting", WEIGHTINGS)
        self.at_least("eta", 0.0)
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"config.algo.alpha={self.alpha!r} must be in (0, 1).")
        for name in ("pef_samples", "pef_correct", "stored_per_step"):
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
        np.asarray(fresh.ids)[ok],
        np.asarray(fresh.attn)[ok],
        np.asarray(fresh.mask)[ok],
        np.asarray(ctx.logprobs(fresh))[ok],
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

    def setup(self, ctx: RunContext) -> np.ndarray:
        """D_pef (loaded from `workdir/reference_set.npz` when present) and D_exp."""
        p, self.seed = self.p, ctx.seed
        path = os.path.join(ctx.workdir, "reference_set.npz")
        if os.path.exists(path):
            data = np.load(path)
            ref = ReferenceSet(**{f.name: data[f.name] for f in dataclasses.fields(ReferenceSet)})
        else:
            ref = build_reference_set(ctx, p.pef_samples, p.pef_correct)
            np.savez(path, **dataclasses.asdict(ref))
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
        `dph_weighting="microbatch"`, one of the two per micro-batch by its first row's type."""
        p = self.p
        loss, metrics = super().loss(fwd, mb, norms, max_len)
        stored = self.stored_mask(mb)
        f_tok = f_divergence(
            fwd["lp"], mb["lp_ref_stored"], stored, kind=p.divergence, alpha=p.alpha
        )
        f_loss = self.aggregate(f_tok, stored, norms, max_len, kind="stored", mode="token-mean")
        metrics = {**metrics, "f_div": masked_mean(f_tok, stored)}
        if p.dph_weighting == "microbatch":
            loss = jnp.where(mb["stored"][0], p.eta * f_loss, loss)
        else:
            loss = loss + p.eta * f_loss
        return loss, metrics


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
