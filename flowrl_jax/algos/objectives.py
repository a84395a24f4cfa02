"""The two objectives every algorithm is built from, as pure functions of one micro-batch.

Inputs (all on device; b sequences, T response slots):
- fwd: the policy's forward pass: `lp` [b, T] log-probs under logits / T_rollout (gradient
  flows), `entropy` [b, T] (constant), `values` [b, T] (value head, or None), `log_z` [b]
  (log-Z head, or None);
- mb: the micro-batch: `mask` [b, T] response tokens, `stored` [b] DPH-RL stored samples,
  `lp_old`, `adv`, `returns`, `values_old` [b, T], `seq_adv` [b], and `lp_ref` [b, T] only when
  the run computes reference log-probs (its presence is static), and `lp_ref_stored` [b, T]
  (the stored reference log-probs of DPH-RL's D_pef samples) when the run has them;
- norms: global normalisers of the whole mini-batch (`online` and `stored` dicts for
  `aggregate`, `num_seqs` for trajectory balance), or None to normalise per micro-batch.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flowrl_jax.losses import (
    aggregate,
    f_divergence,
    get_policy_loss_fn,
    kl_estimate,
    masked_mean,
    normalizers,
    trajectory_balance_loss,
    value_loss,
)

Metrics = dict[str, jax.Array]


def masks(mb: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """(online, stored) token masks [b, T]: DPH-RL's per-sample type mask."""
    mask = mb["mask"].astype(bool)
    stored = mb["stored"][:, None]
    return mask & ~stored, mask & stored


def global_normalizers(batch: dict[str, jax.Array], algo: Any, max_len: int) -> dict[str, Any]:
    """Normalisers of a whole mini-batch (every micro-batch, every device), computed once."""
    online, stored = masks(batch)
    return {
        "online": normalizers(online, algo.loss_agg_mode, max_len),
        "stored": normalizers(stored, "token-mean"),
        "num_seqs": normalizers(online, "seq-mean-token-mean")["num_seqs"],
    }


def policy_gradient(fwd: dict, mb: dict, norms: dict | None, algo: Any, max_len: int):
    """PPO-family loss: clip surrogate (+ k3 KL, + value loss, + η·f-divergence on D_pef).

    Loss terms use the global normalisers; the metrics are means over this micro-batch.
    """
    online, stored = masks(mb)

    def agg(token_values, mask, kind="online", mode=algo.loss_agg_mode):
        norm = {} if norms is None else {k: v for k, v in norms[kind].items() if k != "max_len"}
        return aggregate(token_values, mask, mode=mode, max_len=max_len, **norm)

    options = dict(clip_ratio_low=algo.clip_ratio_low, clip_ratio_high=algo.clip_ratio_high)
    if algo.policy_loss == "ppo_clip":
        options["clip_ratio_c"] = algo.clip_ratio_c
    token_loss, metrics = get_policy_loss_fn(algo.policy_loss)(
        fwd["lp"], mb["lp_old"], mb["adv"], online, **options
    )
    loss = agg(token_loss, online)
    metrics = {**metrics, "entropy": masked_mean(fwd["entropy"], online)}
    if "lp_ref" in mb:  # present when the run computes reference log-probs
        kl = kl_estimate(fwd["lp"], mb["lp_ref"], online, kind=algo.kl_estimator)
        metrics["kl_ref"] = masked_mean(kl, online)
        if algo.kl_coef:
            loss = loss + algo.kl_coef * agg(kl, online)
    if fwd.get("values") is not None:
        v_tok, v_metrics = value_loss(
            fwd["values"], mb["values_old"], mb["returns"], online, clip_range_value=algo.value_clip
        )
        loss = loss + algo.vf_coef * agg(v_tok, online)
        metrics.update(v_metrics, value_loss=masked_mean(v_tok, online))
    if algo.divergence:
        f_tok = f_divergence(
            fwd["lp"], mb["lp_ref_stored"], stored, kind=algo.divergence, alpha=algo.alpha
        )
        f_loss = agg(f_tok, stored, kind="stored", mode="token-mean")
        metrics["f_div"] = masked_mean(f_tok, stored)
        if algo.dph_weighting == "microbatch":
            # The released code: each micro-batch is one type, judged by its first sample.
            loss = jnp.where(mb["stored"][0], algo.eta * f_loss, loss)
        else:
            loss = loss + algo.eta * f_loss
    return loss, metrics


def trajectory_balance(fwd: dict, mb: dict, norms: dict | None, algo: Any, max_len: int):
    """FlowRL: Σ_i w_i·δ_i² / N_seq with the log-Z head and the reference log-probs."""
    del max_len
    online, _ = masks(mb)
    lp_ref = mb["lp_old"] if algo.reference == "old" else mb["lp_ref"]
    loss, metrics = trajectory_balance_loss(
        fwd["lp"],
        mb["lp_old"],
        lp_ref,
        mb["seq_adv"],
        online,
        log_z=fwd.get("log_z"),
        beta=algo.beta,
        length_normalize=algo.length_normalize,
        weight_mode=algo.weight_mode,
        weight_clip=algo.weight_clip,
        weight_max=algo.weight_max,
        num_seqs=None if norms is None else norms["num_seqs"],
    )
    metrics["entropy"] = masked_mean(fwd["entropy"], online)
    if "lp_ref" in mb:
        metrics["kl_ref"] = masked_mean(kl_estimate(fwd["lp"], mb["lp_ref"], online), online)
    return loss, metrics


OBJECTIVES = {"policy_gradient": policy_gradient, "trajectory_balance": trajectory_balance}
