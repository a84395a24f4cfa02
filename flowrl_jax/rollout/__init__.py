"""Rollouts: sample -> detokenise -> score -> a `Rollout`, for training and evaluation alike."""

from flowrl_jax.rollout.generate import (
    Rollout,
    SamplingOptions,
    concat,
    generate,
    generate_all,
    select_groups,
    stop_ids,
)
from flowrl_jax.rollout.scoring import ScoreFn, Scores, TaskScorer, make_scorer, reason_counts

__all__ = [
    "Rollout",
    "SamplingOptions",
    "ScoreFn",
    "Scores",
    "TaskScorer",
    "concat",
    "generate",
    "generate_all",
    "make_scorer",
    "reason_counts",
    "select_groups",
    "stop_ids",
]
