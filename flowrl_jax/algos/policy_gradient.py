"""The PPO family (docs/algorithms.md §2–§3): an advantage estimator, a clipped surrogate, an
aggregation mode and an optional KL term, each a named piece of `flowrl_jax.losses`.

GRPO, Dr.GRPO, Lite PPO, RLOO and REINFORCE++ are this class with other `defaults`; PPO, DAPO
and DPH-RL extend it with their hooks.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.algos.base import Algorithm, Batch, Metrics, Params
from flowrl_jax.losses import (
    AGG_MODES,
    KL_KINDS,
    advantage_names,
    aggregate,
    get_advantage_fn,
    get_policy_loss_fn,
    kl_estimate,
    kl_penalized_rewards,
    masked_mean,
    normalizers,
    outcome_token_rewards,
    policy_loss_names,
)

NORMALIZERS = ("global", "local")
MOMENTS = ("group", "batch", "none")
AGG_MODE_OF = {"ppo_clip": "token-mean", "gspo": "seq-mean-token-mean"}
"""The aggregation each policy loss is defined with (GSPO's is a mean over sequences)."""


@dataclasses.dataclass(frozen=True)
class PolicyGradientParams(Params):
    advantage: str = "grpo"  # an estimator of flowrl_jax.losses.advantage_names()
    adv_mean: str = "group"  # μ of advantage="group_norm": group | batch | none
    adv_std: str = "group"  # σ of advantage="group_norm": group | batch | none
    gamma: float = 1.0  # discount (reinforce_pp, gae)
    lam: float = 1.0  # GAE λ
    policy_loss: str = "ppo_clip"  # ppo_clip | gspo
    clip_ratio_low: float | None = None  # ε_low; None = the policy loss's own default
    clip_ratio_high: float | None = None  # ε_high; None = the policy loss's own default
    clip_ratio_c: float | None = None  # dual clip c (ppo_clip only); None = off
    loss_agg_mode: str | None = None  # one of AGG_MODES; None = the policy loss's own
    normalizer: str = "global"  # global (exact) | local (per micro-batch, as released codes)
    kl_coef: float = 0.0  # β of the KL-to-reference term in the loss
    kl_estimator: str = "k3"  # estimator of the KL terms: k1 | abs | k2 | k3
    kl_reward_coef: float = 0.0  # β of the KL penalty in the reward

    def check(self) -> None:
        self.choice("advantage", advantage_names())
        self.choice("adv_mean", MOMENTS)
        self.choice("adv_std", MOMENTS)
        self.choice("policy_loss", policy_loss_names())
        self.choice("loss_agg_mode", (None, *AGG_MODES))
        self.choice("normalizer", NORMALIZERS)
        self.choice("kl_estimator", KL_KINDS)
        for name in ("gamma", "lam"):
            self.at_least(name, 0.0)
            self.at_most(name, 1.0)
        for name in ("clip_ratio_low", "clip_ratio_high", "kl_coef", "kl_reward_coef"):
            self.at_least(name, 0.0)
        self.at_most("clip_ratio_low", 1.0)
        self.at_least("clip_ratio_c", 1.0, strict=True)

    def policy_loss_options(self) -> dict[str, Any]:
        """Keyword arguments of the policy loss: the clip ratios given, else the loss's own
        defaults (GSPO's are not PPO's), and the dual clip for `ppo_clip` only."""
        accepted = inspect.signature(get_policy_loss_fn(self.policy_loss)).parameters
        options = {
            k: getattr(self, k)
            for k in ("clip_ratio_low", "clip_ratio_high", "clip_ratio_c")
            if k in accepted and getattr(self, k) is not None
        }
        return options

    @property
    def agg_mode(self) -> str:
        """`loss_agg_mode`, or the policy loss's own aggregation when it is None."""
        return self.loss_agg_mode or AGG_MODE_OF.get(self.policy_loss, "token-mean")


class PolicyGradient(Algorithm):
    """A clipped policy-gradient algorithm; subclasses register it with their `defaults`."""

    Params = PolicyGradientParams

    def check_run(self, config: Any) -> None:
        if self.p.advantage == "rloo" and config.rollout.group_size < 2:
            raise ValueError("algo.advantage='rloo' needs rollout.group_size >= 2.")

    @property
    def needs_reference(self) -> bool:
        return bool(self.p.kl_coef or self.p.kl_reward_coef)

    # ------------------------------------------------------------------ advantages

    def advantages(
        self, rewards: np.ndarray, batch: Batch, *, group_size: int, old: Batch | None
    ) -> Batch:
        """`adv` [B, T]: the estimator on outcome rewards (minus β·KL per token when
        `kl_reward_coef`), and `returns` for estimators with a critic target."""
        p, mask = self.p, batch["mask"]
        b = rewards.shape[0]
        token_rewards = outcome_token_rewards(jnp.asarray(rewards), mask)
        if p.kl_reward_coef:
            token_rewards = kl_penalized_rewards(
                token_rewards, batch["lp_old"], batch["lp_ref"], mask, beta=p.kl_reward_coef
            )
        adv, returns = get_advantage_fn(p.advantage)(
            token_rewards,
            mask,
            group_ids=jnp.arange(b) // group_size,
            num_groups=b // group_size,
            values=None if old is None else old.get("values"),
            **self.advantage_options(),
        )
        return {"adv": adv, "returns": returns}

    def advantage_options(self) -> dict[str, Any]:
        p = self.p
        if p.advantage == "group_norm":
            return dict(mean=p.adv_mean, std=p.adv_std)
        if p.advantage == "reinforce_pp":
            return dict(gamma=p.gamma)
        if p.advantage == "gae":
            return dict(gamma=p.gamma, lam=p.lam)
        return {}

    # ------------------------------------------------------------------ loss

    def online_mask(self, mb: Batch) -> jax.Array:
        """The tokens the policy-gradient term is on."""
        return mb["mask"].astype(bool)

    def normalizers(self, batch: Batch, max_len: int) -> Any:
        if self.p.normalizer == "local":
            return None
        return {"online": normalizers(self.online_mask(batch), self.p.agg_mode, max_len)}

    def aggregate(
        self,
        token_values: jax.Array,
        mask: jax.Array,
        norms: Any,
        max_len: int,
        *,
        kind: str = "online",
        mode: str | None = None,
    ) -> jax.Array:
        """`aggregate` with the mini-batch's normalisers of `kind` (none under `local`)."""
        norm = {} if norms is None else {k: v for k, v in norms[kind].items() if k != "max_len"}
        mode = mode or self.p.agg_mode
        return aggregate(token_values, mask, mode=mode, max_len=max_len, **norm)

    def token_terms(self, fwd: Batch, mb: Batch) -> tuple[jax.Array, jax.Array | None, Metrics]:
        """(policy loss [b, T] on the online tokens, KL to the reference [b, T] or None without
        reference log-probs, metrics): what `loss` aggregates."""
        p, online = self.p, self.online_mask(mb)
        token_loss, metrics = get_policy_loss_fn(p.policy_loss)(
            fwd["lp"], mb["lp_old"], mb["adv"], online, **p.policy_loss_options()
        )
        metrics = {**metrics, "entropy": masked_mean(fwd["entropy"], online)}
        kl = None
        if "lp_ref" in mb:  # present when the run computes reference log-probs
            kl = kl_estimate(fwd["lp"], mb["lp_ref"], online, kind=p.kl_estimator)
            metrics["kl_ref"] = masked_mean(kl, online)
        return token_loss, kl, metrics

    def loss(self, fwd: Batch, mb: Batch, norms: Any, max_len: int) -> tuple[jax.Array, Metrics]:
        """Clipped surrogate on the online tokens, + β·KL to the reference when `kl_coef`."""
        token_loss, kl, metrics = self.token_terms(fwd, mb)
        online = self.online_mask(mb)
        loss = self.aggregate(token_loss, online, norms, max_len)
        if kl is not None and self.p.kl_coef:
            loss = loss + self.p.kl_coef * self.aggregate(kl, online, norms, max_len)
        return loss, metrics
