"""PPO with a critic (Schulman et al., arXiv 1707.06347), as the verl baselines run it.

GAE (γ = λ = 1) on the critic's predictions, whitened; clipped surrogate with verl's dual clip
(c = 3); token-mean; clipped value loss (c_v = 0.5), docs/algorithms.md §2–§3. The critic is
either a value head on the policy's own final hidden states (`critic="shared"`, the default:
half the memory, the usual single-model variant; the value loss enters the policy's loss with
weight `vf_coef`) or, as verl trains it and as the FlowRL paper's PPO baseline ran, a separate
model (`critic="separate"`): a copy of the initial policy with its own value head, its own
AdamW and learning rate (`critic_lr`), its value loss unweighted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from flowrl_jax.algos.base import Batch, Metrics, register
from flowrl_jax.algos.policy_gradient import PolicyGradient, PolicyGradientParams
from flowrl_jax.losses import masked_mean, value_loss
from flowrl_jax.models.heads import ValueHead, ValueModel

CRITICS = ("shared", "separate")


@dataclasses.dataclass(frozen=True)
class PPOParams(PolicyGradientParams):
    critic: str = "shared"  # shared (a head on the policy's backbone) | separate (its own model)
    critic_lr: float = 1e-5  # learning rate of the separate critic (verl's critic.optim.lr)
    vf_coef: float = 0.5  # weight of the shared critic's value loss in the policy's loss
    value_clip: float = 0.5  # c_v: values move at most this far from V_old per update

    def check(self) -> None:
        super().check()
        self.choice("critic", CRITICS)
        self.at_least("critic_lr", 0.0, strict=True)
        self.at_least("vf_coef", 0.0)
        self.at_least("value_clip", 0.0, strict=True)


@register
class PPO(PolicyGradient):
    name = "ppo"
    display_name = "PPO"
    paper = "arXiv 1707.06347"
    Params = PPOParams
    defaults = dict(advantage="gae", gamma=1.0, lam=1.0, clip_ratio_c=3.0, vf_coef=0.5)

    def heads(self, lm: Any, rngs: Any) -> dict[str, Any]:
        if self.p.critic == "separate":
            return {"value": ValueModel(lm, rngs=rngs)}
        return {"value": ValueHead(lm.config.hidden_size, rngs=rngs)}

    def param_groups(self) -> dict[str, float]:
        return {"value": self.p.critic_lr} if self.p.critic == "separate" else {}

    @property
    def needs_old_forward(self) -> bool:
        return True  # V_old, for GAE and the value clip

    def head_outputs(
        self, model: Any, hidden: jax.Array, batch: Batch, *, prompt_len: int, dropout_key: Any
    ) -> Batch:
        if self.p.critic == "separate":
            values = model.value(batch["ids"], batch["attn"])
        else:
            values = model.value(hidden)
        return {"values": values[:, prompt_len - 1 : -1]}

    def advantages(
        self, rewards: np.ndarray, batch: Batch, *, group_size: int, old: Batch | None
    ) -> Batch:
        out = super().advantages(rewards, batch, group_size=group_size, old=old)
        return {**out, "values_old": old["values"]}

    def loss(self, fwd: Batch, mb: Batch, norms: Any, max_len: int) -> tuple[jax.Array, Metrics]:
        loss, metrics = super().loss(fwd, mb, norms, max_len)
        online = self.online_mask(mb)
        v_tok, v_metrics = value_loss(
            fwd["values"],
            mb["values_old"],
            mb["returns"],
            online,
            clip_range_value=self.p.value_clip,
        )
        weight = self.p.vf_coef if self.p.critic == "shared" else 1.0
        loss = loss + weight * self.aggregate(v_tok, online, norms, max_len)
        return loss, {**metrics, **v_metrics, "value_loss": masked_mean(v_tok, online)}
