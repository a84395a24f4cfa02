"""SQL (BIRD / Spider execution match, as in DPH-RL): run predicted and gold SQL, compare results.

The query is the last ```sql fenced block (or last untagged block, or the whole response when
it starts with SELECT/WITH). Both queries run in this (worker) process on a SQLite connection
that is

- opened read-only (``mode=ro`` URI), with ``ATTACH`` disabled (``SQLITE_LIMIT_ATTACHED = 0``);
- guarded by an authorizer that allows only reading (SELECT, column reads, functions,
  recursive CTEs): writes, DDL, PRAGMA, ATTACH, VACUUM INTO, transactions are refused;
- limited in time by a progress handler (abort after ``timeout_s``) and in result size by a
  row cap; Python's sqlite3 runs one statement per call, so ``SELECT 1; DROP ...`` is an error.

Results are compared as multisets of rows (order-insensitive) unless the gold query has a
top-level ``ORDER BY``, then as lists. Floats are rounded to 9 decimals first. Column order
matters (BIRD's convention).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_SQL_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
_PROGRESS_STEPS = 1000
_MAX_SQL_CHARS = 100_000


class QueryTimeout(Exception):
    """The query ran past its time limit."""


class TooManyRows(Exception):
    """The query returned more rows than the cap."""


def extract_sql(response: str) -> str | None:
    """The SQL query in ``response`` (see module doc), or None."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(response)]
    tagged = [body for tag, body in blocks if tag == "sql"]
    untagged = [body for tag, body in blocks if tag == ""]
    query = (tagged or untagged or [None])[-1]
    if query is None and _SQL_START.match(response):
        query = response
    if query is None:
        return None
    query = query.strip().rstrip(";").strip()
    return query or None


def _authorize(action: int, *_args) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


def _normalise(row: tuple) -> tuple:
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)


def execute(db_path: str, query: str, *, timeout_s: float, max_rows: int) -> list[tuple]:
    """Rows of ``query`` on a read-only connection; QueryTimeout, TooManyRows, sqlite3.Error."""
    if len(query) > _MAX_SQL_CHARS:
        raise sqlite3.DatabaseError(f"query longer than {_MAX_SQL_CHARS} characters")
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(_authorize)
        deadline = time.monotonic() + timeout_s
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            rows = conn.execute(query).fetchmany(max_rows + 1)
        except sqlite3.OperationalError as e:
            if time.monotonic() > deadline and "interrupted" in str(e):
                raise QueryTimeout(f"query ran longer than {timeout_s:g} s") from e
            raise
        if len(rows) > max_rows:
            raise TooManyRows(f"more than {max_rows} rows")
        return [_normalise(row) for row in rows]
    finally:
        conn.close()


@functools.lru_cache(maxsize=256)
def _gold_rows(db_path: str, mtime: float, gold: str, timeout_s: float, max_rows: int):
    del mtime  # part of the cache key only: a rewritten database is re-queried
    return execute(db_path, gold, timeout_s=timeout_s, max_rows=max_rows)


def _strip_literals_and_subqueries(query: str) -> str:
    query = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", query)
    previous = None
    while previous != query:
        previous, query = query, re.sub(r"\([^()]*\)", "()", query)
    return query


def is_ordered(query: str) -> bool:
    """Whether ``query`` has a top-level ORDER BY (so row order is part of the answer)."""
    return re.search(r"\border\s+by\b", _strip_literals_and_subqueries(query), re.I) is not None


def verify(
    response: str,
    reference: dict,
    *,
    timeout_s: float = 5.0,
    max_rows: int = 10_000,
) -> tuple[str, str]:
    """Execution match of the response's query against ``{"db_path", "gold"}``.

    Returns ``(reason, detail)``: ``correct``, ``wrong`` (including SQL errors and refused
    statements), ``timeout``, ``no_answer``, or ``error: ...`` when the gold query fails.
    """
    query = extract_sql(response)
    if query is None:
        return "no_answer", "no ```sql block and no SELECT/WITH statement"
    db_path, gold = reference["db_path"], reference["gold"]
    try:
        mtime = os.path.getmtime(db_path)
        expected = _gold_rows(db_path, mtime, gold, timeout_s, max_rows)
    except (OSError, sqlite3.Error, QueryTimeout, TooManyRows) as e:
        return f"error: gold query failed: {type(e).__name__}: {e}", ""
    try:
        got = execute(db_path, query, timeout_s=timeout_s, max_rows=max_rows)
    except QueryTimeout as e:
        return "timeout", str(e)
    except (sqlite3.Error, sqlite3.Warning, TooManyRows) as e:
        return "wrong", f"{type(e).__name__}: {e}"[:300]
    same = got == expected if is_ordered(gold) else Counter(got) == Counter(expected)
    return ("correct" if same else "wrong"), f"{len(got)} rows, expected {len(expected)}"
