"""The batch API: ``score(task, responses, references, **options)`` and the reusable ``Scorer``.

Every item is verified in a worker process (``pool.WorkerPool``) under a per-item timeout, so a
response that hangs sympy, crashes sqlite or kills its worker costs that item its reward and
nothing else. Validation of the references happens here, in the caller's process, so a data
bug raises a clear error before any work starts. Rewards are mapped from reasons:

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
import importlib
import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flowrl_jax.rewards.pool import Outcome, WorkerPool

TASKS = ("math", "countdown", "code", "sql")
DEFAULT_TIMEOUTS = {"math": 5.0, "countdown": 2.0, "code": 20.0, "sql": 10.0}
"""Seconds per item (a whole response, all its tests for code)."""
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "math": {"tolerance": 0.0},
    "countdown": {"numbers_use": "at_most_once"},
    "code": {"partial": False, "test_timeout": 4.0, "memory_mb": 512, "output_bytes": 1 << 20},
    "sql": {"max_rows": 10_000},
}
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
WORKER_MODULES = (
    "flowrl_jax.rewards.math_verifier",
    "flowrl_jax.rewards.countdown",
    "flowrl_jax.rewards.code_sandbox",
    "flowrl_jax.rewards.sql",
)
_MODULES = dict(zip(TASKS, WORKER_MODULES, strict=True))


@dataclass(frozen=True)
class Result:
    """One response's verdict: ``reward`` and ``reason`` (correct | wrong | no_answer | timeout
    | error: ...); ``detail`` is a human-readable note for logs (what was compared, why)."""

    reward: float
    reason: str
    detail: str = ""

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


def verify_item(task: str, response: str, reference: Any, options: dict) -> tuple[str, float, str]:
    """Verify one response in the current process: ``(reason, fraction, detail)``.

    This is what the pool workers run; callable directly for debugging (no timeout then).
    """
    module = importlib.import_module(_MODULES[task])
    budget = options["timeout"]
    if task == "math":
        # Two parses and a comparison, each under math-verify's own alarm.
        reason, detail = module.verify(
            response, reference, tolerance=options["tolerance"], timeout_s=budget / 3
        )
    elif task == "countdown":
        _, reason = module.verify(response, reference, numbers_use=options["numbers_use"])
        detail = ""
    elif task == "code":
        return module.verify(
            response,
            reference,
            partial=options["partial"],
            test_timeout=options["test_timeout"],
            timeout_s=budget,
            memory_mb=options["memory_mb"],
            output_bytes=options["output_bytes"],
        )
    else:
        reason, detail = module.verify(
            response, reference, timeout_s=budget, max_rows=options["max_rows"]
        )
    return reason, float(reason == "correct"), detail


# ---------------------------------------------------------------------------------------------
# Validation (in the caller's process: a data bug is an exception, not a zero reward)
# ---------------------------------------------------------------------------------------------


def _fail(index: int, key: str, problem: str) -> ValueError:
    return ValueError(f"references[{index}][{key!r}]: {problem}")


def _check_countdown(index: int, ref: Any) -> None:
    if not isinstance(ref, dict):
        raise ValueError(
            f"references[{index}]: expected {{'numbers': [...], 'target': n}}, "
            f"got {type(ref).__name__}"
        )
    numbers_ = ref.get("numbers")
    if not isinstance(numbers_, (list, tuple)) or not all(
        isinstance(n, numbers.Integral) for n in numbers_
    ):
        raise _fail(index, "numbers", f"expected a list of ints, got {numbers_!r}")
    if not isinstance(ref.get("target"), numbers.Integral):
        raise _fail(index, "target", f"expected an int, got {ref.get('target')!r}")


def _check_code(index: int, ref: Any) -> None:
    if not isinstance(ref, dict) or not isinstance(ref.get("tests"), list) or not ref["tests"]:
        raise _fail(index, "tests", "expected a non-empty list of test dicts")
    call_style = "fn_name" in ref
    if call_style and not (isinstance(ref["fn_name"], str) and ref["fn_name"].isidentifier()):
        raise _fail(index, "fn_name", f"expected a Python identifier, got {ref['fn_name']!r}")
    for j, test in enumerate(ref["tests"]):
        where = f"tests[{j}]"
        if not isinstance(test, dict) or "output" not in test:
            raise _fail(index, where, "expected a dict with an 'output' key")
        if call_style:
            if not isinstance(test.get("args", []), list):
                raise _fail(index, where, "'args' must be a list")
            if not isinstance(test.get("kwargs", {}), dict):
                raise _fail(index, where, "'kwargs' must be a dict")
        elif not isinstance(test.get("input"), str) or not isinstance(test["output"], str):
            raise _fail(
                index,
                where,
                "stdin tests need 'input' and 'output' strings "
                "(or give the reference an 'fn_name' for call tests)",
            )


def _check_sql(index: int, ref: Any) -> None:
    if not isinstance(ref, dict):
        raise ValueError(
            f"references[{index}]: expected {{'db_path': str, 'gold': str}}, "
            f"got {type(ref).__name__}"
        )
    if not isinstance(ref.get("gold"), str) or not ref["gold"].strip():
        raise _fail(index, "gold", f"expected a SQL string, got {ref.get('gold')!r}")
    path = ref.get("db_path")
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise _fail(index, "db_path", f"no such database file: {path!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


_OPTION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "timeout": (lambda v: _is_number(v) and v > 0, "a positive number of seconds"),
    "test_timeout": (lambda v: _is_number(v) and v > 0, "a positive number of seconds"),
    "tolerance": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "numbers_use": (
        lambda v: v in ("at_most_once", "exactly_once"),
        "'at_most_once' or 'exactly_once'",
    ),
    "partial": (lambda v: isinstance(v, bool), "True or False"),
    "memory_mb": (lambda v: isinstance(v, int) and v > 0, "a positive int"),
    "output_bytes": (lambda v: isinstance(v, int) and v > 0, "a positive int"),
    "max_rows": (lambda v: isinstance(v, int) and v > 0, "a positive int"),
    "correct_reward": (_is_number, "a finite number"),
    "wrong_reward": (_is_number, "a finite number"),
}


def _check_option(name: str, value: Any) -> None:
    rule, expected = _OPTION_RULES.get(name, (lambda v: v is None or _is_number(v), "a number"))
    if not rule(value):
        raise ValueError(f"option {name}={value!r}: expected {expected}")


def _prepare(task: str, responses: Sequence[str], references: Sequence[Any], options: dict):
    """Validate everything; return the picklable per-item references and resolved options."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    if len(responses) != len(references):
        raise ValueError(
            f"got {len(responses)} responses but {len(references)} references; one each"
        )
    valid = {"timeout", *TASK_OPTIONS[task], *REWARD_OPTIONS}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for task {task!r}; valid: {sorted(valid)}")
    for name, value in options.items():
        _check_option(name, value)
    resolved = {**TASK_OPTIONS[task], "timeout": DEFAULT_TIMEOUTS[task]}
    resolved.update((k, v) for k, v in options.items() if k not in REWARD_OPTIONS)
    spec = RewardSpec(**{k: v for k, v in options.items() if k in REWARD_OPTIONS})
    for i, response in enumerate(responses):
        if not isinstance(response, str):
            raise TypeError(f"responses[{i}] must be a str, got {type(response).__name__}")
    refs = list(references)
    for i, ref in enumerate(refs):
        if task == "math":
            if isinstance(ref, numbers.Number) and not isinstance(ref, bool):
                refs[i] = str(ref)
            elif not isinstance(ref, str) or not ref.strip():
                raise ValueError(
                    f"references[{i}]: expected the answer as a non-empty string, got {ref!r}"
                )
        elif task == "countdown":
            _check_countdown(i, ref)
        elif task == "code":
            _check_code(i, ref)
        else:
            _check_sql(i, ref)
            refs[i] = {"db_path": os.fspath(ref["db_path"]), "gold": ref["gold"]}
    return refs, resolved, spec


