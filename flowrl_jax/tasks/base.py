"""What a task is: its problems, its reference schema, its verifier and its canonical answers.

A task module subclasses `Task` and registers one instance. Everything about the task lives
there, so adding one is one file:

- `generate` (embedded problems) or `reference_from_row` and `prompt_from_row` (a dataset
  row; `template_fields` adds names that `data.prompt_template` may use);
- `check_reference`: the reference's schema, checked in the caller's process before any work;
- `verify`: the verdict on one response, run inside a verifier worker (`flowrl_jax.rewards`),
  returning one `Verdict` whatever the task;
- `timeout`, `options` (with their checks) and `worker_modules` (imported once per worker);
- `canonical`: the answer up to the task's notion of "the same solution", for diversity.

This module imports nothing heavy: verifier workers import it to find the task by name.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

from flowrl_jax.data import DataError, Problem, build_prompt, field, read_rows

log = logging.getLogger("flowrl_jax")

ON_BAD_ROW = ("error", "skip")
"""`data.on_bad_row`: refuse a dataset with any unusable row, or drop those rows (counted)."""


class Verdict(NamedTuple):
    """One response's verdict.

    reason: ``correct`` | ``wrong`` | ``no_answer`` | ``timeout`` | ``error: <why>``;
    fraction: the share of tests passed (partial credit), 1.0 when correct;
    detail: what was compared, for logs.
    """

    reason: str
    fraction: float = 0.0
    detail: str = ""

    @classmethod
    def of(cls, reason: str, detail: str = "") -> Verdict:
        """A pass/fail verdict: fraction 1 exactly when correct."""
        return cls(reason, float(reason == "correct"), detail)


class BadReference(ValueError):
    """A reference that breaks the task's schema; `key` names the offending part, if one."""

    def __init__(self, problem: str, key: str | None = None):
        self.key, self.problem = key, problem
        super().__init__(self.at("reference"))

    def at(self, where: str) -> str:
        """The message for the reference at `where`, e.g. "references[3]['target']: ..."."""
        return f"{where}{'' if self.key is None else f'[{self.key!r}]'}: {self.problem}"


@dataclasses.dataclass(frozen=True)
class Option:
    """A verifier option: its default and what a valid value is."""

    default: Any
    check: Callable[[Any], bool]
    expected: str


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def positive_number(default: float) -> Option:
    return Option(default, lambda v: is_number(v) and v > 0, "a positive number")


def positive_int(default: int) -> Option:
    return Option(
        default,
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive int",
    )


class Task:
    """Base class of a task; see the module docstring. Subclasses set the class attributes."""

    name: ClassVar[str]
    timeout: ClassVar[float]
    """Seconds per item (a whole response, all its tests for code)."""
    options: ClassVar[Mapping[str, Option]] = {}
    worker_modules: ClassVar[tuple[str, ...]] = ()
    """Modules a verifier worker imports once (the fork server preloads them)."""
    chunksize: ClassVar[int | None] = None
    """Items sent to a worker at once; None sizes chunks by the measured cost per item, 1 suits
    verifiers that run a program (a run costs far more than a pipe round trip)."""

    # ------------------------------------------------------------------ problems

    def generate(self, data: Any, split: str) -> list[Problem]:
        """The embedded problems of `split` ("train" | "eval"); tasks without any need a file."""
        key = "train_path" if split == "train" else "eval_path"
        raise DataError(
            f"task {self.name!r} needs a local dataset: set data.{key} to a .jsonl/.parquet file."
        )

    answer_column: ClassVar[str] = "answer"
    """The reference's column when `data.answer_field` is empty."""

    def reference_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Any:
        """The reference of one dataset row; `where` ("source: row i") goes into errors."""
        return field(row, data.answer_field or self.answer_column, where)

    def prompt_from_row(
        self, row: Mapping[str, Any], reference: Any, data: Any, where: str
    ) -> str | list[dict[str, str]]:
        """The row's prompt (`data.prompt_field`), with the template and system prompt."""
        value = field(row, data.prompt_field, where)
        return build_prompt(value, row, data, where, self.template_fields(reference, data, where))

    def template_fields(self, reference: Any, data: Any, where: str) -> dict[str, Any]:
        """Names besides the row's fields that `data.prompt_template` may use."""
        return {}

    def problems(self, data: Any, split: str) -> list[Problem]:
        """The problems of `split`: the generator when no dataset is configured, else the
        dataset's rows, every one checked now (reference schema and prompt), before any work.

        An unusable row is refused with its row number and field: with `data.on_bad_row`
        `error` the first few are listed and nothing is loaded; with `skip` they are dropped
        and counted in a warning.
        """
        path = data.train_path if split == "train" else data.eval_path
        if not path:
            return self.generate(data, split)
        rows = read_rows(path, default_split="train" if split == "train" else "test")
        problems, refused = [], []
        for i, row in enumerate(rows):
            try:
                problems.append(self.problem_from_row(row, data, f"{path}: row {i}"))
            except DataError as e:
                refused.append(str(e).removeprefix(f"{path}: ").rstrip("."))
        if refused:
            shown = "; ".join(refused[:3]) + (
                f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
            )
            summary = f"{path}: {len(refused)} of {len(rows)} rows refused ({shown})"
            if data.on_bad_row == "error" or not problems:
                raise DataError(
                    f"{summary}. Fix those rows, or set data.on_bad_row=skip to drop them."
                )
            log.warning("%s; data.on_bad_row=skip dropped them.", summary)
        return problems

    def problem_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Problem:
        """One row as a problem; a DataError names `where` and the field at fault."""
        try:
            reference = self.check_reference(self.reference_from_row(row, data, where))
        except BadReference as e:
            raise DataError(e.at(f"{where}: reference")) from None
        return Problem(self.prompt_from_row(row, reference, data, where), reference)

    # ------------------------------------------------------------------ verification

    def check_reference(self, reference: Any) -> Any:
        """The reference as the verifier receives it (picklable); raises `BadReference`."""
        return reference

    def scoring_options(self, data: Any) -> dict[str, Any]:
        """Verifier options that a run's `data` section decides (e.g. Countdown's rules)."""
        return {}

    def verify(self, response: str, reference: Any, *, timeout: float, **options: Any) -> Verdict:
        """The verdict on `response`; runs in a verifier worker (no timeout of its own there)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ diversity

    def canonical(self, response: str, reference: Any) -> str | None:
        """The answer up to what makes two solutions the same; None when there is none."""
        return response.strip() or None


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is already registered")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task registered as `name`; a ValueError lists the valid names."""
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(task_names())}") from None


def task_names() -> tuple[str, ...]:
    return tuple(sorted(_TASKS))
