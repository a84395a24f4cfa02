"""FlowRL (Zhu et al., arXiv 2509.15207): match the reward distribution with trajectory balance.

    δ_i = log Z_φ(x) + mean_t log π_θ − β·r̂_i − mean_t log π_ref,   L = Σ_i w_i·δ_i² / N_seq

with r̂ the GRPO (group/group) advantage of the reward, β = 15, a learned log-Z head on the
prompt's hidden states, and the sequence importance weight w clipped to [0.8, 1.2] (the paper
text; `weight_mode` switches to the released codes' variants). docs/algorithms.md §5.

What makes it different: the log-Z head (`heads`, `head_outputs`), a reference model (the
initial policy, or the old policy for the ablation), sequence-level advantages, and the
trajectory-balance loss instead of a clipped surrogate.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.algos.base import Algorithm, Batch, Metrics, Params, register
from flowrl_jax.losses import (
    WEIGHT_MODES,
    group_normalized_advantages,
    kl_estimate,
    masked_mean,
    normalizers,
    trajectory_balance_loss,
)
from flowrl_jax.models.heads import LogZHead

REFERENCES = ("initial", "old")


@dataclasses.dataclass(frozen=True)
class FlowRLParams(Params):
    beta: float = 15.0  # β: the reward's inverse temperature in the target distribution
    weight_mode: str = "clip"  # none | raw | clip | max (the importance weight w_i)
    weight_clip: float = 0.2  # ε of `clip`: w in [1 − ε, 1 + ε]
    weight_max: float = 10.0  # C of `max`: w ≤ C
    length_normalize: bool = True  # token means (paper) or sums in δ (ablation)
    use_logz: bool = True  # the log-Z head (False: log Z = 0, the ablation)
    logz_exclude_last_prompt_token: bool = True  # pooling of the released code
    logz_stop_gradient: bool = False  # only the head learns from δ's log Z
    logz_dropout: float = 0.1  # dropout inside the log-Z head
    reference: str = "initial"  # initial | old (the "reference = old policy" ablation)
    normalizer: str = "global"  # global (exact) | local (per micro-batch, as released codes)

    def check(self) -> None:
        self.choice("weight_mode", WEIGHT_MODES)
        self.choice("reference", REFERENCES)
        self.choice("normalizer", ("global", "local"))
        self.at_least("beta", 0.0)
        self.at_least("weight_clip", 0.0)
        self.at_most("weight_clip", 1.0)
        self.at_least("weight_max", 0.0, strict=True)
        self.at_least("logz_dropout", 0.0)
        self.at_most("logz_dropout", 1.0)


@register
class FlowRL(Algorithm):
    name = "flowrl"
    display_name = "FlowRL"
    paper = "arXiv 2509.15207"
    Params = FlowRLParams

    def check_run(self, config: Any) -> None:
        if config.rollout.temperature <= 0:
            raise ValueError("FlowRL needs rollout.temperature > 0 (log-probs under logits / T).")

    def heads(self, lm: Any, rngs: Any) -> dict[str, Any]:
        if not self.p.use_logz:
            return {}
        return {"logz": LogZHead(lm.config.hidden_size, rngs=rngs, dropout=self.p.logz_dropout)}

    @property
    def needs_reference(self) -> bool:
        return self.p.reference == "initial"

    def head_outputs(
        self, model: Any, hidden: jax.Array, batch: Batch, *, prompt_len: int, dropout_key: Any
    ) -> Batch:
        if model.logz is None:
            return {}
        prompt_mask = batch["attn"].at[:, prompt_len:].set(False)
        log_z = model.logz(
            hidden,
            prompt_mask,
            exclude_last_prompt_token=self.p.logz_exclude_last_prompt_token,
            stop_gradient_input=self.p.logz_stop_gradient,
            deterministic=dropout_key is None,
            dropout_key=dropout_key,
        )
        return {"log_z": log_z}

    def advantages(
        self, rewards: np.ndarray, batch: Batch, *, group_size: int, old: Batch | None
    ) -> Batch:
        """`seq_adv` [B]: r̂, the GRPO advantage of each sequence's reward."""
        b = rewards.shape[0]
        seq_adv = group_normalized_advantages(
            jnp.asarray(rewards),
            jnp.arange(b) // group_size,
            num_groups=b // group_size,
            mean="group",
            std="group",
        )
        return {"seq_adv": seq_adv}

    def normalizers(self, batch: Batch, max_len: int) -> Any:
        if self.p.normalizer == "local":
            return None
        return normalizers(batch["mask"].astype(bool), "seq-mean-token-mean")["num_seqs"]

    def loss(self, fwd: Batch, mb: Batch, norms: Any, max_len: int) -> tuple[jax.Array, Metrics]:
        p, mask = self.p, mb["mask"].astype(bool)
        lp_ref = mb["lp_old"] if p.reference == "old" else mb["lp_ref"]
        loss, metrics = trajectory_balance_loss(
            fwd["lp"],
            mb["lp_old"],
            lp_ref,
            mb["seq_adv"],
            mask,
            log_z=fwd.get("log_z"),
            beta=p.beta,
            length_normalize=p.length_normalize,
            weight_mode=p.weight_mode,
            weight_clip=p.weight_clip,
            weight_max=p.weight_max,
            num_seqs=norms,
        )
        metrics["entropy"] = masked_mean(fwd["entropy"], mask)
        if "lp_ref" in mb:
            metrics["kl_ref"] = masked_mean(kl_estimate(fwd["lp"], mb["lp_ref"], mask), mask)
        return loss, metrics
