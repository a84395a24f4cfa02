"""`toy_first_char`: a synthetic sanity task for tests and notebooks.

Prompts are three random digits and a colon; a response is correct when it starts with "1".
A random policy scores about 1/vocab, and any algorithm that learns at all solves it in a few
dozen steps, which is what the trainer's tests check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowrl_jax.data.problems import Problem
from flowrl_jax.tasks.base import Task, Verdict, register_task


class FirstChar(Task):
    name = "toy_first_char"
    timeout = 1.0

    def generate(self, data: Any, split: str) -> list[Problem]:
        rng = np.random.default_rng([data.seed, split == "train"])
        n = data.num_train if split == "train" else data.num_eval
        return [Problem("".join(map(str, rng.integers(0, 10, 3))) + ":", "1") for _ in range(n)]

    def verify(self, response: str, reference: Any, *, timeout: float, **options: Any) -> Verdict:
        return Verdict.of("correct" if response[:1] == reference else "wrong")

    def canonical(self, response: str, reference: Any) -> str | None:
        return response[:1] or None


TOY = register_task(FirstChar())
