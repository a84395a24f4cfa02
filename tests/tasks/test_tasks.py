"""Tasks by name: problems, references checked at load with the row named, one verdict type,
and canonical answers for counting distinct solutions."""

from __future__ import annotations

import json

import ml_collections
import pytest

from flowrl_jax.data import DataError
from flowrl_jax.eval.evaluate import distinct_solutions
from flowrl_jax.rewards import score
from flowrl_jax.tasks import Task, Verdict, get_task, task_names

CD = {"numbers": [2, 3, 5, 8], "target": 16}


def test_registry_lists_every_task_and_names_the_valid_ones():
    assert set(task_names()) >= {"countdown", "math", "code", "sql", "toy_first_char"}
    assert all(isinstance(get_task(n), Task) for n in task_names())
    with pytest.raises(ValueError, match="unknown task 'algebra'; valid tasks: code, countdown"):
        get_task("algebra")


@pytest.mark.parametrize(
    ("response", "form"),
    [
        ("(3+5)*2", "2*(3+5)"),
        ("(3+5)*2 = 16", "2*(3+5)"),  # a trailing "= target" is not the answer
        ("<answer>2*(5+3)</answer>", "2*(3+5)"),
        ("8*2=16", "2*8"),
        ("I don't know", None),
        ("3+", None),  # not an expression of the grammar
    ],
)
def test_countdown_canonical_form(response, form):
    assert get_task("countdown").canonical(response, CD) == form


def test_distinct_correct_solutions_ignore_the_trailing_target():
    """The diversity bug: canonicalising without the target counted every `expr = 16` as "16"."""
    task = get_task("countdown")
    assert distinct_solutions(task, ["(3+5)*2 = 16", "8*2 = 16"], CD) == 2
    assert distinct_solutions(task, ["(3+5)*2 = 16", "2*(5+3)"], CD) == 1


def test_every_verifier_returns_a_verdict():
    for name, response, reference in [
        ("countdown", "2*8", CD),
        ("math", "\\boxed{4}", "4"),
        ("toy_first_char", "1", "1"),
    ]:
        task = get_task(name)
        options = {k: o.default for k, o in task.options.items()}
        verdict = task.verify(response, task.check_reference(reference), timeout=5.0, **options)
        assert isinstance(verdict, Verdict) and verdict == ("correct", 1.0, verdict.detail)


def _data(**values) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(prompt_field="prompt", answer_field="answer", eval_path="", **values)
    )


def _write(tmp_path, rows) -> str:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize(
    ("task", "bad", "match"),
    [
        ("math", {"prompt": "1+1", "answer": None}, r"row 2: reference: expected the answer"),
        ("math", {"prompt": "1+1", "answer": " "}, r"row 2: reference: expected the answer"),
        # a field missing from one row of a JSONL reads as null (the file's columns are shared)
        ("math", {"prompt": "1+1"}, r"row 2: reference: expected the answer.*got None"),
        ("countdown", {"numbers": [1, 2], "target": None}, r"row 2: reference\['target'\]"),
        ("code", {"prompt": "p", "tests": []}, r"row 2: reference\['tests'\]"),
    ],
)
def test_bad_rows_fail_at_load_naming_the_row(tmp_path, task, bad, match):
    good = {"math": {"prompt": "2+2", "answer": 4}, "countdown": {"numbers": [1, 2], "target": 3}}
    good["code"] = {"prompt": "p", "tests": [{"input": "", "output": "1"}]}
    path = _write(tmp_path, [good[task], good[task], bad])
    with pytest.raises(DataError, match=match):
        get_task(task).problems(_data(train_path=path), "train")


def test_numbers_become_string_answers(tmp_path):
    path = _write(tmp_path, [{"prompt": "2+2", "answer": 4}])
    (problem,) = get_task("math").problems(_data(train_path=path), "train")
    assert problem.reference == "4"


def test_score_accepts_a_task_object_and_a_name():
    by_name = score("countdown", ["2*8"], [CD], num_workers=1)
    by_object = score(get_task("countdown"), ["2*8"], [CD], num_workers=1)
    assert by_name == by_object and by_name[0].correct and not by_name[0].failed
