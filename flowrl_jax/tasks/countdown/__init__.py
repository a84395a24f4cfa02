"""Countdown: reach a target with + - * / over given numbers (the embedded task).

Problems come from the exhaustive generator (`generator.py`: disjoint splits, every canonical
solution of each problem), or from a file with `numbers` and `target` columns (the prompt from
`data.prompt_field` when present, else the compact format). The verifier parses the answer
exactly (`flowrl_jax.rewards.countdown`); two answers are the same solution when their
expressions agree up to commutativity and associativity. The base policy the demo starts from
is trained on this task's solutions (`base_policy.py`).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from flowrl_jax.data.problems import Problem, field
from flowrl_jax.tasks.base import BadReference, Option, Task, Verdict, register_task

NUMBERS_USE = ("at_most_once", "exactly_once")


def problems_from_rows(rows: Any) -> list[Problem]:
    """Rows of a generated split (`generator.FEATURES`) as problems with their solutions."""
    return [
        Problem(
            r["prompt"], {"numbers": r["numbers"], "target": r["target"]}, tuple(r["solutions"])
        )
        for r in rows
    ]


class Countdown(Task):
    name = "countdown"
    timeout = 2.0
    options = {
        "numbers_use": Option(
            "at_most_once", lambda v: v in NUMBERS_USE, "'at_most_once' or 'exactly_once'"
        )
    }
    worker_modules = ("flowrl_jax.rewards.countdown",)

    def generate(self, data: Any, split: str) -> list[Problem]:
        from flowrl_jax.tasks.countdown.generator import generate_splits

        splits = generate_splits(
            data.seed,
            data.num_train,
            0,
            data.num_eval,
            num_numbers=(data.countdown_numbers,),
            max_number=data.countdown_max_number,
            numbers_use=data.numbers_use,
        )
        return problems_from_rows(splits["train" if split == "train" else "test"])

    def reference_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Any:
        return {"numbers": field(row, "numbers", where), "target": field(row, "target", where)}

    def prompt_from_row(self, row: Mapping[str, Any], reference: Any, data: Any, where: str) -> str:
        from flowrl_jax.tasks.countdown.generator import format_prompt

        return row.get(data.prompt_field) or format_prompt(
            reference["numbers"], reference["target"]
        )

    def check_reference(self, reference: Any) -> Any:
        if not isinstance(reference, Mapping):
            raise BadReference(
                f"expected {{'numbers': [...], 'target': n}}, got {type(reference).__name__}"
            )
        numbers = reference.get("numbers")
        try:
            numbers = [operator.index(n) for n in numbers]
        except TypeError:
            raise BadReference(f"expected a list of ints, got {numbers!r}", "numbers") from None
        try:
            target = operator.index(reference.get("target"))
        except TypeError:
            raise BadReference(
                f"expected an int, got {reference.get('target')!r}", "target"
            ) from None
        return {"numbers": numbers, "target": target}

    def scoring_options(self, data: Any) -> dict[str, Any]:
        return {"numbers_use": data.numbers_use}

    def verify(self, response: str, reference: Any, *, timeout: float, **options: Any) -> Verdict:
        from flowrl_jax.rewards.countdown import verify

        _, reason = verify(response, reference, numbers_use=options["numbers_use"])
        return Verdict.of(reason)

    def canonical(self, response: str, reference: Any) -> str | None:
        """The canonical form of the answer's expression (a trailing `= target` ignored)."""
        from flowrl_jax.rewards.countdown import canonical_form, extract_expression

        expression = extract_expression(response, reference["target"])
        if expression is None:
            return None
        try:
            return canonical_form(expression)
        except ValueError:  # not an expression of the grammar
            return None


COUNTDOWN = register_task(Countdown())
