"""SQL: execution match of the response's query against a gold query (`rewards.sql`).

References are `{"db_path": str, "gold": str}` (a SQLite file, e.g. a BIRD or Spider
database); dataset rows carry `db_path` and `gold` columns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flowrl_jax.data.problems import field
from flowrl_jax.tasks.base import BadReference, Task, Verdict, positive_int, register_task


class SQL(Task):
    name = "sql"
    timeout = 10.0
    options = {"max_rows": positive_int(10_000)}
    worker_modules = ("flowrl_jax.rewards.sql",)

    def reference_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Any:
        return {"db_path": field(row, "db_path", where), "gold": field(row, "gold", where)}

    def check_reference(self, reference: Any) -> Any:
        if not isinstance(reference, Mapping):
            raise BadReference(
                f"expected {{'db_path': str, 'gold': str}}, got {type(reference).__name__}"
            )
        gold = reference.get("gold")
        if not isinstance(gold, str) or not gold.strip():
            raise BadReference(f"expected a SQL string, got {gold!r}", "gold")
        path = reference.get("db_path")
        if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
            raise BadReference(f"no such database file: {path!r}", "db_path")
        return {"db_path": os.fspath(path), "gold": gold}

    def verify(self, response: str, reference: Any, *, timeout: float, **options: Any) -> Verdict:
        """Raises when the gold query itself fails: a data bug, not the response's fault."""
        from flowrl_jax.rewards.sql import verify

        reason, detail = verify(response, reference, timeout_s=timeout, **options)
        if reason.startswith("error:"):
            raise RuntimeError(reason.removeprefix("error: "))
        return Verdict.of(reason, detail)


SQL_TASK = register_task(SQL())
