"""DAPO (Yu et al., arXiv 2503.14476): clip-higher, dynamic sampling, overlong shaping.

Group/group advantages, clip-higher (ε_low 0.2, ε_high 0.28), token-mean, no KL. Dynamic
sampling drops groups whose correctness is all equal (they carry no signal) and samples again
up to a limit, then stops the run with an error (verl's recipe) or, with `ds_fill`, completes
the batch with uniform groups; overlong shaping penalises responses within the last L_b tokens
of the limit (L_b a fraction of `rollout.max_new_tokens`, as the paper's 4096 of 20480), and
overlong filtering takes truncated responses out of the loss only: their rewards still count
in the group statistics (docs/algorithms.md §2.8).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.algos.base import Batch, register
from flowrl_jax.algos.policy_gradient import PolicyGradient, PolicyGradientParams
from flowrl_jax.losses import overlong_penalty, uniform_group_mask
from flowrl_jax.rollout import Rollout, concat, select_groups


@dataclasses.dataclass(frozen=True)
class DAPOParams(PolicyGradientParams):
    dynamic_sampling: bool = False  # resample prompts whose group's rewards are all equal
    max_resample: int = 9  # rollouts a step may add to its first (verl: max_num_gen_batches − 1)
    ds_fill: bool = False  # a batch still short after them: fill with uniform groups (else error)
    overlong_buffer_frac: float = 0.0  # L_b / rollout.max_new_tokens; 0 = no overlong shaping
    overlong_buffer_len: int = 0  # L_b in tokens; > 0 overrides overlong_buffer_frac
    overlong_penalty: float = 1.0  # the shaping's largest penalty (at the length limit)
    overlong_filter: bool = False  # truncated responses out of the loss

    def check(self) -> None:
        super().check()
        for name in ("max_resample", "overlong_buffer_frac", "overlong_buffer_len"):
            self.at_least(name, 0)
        self.at_most("overlong_buffer_frac", 1.0)
        self.at_least("overlong_penalty", 0.0)

    def buffer_tokens(self, max_new_tokens: int) -> int:
        """L_b in tokens for responses of at most `max_new_tokens` (0: no shaping)."""
        if self.overlong_buffer_len:
            return self.overlong_buffer_len
        return round(self.overlong_buffer_frac * max_new_tokens)


def mixed_groups(correct: np.ndarray, group_size: int) -> np.ndarray:
    """Indices of the groups whose correctness is not all equal: the ones with a signal."""
    groups = np.arange(len(correct)) // group_size
    uniform = np.asarray(
        uniform_group_mask(
            jnp.asarray(correct, jnp.float32),
            jnp.asarray(groups),
            num_groups=len(correct) // group_size,
        )
    )
    return np.flatnonzero(~uniform.reshape(-1, group_size)[:, 0])


@register
class DAPO(PolicyGradient):
    name = "dapo"
    display_name = "DAPO"
    paper = "arXiv 2503.14476"
    Params = DAPOParams
    defaults = dict(
        advantage="grpo",
        clip_ratio_low=0.2,
        clip_ratio_high=0.28,
        dynamic_sampling=True,
        max_resample=9,  # verl's DAPO recipe: max_num_gen_batches = 10
        overlong_buffer_frac=0.2,  # the paper: L_b = 4096 of L_max = 20480
        overlong_penalty=1.0,
    )

    def check_run(self, config: Any) -> None:
        super().check_run(config)
        p, max_new = self.p, config.rollout.max_new_tokens
        buffer = p.buffer_tokens(max_new)
        if p.overlong_buffer_len > max_new:
            raise ValueError(
                f"config.algo.overlong_buffer_len={p.overlong_buffer_len} exceeds "
                f"rollout.max_new_tokens={max_new}: the buffer is the last L_b tokens of the limit."
            )
        if p.overlong_buffer_frac and not buffer:
            raise ValueError(
                f"config.algo.overlong_buffer_frac={p.overlong_buffer_frac} of "
                f"rollout.max_new_tokens={max_new} rounds to a buffer of 0 tokens: raise it, or "
                "set it to 0 to turn overlong shaping off."
            )

    def collect(self, draw: Callable[[int], Rollout], num_prompts: int, group_size: int):
        """Resamples until `num_prompts` groups have mixed correctness; after `max_resample`
        more rollouts, a short batch is an error, or with `ds_fill` is filled with uniform
        groups. Metrics: `ds_resamples` (rollouts added), `ds_dropped` (uniform groups left
        out), `ds_filled` (uniform groups kept to fill the batch)."""
        p, r = self.p, draw(0)
        if not p.dynamic_sampling:
            return r, {}
        tries = 0
        while len(mixed_groups(r.correct, group_size)) < num_prompts and tries < p.max_resample:
            tries += 1
            r = concat([r, draw(tries)])
        mixed = mixed_groups(r.correct, group_size)
        drawn = len(r.texts) // group_size
        if len(mixed) < num_prompts and not p.ds_fill:
            raise RuntimeError(
                f"DAPO dynamic sampling: {1 + tries} rollouts of {num_prompts} prompts gave "
                f"{len(mixed)} groups of mixed correctness, {num_prompts} needed "
                f"(algo.max_resample={p.max_resample}). The prompts are too hard or too easy "
                "for the policy: raise algo.max_resample, or set algo.ds_fill=True to fill "
                "the batch with uniform groups (zero advantage)."
            )
        uniform = np.setdiff1d(np.arange(drawn), mixed)
        keep = np.concatenate([mixed, uniform])[:num_prompts]
        filled = max(num_prompts - len(mixed), 0)
        metrics = {"ds_resamples": tries, "ds_dropped": len(uniform) - filled, "ds_filled": filled}
        return select_groups(r, keep, group_size), metrics

    def shape_rewards(self, rollout: Rollout, max_new_tokens: int) -> tuple[np.ndarray, Batch]:
        """Rewards with the overlong penalty; `in_loss` [B] (False for truncated responses)
        when overlong filtering is on."""
        p, rewards, rows = self.p, rollout.rewards, {}
        buffer = p.buffer_tokens(max_new_tokens)
        if buffer:
            rewards = rewards + np.asarray(
                overlong_penalty(
                    jnp.asarray(rollout.lengths),
                    max_len=max_new_tokens,
                    buffer_len=buffer,
                    penalty_factor=p.overlong_penalty,
                )
            )
        if p.overlong_filter:
            rows["in_loss"] = ~jnp.asarray(rollout.truncated)
        return rewards.astype(np.float32), rows

    def online_mask(self, mb: Batch) -> jax.Array:
        mask = super().online_mask(mb)
        return mask & mb["in_loss"][:, None] if "in_loss" in mb else mask
