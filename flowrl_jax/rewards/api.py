"""The batch API: ``score(task, responses, references, **options)`` and the reusable ``Scorer``.

Every item is verified in a worker process (``pool.WorkerPool``) under a per-item timeout, so a
response that hangs sympy, crashes sqlite or kills its worker costs that item its reward and
nothing else. A task (``flowrl_jax.tasks``) supplies the verifier, its options and timeout, and
the schema of its references, which is checked here, in the caller's process, so a data bug
raises a clear error before any work starts. Rewards are mapped from reasons:

=========== ======================================================
reason      reward
=========== ======================================================
correct     ``correct_reward`` (1.0)
wrong       ``wrong_reward`` (0.0; FlowRL's DAPO reward uses -1)
no_answer   ``no_answer_reward``, default ``wrong_reward``
timeout     ``timeout_reward``, default ``wrong_reward``
error: ...  ``error_reward``, default ``wrong_reward``
=========== ======================================================

With ``partial=True`` (code), a response that passes a fraction f of the tests gets
``wrong_reward + f * (correct_reward - wrong_reward)``.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowrl_jax.rewards.pool import Outcome, WorkerPool

REWARD_OPTIONS = (
    "correct_reward",
    "wrong_reward",
    "no_answer_reward",
    "timeout_reward",
    "error_reward",
)
KILL_GRACE_S = 1.0
"""The pool kills a worker this long after the item's own budget (verifiers stop themselves
at the budget; the kill is for what no Python code can interrupt)."""


@dataclass(frozen=True)
class Result:
    """One response's verdict: ``reward`` and ``reason`` (correct | wrong | no_answer | timeout
    | error: ...); ``detail`` is a human-readable note for logs (what was compared, why).
    ``failed`` marks a verifier that failed on the item (it raised, or its worker died): not
    the response's fault, unlike an answer that breaks the task's rules."""

    reward: float
    reason: str
    detail: str = ""
    failed: bool = False

    @property
    def correct(self) -> bool:
        return self.reason == "correct"


@dataclass(frozen=True)
class RewardSpec:
    """Reward per reason; None falls back to ``wrong_reward``."""

    correct_reward: float = 1.0
    wrong_reward: float = 0.0
    no_answer_reward: float | None = None
    timeout_reward: float | None = None
    error_reward: float | None = None

    def reward(self, reason: str, fraction: float = 0.0, partial: bool = False) -> float:
        if reason == "correct":
            return float(self.correct_reward)
        if partial and reason in ("wrong", "timeout"):
            return self.wrong_reward + fraction * (self.correct_reward - self.wrong_reward)
        kind = "error" if reason.startswith("error") else reason
        value = getattr(self, f"{kind}_reward", None)
        return float(self.wrong_reward if value is None else value)


def _get_task(task: Any):
    from flowrl_jax.tasks import Task, get_task

    return task if isinstance(task, Task) else get_task(task)


def verify_item(task: Any, response: str, reference: Any, options: dict) -> tuple:
    """Verify one response in the current process: the task's ``Verdict`` (reason, fraction,
    detail). This is what the pool workers run (the task travels pickled, by its class, so a
    task defined in a user's own module needs no registration in the workers); callable
    directly for debugging (no timeout then)."""
    return tuple(_get_task(task).verify(response, reference, **options))


# ---------------------------------------------------------------------------------------------
# Validation (in the caller's process: a data bug is an exception, not a zero reward)
# ---------------------------------------------------------------------------------------------


def _check_options(task, options: dict) -> tuple[dict, RewardSpec]:
    """The task's options with `options` applied and checked, and the reward per reason."""
    from flowrl_jax.tasks import Option
    from flowrl_jax.tasks.base import is_number, positive_number

    rules: dict[str, Option] = {"timeout": positive_number(task.timeout), **task.options}
    for name in REWARD_OPTIONS:
        rules[name] = Option(None, lambda v: v is None or is_number(v), "a finite number")
    rules["correct_reward"] = rules["wrong_reward"] = Option(None, is_number, "a finite number")
    unknown = sorted(set(options) - set(rules))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for task {task.name!r}; valid: {sorted(rules)}"
        )
    for name, value in options.items():
        if not rules[name].check(value):
            raise ValueError(f"option {name}={value!r}: expected {rules[name].expected}")
    resolved = {name: rule.default for name, rule in rules.items() if name not in REWARD_OPTIONS}
    resolved.update((k, v) for k, v in options.items() if k not in REWARD_OPTIONS)
    spec = RewardSpec(**{k: v for k, v in options.items() if k in REWARD_OPTIONS})
    return resolved, spec


