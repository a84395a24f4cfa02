"""The public contract: score()/Scorer, reward mapping, option handling, input validation."""

from __future__ import annotations

import sqlite3

import pytest

from flowrl_jax.rewards import Result, RewardSpec, Scorer, api, score
from flowrl_jax.rewards.pool import Outcome

COUNTDOWN = {"numbers": [3, 5, 2], "target": 16}


@pytest.fixture(scope="module")
def scorer():
    with Scorer(2) as s:
        yield s


def test_math_results_in_input_order(scorer):
    responses = ["\\boxed{3}", "no answer here", "Answer: 4", "\\boxed{0.333}", "\\boxed{1/2}"]
    references = ["3", "3", "5", "\\frac13", "0.5"]
    results = scorer.score("math", responses, references)
    assert [r.reason for r in results] == ["correct", "no_answer", "wrong", "wrong", "correct"]
    assert [r.reward for r in results] == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert all(isinstance(r, Result) for r in results)


def test_flowrl_rewards_and_per_reason_overrides(scorer):
    responses = ["\\boxed{3}", "nothing", "\\boxed{4}"]
    results = scorer.score("math", responses, ["3"] * 3, correct_reward=1.0, wrong_reward=-1.0)
    assert [r.reward for r in results] == [1.0, -1.0, -1.0]
    results = scorer.score("math", responses, ["3"] * 3, wrong_reward=-1.0, no_answer_reward=-0.5)
    assert [r.reward for r in results] == [1.0, -0.5, -1.0]


def test_math_tolerance_option(scorer):
    assert scorer.score("math", ["\\boxed{0.333}"], ["1/3"])[0].reward == 0.0
    assert scorer.score("math", ["\\boxed{0.333}"], ["1/3"], tolerance=1e-2)[0].reward == 1.0


def test_numeric_math_references_are_accepted(scorer):
    assert scorer.score("math", ["\\boxed{12}", "\\boxed{0.5}"], [12, 0.5])[1].correct


def test_countdown_dispatch(scorer):
    pytest.importorskip("flowrl_jax.rewards.countdown")
    responses = ["(3+5)*2", "3*5", "I give up", "(3+3)*2", "<answer>5*3+2-1</answer>"]
    results = scorer.score("countdown", responses, [COUNTDOWN] * 5)
    assert [r.reason for r in results][:3] == ["correct", "wrong", "no_answer"]
    assert results[3].reason.startswith("error:")  # 3 used twice
    assert [r.reward for r in results] == [1.0, 0.0, 0.0, 0.0, 0.0]
    exactly = scorer.score("countdown", ["(3+5)*2"], [COUNTDOWN], numbers_use="exactly_once")
    assert exactly[0].correct


def test_code_partial_credit_with_flowrl_rewards(scorer):
    reference = {"tests": [{"input": f"{i}\n", "output": f"{i * i}\n"} for i in range(3)]}
    code = "```python\nn = int(input())\nprint(n * n if n != 2 else 0)\n```"
    (full,) = scorer.score("code", [code], [reference], wrong_reward=-1.0)
    (part,) = scorer.score("code", [code], [reference], wrong_reward=-1.0, partial=True)
    assert (full.reason, full.reward) == ("wrong", -1.0)
    assert part.reason == "wrong"
    assert part.reward == pytest.approx(-1.0 + 2 / 3 * 2.0)


def test_code_timeout_reason(scorer):
    reference = {"tests": [{"input": "", "output": "1"}]}
    results = scorer.score(
        "code",
        ["```python\nwhile True: pass\n```"],
        [reference],
        test_timeout=0.5,
        timeout_reward=-2,
    )
    assert (results[0].reason, results[0].reward) == ("timeout", -2.0)


def test_sql_through_the_pool(scorer, tmp_path):
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    reference = {"db_path": str(path), "gold": "SELECT x FROM t"}
    results = scorer.score(
        "sql", ["```sql\nSELECT x FROM t ORDER BY x DESC\n```", "SELECT 1"], [reference] * 2
    )
    assert [r.reason for r in results] == ["correct", "wrong"]


