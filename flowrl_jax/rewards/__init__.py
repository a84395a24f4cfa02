"""Host-side verification for RL on verifiable rewards (see docs/verifiers.md).

``score(task, responses, references, **options)`` verifies a batch in worker processes and
returns one ``Result`` (``.reward``, ``.reason``, ``.detail``, ``.correct``) per response, in
input order; a trainer keeps a ``Scorer`` alive across steps instead. The tasks and their
verifiers are registered in ``flowrl_jax.tasks``; the verifier implementations here
(``math_verifier``, ``countdown``, ``code_sandbox``, ``sql``) are imported by the workers, not
by this package, so importing it does not import sympy.
"""

from flowrl_jax.rewards.api import Result, RewardSpec, Scorer, score, verify_item

__all__ = ["Result", "RewardSpec", "Scorer", "score", "verify_item"]
