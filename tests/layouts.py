"""Small datasets in the layouts the field publishes, written by the tests themselves.

Each writer puts a few rows (and, for SQL, a databases directory) under `root` and returns a
`Layout`: the task, the file, and the `--config.data.*` settings the README gives for it.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MATH = [("What is 2 + 3?", "5"), ("What is 7 - 4?", "3"), ("What is 3 * 3?", "9")]


@dataclasses.dataclass(frozen=True)
class Layout:
    task: str
    path: str
    data: dict[str, str]  # data.<key> settings for this layout


def verl_parquet(root: Path) -> Layout:
    """verl / DAPO-Math: `prompt` is a list of chat messages, the answer is nested under
    `reward_model.ground_truth`, beside verl's bookkeeping columns."""
    rows = [
        {
            "data_source": "math_dapo",
            "prompt": [{"content": f"{q} Put the final answer in \\boxed{{}}.", "role": "user"}],
            "ability": "MATH",
            "reward_model": {"ground_truth": a, "style": "rule-lighteval/MATH_v2"},
            "extra_info": {"index": i, "split": "train"},
        }
        for i, (q, a) in enumerate(MATH)
    ]
    path = root / "dapo_math.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return Layout("math", str(path), {"answer_field": "reward_model.ground_truth"})


def deepscaler_jsonl(root: Path) -> Layout:
    """DeepScaleR-Preview: `problem`, `answer`, `solution` strings; the instruction to box the
    answer comes from the prompt template."""
    path = root / "deepscaler.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for q, a in MATH:
            f.write(json.dumps({"problem": q, "answer": a, "solution": f"\\boxed{{{a}}}"}) + "\n")
    template = "{prompt} Let's think step by step and output the final answer within \\boxed{}."
    return Layout("math", str(path), {"prompt_field": "problem", "prompt_template": template})


def bird_sql(root: Path) -> Layout:
    """BIRD: a JSON array of {question_id, db_id, question, evidence, SQL, difficulty}, the
    databases as `<db_root>/<db_id>/<db_id>.sqlite`; the prompt shows the schema."""
    db_root = root / "dev_databases"
    (db_root / "shop").mkdir(parents=True)
    with sqlite3.connect(db_root / "shop" / "shop.sqlite") as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        db.executemany(
            "INSERT INTO items (name, price) VALUES (?, ?)",
            [("pen", 1.5), ("book", 12.0), ("lamp", 30.0)],
        )
    rows = [
        ("How many items are there?", "", "SELECT COUNT(*) FROM items"),
        (
            "What is the cheapest item?",
            "cheapest = lowest price",
            "SELECT name FROM items ORDER BY price LIMIT 1",
        ),
    ]
    path = root / "bird_dev.json"
    path.write_text(
        json.dumps(
            [
                {
                    "question_id": i,
                    "db_id": "shop",
                    "question": q,
                    "evidence": e,
                    "SQL": sql,
                    "difficulty": "simple",
                }
                for i, (q, e, sql) in enumerate(rows)
            ]
        ),
        encoding="utf-8",
    )
    return Layout(
        "sql",
        str(path),
        {
            "prompt_field": "question",
            "answer_field": "SQL",
            "db_root": str(db_root),
            "prompt_template": "{schema}\n-- {evidence}\n-- {prompt}\nWrite the query in a "
            "```sql block.",
        },
    )


def deepcoder_parquet(root: Path) -> Layout:
    """DeepCoder-Preview: `problem`, and `tests` as a JSON string of stdin/stdout tests in the
    LiveCodeBench (`testtype`) and PrimeIntellect (`type`) layouts."""
    rows = [
        {
            "problem": "Read two integers and print their sum.",
            "tests": json.dumps(
                [
                    {"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                    {"input": "5 7\n", "output": "12\n", "testtype": "stdin"},
                ]
            ),
            "starter_code": "",
            "metadata": json.dumps({}),
        },
        {
            "problem": "Read a word and print it reversed.",
            "tests": json.dumps([{"type": "stdin_stdout", "input": "abc\n", "output": "cba\n"}]),
            "starter_code": "",
            "metadata": json.dumps({}),
        },
    ]
    path = root / "deepcoder.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return Layout("code", str(path), {"prompt_field": "problem"})


LAYOUTS = {
    "verl_parquet": verl_parquet,
    "deepscaler_jsonl": deepscaler_jsonl,
    "bird_sql": bird_sql,
    "deepcoder_parquet": deepcoder_parquet,
}
