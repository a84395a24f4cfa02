"""DAPO (Yu et al., arXiv 2503.14476): clip-higher, dynamic sampling, overlong shaping.

Group/group advantages, clip-higher (ε_low 0.2, ε_high 0.28), token-mean, no KL. Dynamic
sampling drops groups whose correctness is all equal (they carry no signal) and samples again,
a bounded number of times; overlong shaping penalises responses within L_b tokens of the limit,
and overlong filtering takes truncated responses out of the loss (docs/algorithms.md §2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_jax.algos.base import register
from flowrl_jax.algos.policy_gradient import PolicyGradient, PolicyGradientParams
from flowrl_jax.losses import overlong_penalty, uniform_group_mask
from flowrl_jax.rollout import Rollout, concat, select_groups


@dataclasses.dataclass(frozen=True)
class DAPOParams(PolicyGradientParams):
    dynamic_sampling: bool = False
    max_resample: int = 3  # extra rollouts a step may draw to fill its batch
    overlong_buffer: int = 0  # L_b in tokens; 0 = no overlong shaping
    overlong_penalty: float = 1.0
    overlong_filter: bool = False  # truncated responses out of the loss

    def check(self) -> None:
        super().check()
        for name in ("max_resample", "overlong_buffer", "overlong_penalty"):
            self.at_least(name, 0)


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
        max_resample=3,
        overlong_buffer=4,
        overlong_penalty=1.0,
    )

    def collect(self, draw: Callable[[int], Rollout], num_prompts: int, group_size: int):
        """Resamples until `num_prompts` groups have mixed correctness or the retries run out;
        a short batch is filled with uniform groups."""
        r = draw(0)
        if not self.p.dynamic_sampling:
            return r, {}
        tries = 0
        while (
            len(mixed_groups(r.correct, group_size)) < num_prompts and tries < self.p.max_resample
        ):
            tries += 1
            r = concat([r, draw(tries)])
        mixed = mixed_groups(r.correct, group_size)
        uniform = np.setdiff1d(np.arange(len(r.texts) // group_size), mixed)
        keep = np.concatenate([mixed, uniform])[:num_prompts]
        metrics = {"ds_resamples": tries, "ds_filled": max(num_prompts - len(mixed), 0)}
        return select_groups(r, keep, group_size), metrics

    def shape_rewards(self, rollout: Rollout, max_new_tokens: int) -> tuple[np.ndarray, jax.Array]:
        p, rewards, mask = self.p, rollout.rewards, rollout.mask
        if p.overlong_buffer:
            rewards = rewards + np.asarray(
                overlong_penalty(
                    jnp.asarray(rollout.lengths),
                    max_len=max_new_tokens,
                    buffer_len=p.overlong_buffer,
                    penalty_factor=p.overlong_penalty,
                )
            )
        if p.overlong_filter:
            mask = mask & ~jnp.asarray(rollout.truncated)[:, None]
        return rewards.astype(np.float32), mask
