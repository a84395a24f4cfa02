"""A run's reward function: a long-lived verifier pool for the configured task.

`make_scorer(config)` yields `score(responses, references) -> Scores`, with the task's options
from the run's `data` section and the rewards per reason from its `reward` section.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

log = logging.getLogger("flowrl_jax")


class Scores(NamedTuple):
    """Verdicts of a batch: rewards [B] float32, correct [B] bool, reasons (one per item),
    failed [B] bool (the verifier itself failed on the item)."""

    rewards: np.ndarray
    correct: np.ndarray
    reasons: list[str]
    failed: np.ndarray


ScoreFn = Callable[[Sequence[str], Sequence[Any]], Scores]


class TaskScorer:
    """`score(responses, references) -> Scores` for one task, with fixed options."""

    def __init__(self, task: Any, scorer: Any, options: dict[str, Any]):
        self.task, self.scorer, self.options = task, scorer, options

    def __call__(self, responses: Sequence[str], references: Sequence[Any]) -> Scores:
        results = self.scorer.score(self.task, responses, references, **self.options)
        return Scores(
            np.asarray([x.reward for x in results], np.float32),
            np.asarray([x.correct for x in results], bool),
            [x.reason for x in results],
            np.asarray([x.failed for x in results], bool),
        )

    @property
    def replaced_workers(self) -> int:
        """Verifier workers that died or were killed so far."""
        return self.scorer.replaced_workers


@contextlib.contextmanager
def make_scorer(config: Any) -> Iterator[TaskScorer]:
    """Yields the score function of `config.task`, its workers alive until the block ends."""
    from flowrl_jax.rewards import Scorer
    from flowrl_jax.tasks import get_task

    task = get_task(config.task)
    r = config.reward
    options = dict(
        correct_reward=r.correct,
        wrong_reward=r.wrong,
        timeout=r.timeout_s,
        **task.scoring_options(config.data),
    )
    if r.unsafe_in_process:
        log.warning(
            "reward.unsafe_in_process=True: model outputs are verified in this process, with "
            "no sandbox and no timeout; a hanging or malicious response can stop the run."
        )
    with Scorer(0 if r.unsafe_in_process else r.num_workers or None) as scorer:
        yield TaskScorer(task, scorer, options)


def reason_counts(reasons: Sequence[str]) -> dict[str, int]:
    """How many items got each reason; every `error: ...` counts as `error`."""
    return dict(collections.Counter("error" if r.startswith("error") else r for r in reasons))
