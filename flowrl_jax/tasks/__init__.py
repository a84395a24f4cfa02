"""Tasks by name: where problems come from, how references and responses are checked.

`get_task(name)` returns the task object (`tasks.base.Task`); `task_names()` lists them. Each
task is one module of this package; importing the package registers them all (cheaply: the
verifiers and generators are imported when first used).
"""

from flowrl_jax.tasks import code, countdown, math, sql, toy
from flowrl_jax.tasks.base import (
    BadReference,
    Option,
    Task,
    Verdict,
    get_task,
    register_task,
    task_names,
)

__all__ = [
    "BadReference",
    "Option",
    "Task",
    "Verdict",
    "code",
    "countdown",
    "get_task",
    "math",
    "register_task",
    "sql",
    "task_names",
    "toy",
]