def _prepare(task, responses: Sequence[str], references: Sequence[Any], options: dict):
    """Validate everything; return the picklable per-item references and resolved options."""
    from flowrl_jax.tasks import BadReference

    if len(responses) != len(references):
        raise ValueError(
            f"got {len(responses)} responses but {len(references)} references; one each"
        )
    resolved, spec = _check_options(task, options)
    for i, response in enumerate(responses):
        if not isinstance(response, str):
            raise TypeError(f"responses[{i}] must be a str, got {type(response).__name__}")
    refs = []
    for i, ref in enumerate(references):
        try:
            refs.append(task.check_reference(ref))
        except BadReference as e:
            raise ValueError(e.at(f"references[{i}]")) from None
    return refs, resolved, spec


def _to_result(outcome: Outcome, spec: RewardSpec, partial: bool, timeout: float) -> Result:
    if outcome.status == "ok":
        reason, fraction, detail = outcome.value
        return Result(spec.reward(reason, fraction, partial), reason, detail)
    if outcome.status == "timeout":
        return Result(spec.reward("timeout"), "timeout", f"killed after {timeout:g} s")
    if outcome.status == "died":
        reason = "error: worker died"
        return Result(spec.reward(reason), reason, f"exit code {outcome.value}", failed=True)
    reason = f"error: {outcome.value}"
    return Result(spec.reward(reason), reason, failed=True)


class Scorer:
    """A long-lived pool of verifier workers; use as a context manager or ``close()`` it.

    ``num_workers=None`` uses every core; ``num_workers=0`` verifies in the calling process
    (no isolation, no timeout: for debugging and for the single-process benchmark baseline).
    ``memory_mb`` caps each worker's address space; ``**defaults`` are options applied to
    every ``score`` call (per-call options override them).
    """

    def __init__(
        self,
        num_workers: int | None = None,
        *,
        memory_mb: int | None = 4096,
        start_method: str = "forkserver",
        **defaults: Any,
    ):
        self._defaults = defaults
        self.num_workers = _default_workers() if num_workers is None else num_workers
        self._pool = None
        if self.num_workers > 0:
            self._pool = WorkerPool(
                self.num_workers,
                memory_mb=memory_mb,
                start_method=start_method,
                preload=_worker_modules(),
            )

    @property
    def replaced_workers(self) -> int:
        """Workers that died or were killed so far (a health metric worth logging)."""
        return self._pool.replaced if self._pool is not None else 0

    def score(
        self, task: Any, responses: Sequence[str], references: Sequence[Any], **options: Any
    ) -> list[Result]:
        """Verify each response against its reference; results in input order.

        ``task`` is a task name (``flowrl_jax.tasks.task_names()``) or a registered task.
        """
        task = _get_task(task)
        refs, resolved, spec = _prepare(task, responses, references, {**self._defaults, **options})
        partial = bool(resolved.get("partial", False))
        timeout = resolved["timeout"]
        items = [(task, r, ref, resolved) for r, ref in zip(responses, refs, strict=True)]
        if self._pool is None:
            outcomes = [_in_process(item) for item in items]
        else:
            outcomes = self._pool.map(
                verify_item, items, timeout=timeout + KILL_GRACE_S, chunksize=task.chunksize
            )
        return [_to_result(o, spec, partial, timeout) for o in outcomes]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _worker_modules() -> list[str]:
    """What the fork server imports once: the task registry and every task's verifier."""
    from flowrl_jax.tasks import get_task, task_names

    return ["flowrl_jax.tasks", *(m for n in task_names() for m in get_task(n).worker_modules)]


def _default_workers() -> int:
    return os.cpu_count() or 1


def _in_process(item: tuple) -> Outcome:
    try:
        return Outcome("ok", verify_item(*item))
    except Exception as e:
        return Outcome("error", f"{type(e).__name__}: {e}")


_DEFAULT: Scorer | None = None


def score(
    task: Any,
    responses: Sequence[str],
    references: Sequence[Any],
    *,
    num_workers: int | None = None,
    **options: Any,
) -> list[Result]:
    """Verify a batch with a module-level ``Scorer`` created on first use (and re-created if
    ``num_workers`` changes); closed at interpreter exit. Trainers should own a ``Scorer``."""
    global _DEFAULT
    if not responses and not references:
        return []
    wanted = _default_workers() if num_workers is None else num_workers
    if _DEFAULT is None or _DEFAULT.num_workers != wanted:
        if _DEFAULT is not None:
            _DEFAULT.close()
        _DEFAULT = Scorer(wanted)
    return _DEFAULT.score(task, responses, references, **options)


@atexit.register
def _close_default() -> None:
    if _DEFAULT is not None:
        _DEFAULT.close()
