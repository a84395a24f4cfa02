"""SQL: execution match of the response's query against a gold query (`rewards.sql`).

References are `{"db_path": str, "gold": str}` (a SQLite file, e.g. a BIRD or Spider
database). Dataset rows carry the gold query in `data.answer_field` (default `gold`; BIRD's is
`SQL`, Spider's `query`) and the database as a `db_path` column or, BIRD- and Spider-style, a
`db_id` resolved under `data.db_root` as `<db_root>/<db_id>/<db_id>.sqlite` (a relative
`db_path` is resolved under `data.db_root` too). `data.prompt_template` may use `{schema}`: the
database's CREATE statements.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Mapping
from typing import Any

from flowrl_jax.data import DataError, field
from flowrl_jax.tasks.base import BadReference, Task, Verdict, positive_int, register_task


class SQL(Task):
    name = "sql"
    timeout = 10.0
    options = {"max_rows": positive_int(10_000)}
    worker_modules = ("flowrl_jax.rewards.sql",)

    answer_column = "gold"

    def reference_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Any:
        gold = field(row, data.answer_field or self.answer_column, where)
        return {"db_path": database_path(row, data.db_root, where), "gold": gold}

    def template_fields(self, reference: Any, data: Any, where: str) -> dict[str, Any]:
        if "{schema}" not in data.prompt_template:
            return {}
        try:
            return {"schema": schema(reference["db_path"])}
        except DataError as e:
            raise DataError(f"{where}: {e}") from None

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


def database_path(row: Mapping[str, Any], db_root: str, where: str) -> Any:
    """The row's `db_path` (under `db_root` when relative), else
    `<db_root>/<db_id>/<db_id>.sqlite`."""
    path = row.get("db_path")
    if path is None and "db_id" in row:
        if not db_root:
            raise DataError(
                f"{where} names its database by db_id={row['db_id']!r}: set data.db_root to "
                "the directory holding <db_id>/<db_id>.sqlite (BIRD's dev_databases, Spider's "
                "database)."
            )
        return os.path.join(db_root, str(row["db_id"]), f"{row['db_id']}.sqlite")
    if path is None:
        field(row, "db_path", where)  # raises, naming the row's fields
    if isinstance(path, str) and db_root and not os.path.isabs(path):
        return os.path.join(db_root, path)
    return path


@functools.lru_cache(maxsize=64)
def schema(db_path: str) -> str:
    """The CREATE statements of a SQLite database (opened read-only), one per line."""
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as e:
        raise DataError(f"{db_path}: cannot read its schema ({e}); is it a SQLite file?") from None
    return "\n".join(f"{sql};" for (sql,) in rows)


SQL_TASK = register_task(SQL())
