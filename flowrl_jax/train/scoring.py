"""The trainer's reward function: a long-lived verifier pool for the configured task."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from flowrl_jax.data.tasks import VERIFIER


def _first_char(responses, references, correct_reward: float, wrong_reward: float):
    ok = [r[:1] == ref for r, ref in zip(responses, references, strict=True)]
    rewards = np.where(ok, correct_reward, wrong_reward).astype(np.float32)
    return rewards, np.asarray(ok), ["correct" if o else "wrong" for o in ok]


@contextlib.contextmanager
def make_scorer(config: Any) -> Iterator:
    """Yields score(responses, references) -> (rewards [B], correct [B] bool, reasons)."""
    r = config.reward
    if config.task == "toy_first_char":
        yield lambda res, refs: _first_char(res, refs, r.correct, r.wrong)
        return
    from flowrl_jax.rewards import Scorer

    options: dict[str, Any] = dict(
        correct_reward=r.correct, wrong_reward=r.wrong, timeout=r.timeout_s
    )
    if config.task == "countdown":
        options["numbers_use"] = config.data.numbers_use
    with Scorer(r.num_workers or None) as scorer:

        def score(responses, references):
            results = scorer.score(VERIFIER[config.task], responses, references, **options)
            return (
                np.asarray([x.reward for x in results], np.float32),
                np.asarray([x.correct for x in results]),
                [x.reason for x in results],
            )

        yield score
