"""Host-side verifiers for RL on verifiable rewards (see docs/verifiers.md).

``score(task, responses, references, **options)`` verifies a batch in worker processes and
returns one ``Result`` (``.reward``, ``.reason``, ``.detail``) per response, in input order;
a trainer keeps a ``Scorer`` alive across steps instead. Task modules (``math_verifier``,
``countdown``, ``code_sandbox``, ``sql``) are imported by the workers, not here, so importing
this package does not import sympy.
"""

from flowrl_jax.rewards.api import (
    DEFAULT_TIMEOUTS,
    TASK_OPTIONS,
    TASKS,
    Result,
    RewardSpec,
    Scorer,
    score,
    verify_item,
)

__all__ = [
    "DEFAULT_TIMEOUTS",
    "TASKS",
    "TASK_OPTIONS",
    "Result",
    "RewardSpec",
    "Scorer",
    "score",
    "verify_item",
]
