"""The published dataset layouts load as they are, with the settings the README gives, and
their references are what the verifiers accept."""

from __future__ import annotations

import pytest
from layouts import LAYOUTS

from flowrl_jax.data import DataError
from flowrl_jax.rewards import score
from flowrl_jax.tasks import get_task
from flowrl_jax.train.config import base_config

CORRECT = {
    "verl_parquet": "so \\boxed{5}",
    "deepscaler_jsonl": "\\boxed{5}",
    "bird_sql": "```sql\nSELECT COUNT(*) FROM items\n```",
    "deepcoder_parquet": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
}


def _load(tmp_path, name, split="train", **extra):
    layout = LAYOUTS[name](tmp_path)
    data = base_config().data
    data.update(layout.data, **extra)
    data[f"{split}_path"] = layout.path
    return layout, get_task(layout.task).problems(data, split)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_loads_and_its_first_reference_is_verifiable(tmp_path, name):
    layout, problems = _load(tmp_path, name)
    assert len(problems) >= 2
    (result,) = score(layout.task, [CORRECT[name]], [problems[0].reference], num_workers=1)
    assert result.correct, result


def test_verl_prompts_stay_chat_messages_and_the_answer_is_nested(tmp_path):
    _, problems = _load(tmp_path, "verl_parquet")
    assert problems[0].prompt == [
        {"role": "user", "content": "What is 2 + 3? Put the final answer in \\boxed{}."}
    ]
    assert [p.reference for p in problems] == ["5", "3", "9"]


def test_deepscaler_template_keeps_latex_braces(tmp_path):
    _, problems = _load(tmp_path, "deepscaler_jsonl")
    assert problems[0].prompt == (
        "What is 2 + 3? Let's think step by step and output the final answer within \\boxed{}."
    )


def test_bird_rows_find_their_database_and_show_its_schema(tmp_path):
    _, problems = _load(tmp_path, "bird_sql", split="eval")
    ref = problems[1].reference
    assert ref["db_path"] == str(tmp_path / "dev_databases" / "shop" / "shop.sqlite")
    assert ref["gold"].startswith("SELECT name FROM items")
    assert problems[1].prompt.startswith("CREATE TABLE items (id INTEGER PRIMARY KEY")
    assert "-- cheapest = lowest price\n-- What is the cheapest item?" in problems[1].prompt


def test_bird_rows_without_db_root_name_the_key(tmp_path):
    with pytest.raises(DataError, match=r"row 0 names its database by db_id='shop': set data"):
        _load(tmp_path, "bird_sql", db_root="")


def test_a_database_that_is_not_sqlite_names_the_row(tmp_path):
    layout = LAYOUTS["bird_sql"](tmp_path)
    (tmp_path / "dev_databases" / "shop" / "shop.sqlite").write_text("not a database")
    data = base_config().data
    data.update(layout.data, train_path=layout.path)
    with pytest.raises(DataError, match=r"row 0: .*shop.sqlite: cannot read its schema"):
        get_task("sql").problems(data, "train")


def test_deepcoder_tests_are_parsed_from_their_json_string(tmp_path):
    _, problems = _load(tmp_path, "deepcoder_parquet")
    assert problems[0].reference == {
        "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 7\n", "output": "12\n"}]
    }
    assert problems[1].reference == {"tests": [{"input": "abc\n", "output": "cba\n"}]}


@pytest.mark.parametrize(
    ("tests", "match"),
    [
        ('[{"input": "1", "output": "2", "testtype": "functional"}]', "LiveCodeBench functional"),
        ("{not json", "a string that is not JSON"),
        ('{"inputs": ["1"], "outputs": ["1"], "fn_name": "f"}', "TACO-style call tests"),
    ],
)
def test_code_layouts_we_cannot_run_are_refused_with_the_row(tmp_path, tests, match):
    import json

    path = tmp_path / "code.jsonl"
    path.write_text(json.dumps({"problem": "p", "tests": tests}) + "\n")
    data = base_config().data
    data.update(train_path=str(path), prompt_field="problem")
    with pytest.raises(DataError, match=rf"row 0: reference\['tests'\]: {match}"):
        get_task("code").problems(data, "train")


def test_primeintellect_call_tests_become_function_calls():
    from flowrl_jax.tasks.code import published_tests

    tests = [{"type": "function_call", "fn_name": "add", "input": [1, 2], "output": [3]}]
    assert published_tests(tests) == {"fn_name": "add", "tests": [{"args": [1, 2], "output": 3}]}
    assert published_tests({"inputs": ["1\n"], "outputs": ["2\n"]}) == {
        "tests": [{"input": "1\n", "output": "2\n"}]
    }
