"""Math: a final answer (`\\boxed{...}` or an "Answer:" line) checked symbolically.

Rows carry the prompt in `data.prompt_field` and the reference answer in `data.answer_field`
(e.g. DAPO-Math's `prompt` / `answer`); the verifier is `flowrl_jax.rewards.math_verifier`.
"""

from __future__ import annotations

import numbers
from typing import Any

from flowrl_jax.tasks.base import BadReference, Option, Task, Verdict, is_number, register_task


class Math(Task):
    name = "math"
    timeout = 5.0
    options = {"tolerance": Option(0.0, lambda v: is_number(v) and v >= 0, "a number >= 0")}
    worker_modules = ("flowrl_jax.rewards.math_verifier",)

    def check_reference(self, reference: Any) -> Any:
        if isinstance(reference, numbers.Number) and not isinstance(reference, bool):
            return str(reference)
        if not isinstance(reference, str) or not reference.strip():
            raise BadReference(f"expected the answer as a non-empty string, got {reference!r}")
        return reference

    def verify(self, response: str, reference: Any, *, timeout: float, **options: Any) -> Verdict:
        from flowrl_jax.rewards.math_verifier import verify

        # Two parses and a comparison, each under math-verify's own alarm.
        reason, detail = verify(
            response, reference, tolerance=options["tolerance"], timeout_s=timeout / 3
        )
        return Verdict.of(reason, detail)


MATH = register_task(Math())
