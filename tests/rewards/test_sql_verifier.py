"""SQL verifier: execution match (multiset vs ordered), read-only enforcement, limits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from flowrl_jax.rewards.sql import extract_sql, is_ordered, verify


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("sql") / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, city TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL);
        INSERT INTO customer VALUES (1, 'ann', 'paris'), (2, 'bob', 'rome'), (3, 'cid', 'paris');
        INSERT INTO orders VALUES (1, 1, 10.5), (2, 1, 4.5), (3, 2, 7.0), (4, 3, 7.0);
        """
    )
    conn.commit()
    conn.close()
    return str(path)


def sql(query: str) -> str:
    return f"The query is:\n```sql\n{query}\n```"


CASES = [
    # (gold, predicted, expected reason)
    (
        "SELECT name FROM customer WHERE city = 'paris'",
        "SELECT name FROM customer WHERE city = 'paris' ORDER BY name DESC",
        "correct",
    ),
    (
        "SELECT name FROM customer WHERE city = 'paris'",
        "SELECT name FROM customer WHERE id IN (1, 3)",
        "correct",
    ),
    ("SELECT name FROM customer ORDER BY name", "SELECT name FROM customer ORDER BY id", "correct"),
    ("SELECT name FROM customer ORDER BY name DESC", "SELECT name FROM customer", "wrong"),
    ("SELECT amount FROM orders", "SELECT DISTINCT amount FROM orders", "wrong"),  # multiset
    (
        "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id",
        "SELECT customer_id, total(amount) FROM orders GROUP BY 1",
        "correct",
    ),
    ("SELECT avg(amount) FROM orders", "SELECT sum(amount) / count(*) FROM orders", "correct"),
    ("SELECT name, city FROM customer", "SELECT city, name FROM customer", "wrong"),
    ("SELECT count(*) FROM customer", "SELECT count(*) FROM customers", "wrong"),  # no such table
    ("SELECT count(*) FROM customer", "SELEC count(*) FROM customer", "wrong"),  # syntax
    ("SELECT 1", "SELECT 1;", "correct"),
    (
        "SELECT name FROM customer WHERE name = 'a''b' ORDER BY 1",
        "SELECT name FROM customer WHERE 0",
        "correct",
    ),
]


@pytest.mark.parametrize(("gold", "predicted", "reason"), CASES)
def test_execution_match(db, gold, predicted, reason):
    got, detail = verify(sql(predicted), {"db_path": db, "gold": gold})
    assert got == reason, detail


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM customer",
        "UPDATE orders SET amount = 0",
        "DROP TABLE orders",
        "CREATE TABLE t (x)",
        "ATTACH DATABASE ':memory:' AS m",
        "PRAGMA journal_mode = WAL",
        "BEGIN",
        "SELECT 1; DELETE FROM customer",
    ],
)
def test_writes_and_side_doors_are_refused(db, query):
    before = Path(db).read_bytes()
    reason, detail = verify(sql(query), {"db_path": db, "gold": "SELECT 1"})
    assert reason == "wrong", detail
    assert Path(db).read_bytes() == before


def test_endless_query_times_out(db):
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    reason, detail = verify(sql(endless), {"db_path": db, "gold": "SELECT 1"}, timeout_s=0.3)
    assert reason == "timeout", detail


def test_row_cap(db):
    many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    reason, detail = verify(sql(many), {"db_path": db, "gold": "SELECT 1"}, max_rows=100)
    assert reason == "wrong" and "more than 100 rows" in detail


def test_broken_gold_is_an_error_not_a_wrong_answer(db):
    reason, _ = verify(sql("SELECT 1"), {"db_path": db, "gold": "SELECT nope FROM nowhere"})
    assert reason.startswith("error: gold query failed")


@pytest.mark.parametrize(
    ("response", "query"),
    [
        ("```sql\nSELECT 1;\n```", "SELECT 1"),
        ("```SQL\nSELECT 2\n```", "SELECT 2"),
        ("```\nSELECT 3\n```", "SELECT 3"),
        ("```sql\nSELECT 1\n```\n```\nnot sql\n```", "SELECT 1"),
        ("select 4 from t", "select 4 from t"),
        ("WITH a AS (SELECT 1) SELECT * FROM a;", "WITH a AS (SELECT 1) SELECT * FROM a"),
        ("I cannot answer.", None),
    ],
)
def test_extract_sql(response, query):
    assert extract_sql(response) == query


@pytest.mark.parametrize(
    ("query", "ordered"),
    [
        ("SELECT a FROM t ORDER BY a", True),
        ("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)", False),
        ("SELECT 'order by' FROM t", False),
        ("select a from t order\n by a desc", True),
    ],
)
def test_is_ordered(query, ordered):
    assert is_ordered(query) is ordered


def test_no_answer(db):
    assert verify("I do not know.", {"db_path": db, "gold": "SELECT 1"})[0] == "no_answer"