def _to_result(outcome: Outcome, spec: RewardSpec, partial: bool, timeout: float) -> Result:
    if outcome.status == "ok":
        reason, fraction, detail = outcome.value
        return Result(spec.reward(reason, fraction, partial), reason, detail)
    if outcome.status == "timeout":
        return Result(spec.reward("timeout"), "timeout", f"killed after {timeout:g} s")
    if outcome.status == "died":
        reason = "error: worker died"
        return Result(spec.reward(reason), reason, f"exit code {outcome.value}")
    reason = f"error: {outcome.value}"
    return Result(spec.reward(reason), reason)


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
                preload=WORKER_MODULES,
            )

    @property
    def replaced_workers(self) -> int:
        """Workers that died or were killed so far (a health metric worth logging)."""
        return self._pool.replaced if self._pool is not None else 0

    def score(
        self, task: str, responses: Sequence[str], references: Sequence[Any], **options: Any
    ) -> list[Result]:
        """Verify each response against its reference; results in input order."""
        refs, resolved, spec = _prepare(task, responses, references, {**self._defaults, **options})
        partial = bool(resolved.get("partial", False))
        timeout = resolved["timeout"]
        items = [(task, r, ref, resolved) for r, ref in zip(responses, refs, strict=True)]
        if self._pool is None:
            outcomes = [_in_process(item) for item in items]
        else:
            # A program run costs far more than a pipe round trip: no chunking, best balance.
            chunksize = 1 if task == "code" else None
            outcomes = self._pool.map(
                verify_item, items, timeout=timeout + KILL_GRACE_S, chunksize=chunksize
            )
        return [_to_result(o, spec, partial, timeout) for o in outcomes]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _default_workers() -> int:
    return os.cpu_count() or 1


def _in_process(item: tuple) -> Outcome:
    try:
        return Outcome("ok", verify_item(*item))
    except Exception as e:
        return Outcome("error", f"{type(e).__name__}: {e}")


_DEFAULT: Scorer | None = None


def score(
    task: str,
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