def test_reward_mapping_of_pool_outcomes():
    spec = RewardSpec(wrong_reward=-1.0, error_reward=-0.25)
    died = api._to_result(Outcome("died", -9), spec, partial=False, timeout=5)
    assert (died.reward, died.reason) == (-0.25, "error: worker died")
    timeout = api._to_result(Outcome("timeout"), spec, partial=False, timeout=5)
    assert (timeout.reward, timeout.reason) == (-1.0, "timeout")
    error = api._to_result(Outcome("error", "RecursionError: deep"), spec, partial=False, timeout=5)
    assert (error.reward, error.reason) == (-0.25, "error: RecursionError: deep")
    assert RewardSpec().reward("wrong", 0.5, partial=True) == 0.5
    assert RewardSpec().reward("no_answer", 0.5, partial=True) == 0.0


def test_in_process_scorer_matches_the_pool(scorer):
    responses, references = ["\\boxed{2}", "\\boxed{3}"], ["2", "2"]
    with Scorer(num_workers=0) as local:
        assert local.score("math", responses, references) == scorer.score(
            "math", responses, references
        )


def test_module_level_score_reuses_its_pool():
    first = score("math", ["\\boxed{1}"], ["1"], num_workers=1)
    pool = api._DEFAULT
    second = score("math", ["\\boxed{2}"], ["1"], num_workers=1)
    assert api._DEFAULT is pool
    assert (first[0].reward, second[0].reward) == (1.0, 0.0)
    assert score("math", [], []) == []


def test_scorer_close_stops_workers():
    s = Scorer(1)
    processes = [w.process for w in s._pool._workers]
    s.close()
    assert not any(p.is_alive() for p in processes)
    with pytest.raises(RuntimeError, match="closed"):
        s.score("math", ["\\boxed{1}"], ["1"])


@pytest.mark.parametrize(
    ("task", "responses", "references", "options", "match"),
    [
        (
            "algebra",
            ["x"],
            ["1"],
            {},
            "unknown task 'algebra'; valid tasks: code, countdown, math, sql",
        ),
        ("math", ["x", "y"], ["1"], {}, "2 responses but 1 references"),
        ("math", ["x"], [None], {}, r"references\[0\]"),
        ("math", ["x"], ["1"], {"numbers_use": "exactly_once"}, "unknown option"),
        ("math", ["x"], ["1"], {"timeout": 0}, "timeout=0: expected a positive number"),
        ("math", ["x"], ["1"], {"tolerance": -1}, "tolerance=-1"),
        ("math", ["x"], ["1"], {"wrong_reward": "-1"}, "wrong_reward='-1'"),
        ("countdown", ["x"], [COUNTDOWN], {"numbers_use": "twice"}, "numbers_use='twice'"),
        ("code", ["x"], [{"tests": [{"input": "", "output": ""}]}], {"partial": 1}, "partial=1"),
        (
            "countdown",
            ["1", "2", "3"],
            [COUNTDOWN, COUNTDOWN, {"numbers": [1]}],
            {},
            r"references\[2\]\['target'\]",
        ),
        ("countdown", ["1"], [{"numbers": "12", "target": 3}], {}, r"references\[0\]\['numbers'\]"),
        ("code", ["x"], [{"tests": []}], {}, r"references\[0\]\['tests'\]"),
        ("code", ["x"], [{"tests": [{"input": "1"}]}], {}, r"references\[0\]\['tests\[0\]'\]"),
        ("code", ["x"], [{"fn_name": "not valid", "tests": [{"output": 1}]}], {}, "fn_name"),
        (
            "sql",
            ["x"],
            [{"db_path": "/nonexistent.db", "gold": "SELECT 1"}],
            {},
            r"references\[0\]\['db_path'\]: no such database file",
        ),
        ("sql", ["x"], [{"db_path": __file__}], {}, r"references\[0\]\['gold'\]"),
    ],
)
def test_bad_input_gets_a_clear_error(scorer, task, responses, references, options, match):
    with pytest.raises(ValueError, match=match):
        scorer.score(task, responses, references, **options)


def test_non_string_response_is_a_type_error(scorer):
    with pytest.raises(TypeError, match=r"responses\[1\] must be a str"):
        scorer.score("math", ["a", b"b"], ["1", "1"])
