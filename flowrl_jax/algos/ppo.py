"""PPO with a critic (Schulman et al., arXiv 1707.06347), as the verl baselines run it.

GAE (γ = λ = 1) on the value head's predictions, whitened; clipped surrogate with verl's dual
clip (c = 3); token-mean; clipped value loss (c_v = 0.5), docs/algorithms.md §2–§3. The value
head is a linear layer on the policy's final hidden states: it shares the backbone (verl
trains a separate critic model; sharing halves the memory and is the usual single-model
variant).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from flowrl_jax.algos.base import Batch, Metrics, register
from flowrl_jax.algos.policy_gradient import PolicyGradient, PolicyGradientParams
from flowrl_jax.losses import masked_mean, value_loss
from flowrl_jax.models.heads import ValueHead


@dataclasses.dataclass(frozen=True)
class PPOParams(PolicyGradientParams):
    vf_coef: float = 0.5  # weight of the value loss
    value_clip: float = 0.5  # c_v: values move at most this far from V_old per update

    def check(self) -> None:
        super().check()
        self.at_least("vf_coef", 0.0)
        self.at_least("value_clip", 0.0, strict=True)


@register
class PPO(PolicyGradient):
    name = "ppo"
    display_name = "PPO"
    paper = "arXiv 1707.06347"
    Params = PPOParams
    defaults = dict(advantage="gae", gamma=1.0, lam=1.0, clip_ratio_c=3.0, vf_coef=0.5)

    def heads(self, hidden_size: int, rngs: Any) -> dict[str, Any]:
        return {"value": ValueHead(hidden_size, rngs=rngs)}

    @property
    def needs_old_forward(self) -> bool:
        return True  # V_old, for GAE and the value clip

    def head_outputs(
        self, model: Any, hidden: jax.Array, batch: Batch, *, prompt_len: int, dropout_key: Any
    ) -> Batch:
        return {"values": model.value(hidden[:, prompt_len - 1 : -1])}

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
        loss = loss + self.p.vf_coef * self.aggregate(v_tok, online, norms, max_len)
        return loss, {**metrics, **v_metrics, "value_loss": masked_mean(v_tok, online)}
