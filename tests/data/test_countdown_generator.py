"""The Countdown generator and solver (tasks/countdown/generator.py), checked by the verifier."""

import itertools
import random
from collections import Counter

import numpy as np
import pytest

from flowrl_jax.rewards.countdown import canonical_form, verify
from flowrl_jax.tasks.countdown.generator import (
    CountdownSolver,
    format_prompt,
    format_solution,
    generate_problems,
    generate_splits,
    sample_solution,
    solve,
)

SIZES = (400, 100, 100)


@pytest.fixture(scope="module")
def splits():
    return generate_splits(0, *SIZES)


def _key(row):
    return tuple(sorted(row["numbers"])), row["target"]


def _check_problem(row, numbers_use, *, counts=(3,), low=1, high=12, targets=(1, 100)):
    assert len(row["numbers"]) in counts
    assert all(low <= n <= high for n in row["numbers"])
    assert targets[0] <= row["target"] <= targets[1]
    assert row["target"] not in row["numbers"]  # no trivial problems by default
    assert row["prompt"] == format_prompt(row["numbers"], row["target"])
    solutions = row["solutions"]
    assert row["num_solutions"] == len(solutions) >= 1
    assert solutions == sorted(set(solutions))
    reference = {"numbers": row["numbers"], "target": row["target"]}
    forms = set()
    for solution in solutions:
        assert verify(solution, reference, numbers_use=numbers_use) == (True, "correct")
        assert canonical_form(solution) == solution
        forms.add(canonical_form(solution))
    assert len(forms) == len(solutions)


def test_every_problem_is_solvable_and_its_solutions_verify(splits):
    assert {name: len(split) for name, split in splits.items()} == dict(
        zip(("train", "validation", "test"), SIZES, strict=True)
    )
    for split in splits.values():
        for row in split:
            _check_problem(row, "at_most_once")


def test_splits_do_not_overlap_and_hold_no_duplicates(splits):
    keys = {name: [_key(row) for row in split] for name, split in splits.items()}
    for name in keys:
        assert len(set(keys[name])) == len(keys[name]), name
    for a, b in itertools.combinations(keys, 2):
        assert not set(keys[a]) & set(keys[b]), (a, b)


def test_same_seed_same_data_other_seed_other_data(splits):
    again = generate_splits(0, *SIZES)
    for name in splits:
        assert again[name].to_dict() == splits[name].to_dict()
    other = generate_splits(1, *SIZES)
    assert other["train"]["prompt"] != splits["train"]["prompt"]


def test_evaluation_splits_do_not_depend_on_train_size(splits):
    smaller = generate_splits(0, 10, SIZES[1], SIZES[2])
    assert smaller["test"].to_dict() == splits["test"].to_dict()
    assert smaller["validation"].to_dict() == splits["validation"].to_dict()


def test_exactly_once_problems():
    problems = generate_problems(3, 150, numbers_use="exactly_once", max_number=9)
    for row in problems:
        _check_problem(row, "exactly_once", high=9)


def test_sampled_path_large_ranges_and_mixed_counts():
    """1-99 has too many multisets to enumerate: problems are drawn by rejection."""
    problems = generate_problems(5, 16, num_numbers=(3, 4), max_number=99, target_range=(1, 200))
    assert {len(row["numbers"]) for row in problems} == {3, 4}
    for row in problems:
        _check_problem(row, "at_most_once", counts=(3, 4), high=99, targets=(1, 200))
    assert len({_key(row) for row in problems}) == len(problems)


def test_asking_for_more_problems_than_exist_says_how_many():
    with pytest.raises(ValueError, match="only 5906 exist"):
        generate_splits(0, 5907, 0, 0)
    # 3 + 15 problems exist, but one count's supply can run out first in a mix of counts.
    with pytest.raises(ValueError, match="all 3 distinct problems with 1 numbers"):
        generate_problems(
            0, 16, num_numbers=(1, 2), max_number=3, target_range=(1, 3), allow_trivial=True
        )
    with pytest.raises(ValueError, match="num_numbers"):
        generate_problems(0, 1, num_numbers=(9,))


def test_uniform_over_the_problem_universe():
    """Enumerated configurations take every problem with equal chance: all of them, once."""
    problems = generate_problems(0, 5906)
    assert len({_key(row) for row in problems}) == 5906


# --- the solver ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "target", "use", "expected"),
    [
        # Hand-enumerated: every binary tree over {1, 2, 3} equal to 6, up to commutativity and
        # associativity of + and *; the at_most_once extra is 2*3 (1 unused).
        ([1, 2, 3], 6, "exactly_once",
         ["1*2*3", "1+2+3", "2*3/1", "2/(1/3)", "2/1*3", "3/(1/2)", "3/1*2"]),
        ([1, 2, 3], 6, "at_most_once",
         ["1*2*3", "1+2+3", "2*3", "2*3/1", "2/(1/3)", "2/1*3", "3/(1/2)", "3/1*2"]),
        ([2, 2], 4, "exactly_once", ["2*2", "2+2"]),
        ([2, 2], 1, "exactly_once", ["2/2"]),
        ([2, 2], 2, "exactly_once", []),
        ([2, 2], 2, "at_most_once", ["2"]),
        ([0, 0], 0, "exactly_once", ["0*0", "0+0", "0-0"]),  # 0/0 is not a solution
        ([4, 6], 5, "at_most_once", []),
        ([3, 3, 8, 8], 24, "exactly_once", ["8/(3-8/3)"]),
    ],
)  # fmt: skip
def test_solver_known_cases(numbers, target, use, expected):
    assert solve(numbers, target, numbers_use=use) == expected


def _all_expressions(numbers):
    """Every fully parenthesised expression over an ordering of ``numbers`` (brute force)."""
    if len(numbers) == 1:
        yield str(numbers[0])
        return
    for i in range(1, len(numbers)):
        for left in _all_expressions(numbers[:i]):
            for right in _all_expressions(numbers[i:]):
                for op in "+-*/":
                    yield f"({left}{op}{right})"


def _brute_force(numbers, target, numbers_use):
    sizes = [len(numbers)] if numbers_use == "exactly_once" else range(1, len(numbers) + 1)
    reference = {"numbers": numbers, "target": target}
    forms = set()
    for size in sizes:
        for ordering in set(itertools.permutations(numbers, size)):
            for expression in _all_expressions(list(ordering)):
                if verify(expression, reference, numbers_use=numbers_use)[0]:
                    forms.add(canonical_form(expression))
    return sorted(forms)


@pytest.mark.parametrize("use", ["at_most_once", "exactly_once"])
def test_solver_matches_brute_force_through_the_verifier(use):
    rng = random.Random(7)
    cases = [([2, 2, 3, 6], 12), ([1, 4, 5, 6], 24), ([0, 3, 3], 0)]
    cases += [([rng.randint(1, 9) for _ in range(3)], rng.randint(1, 30)) for _ in range(6)]
    solver = CountdownSolver(use)
    for numbers, target in cases:
        assert solver.solve(numbers, target) == _brute_force(numbers, target, use), numbers
        assert solver.solvable(numbers, target) == bool(_brute_force(numbers, target, use))


def test_reachable_agrees_with_solvable():
    solver = CountdownSolver("at_most_once")
    reachable = solver.reachable([2, 7, 11])
    for target in range(-20, 200):
        assert (
            (target in reachable)
            == solver.solvable([2, 7, 11], target)
            == bool(solver.solve([2, 7, 11], target))
        )


# --- text and sampling -------------------------------------------------------------------------


def test_text_format():
    assert format_prompt([3, 5, 2], 16) == "3 5 2>16:"
    assert format_solution("(5 + 3) * 2") == "2*(3+5)"
    assert format_solution("((8-3))-2") == "8-3-2"
    with pytest.raises(ValueError):
        format_solution("2**3")


def test_sample_solution_is_uniform_over_solutions():
    problem = {"numbers": [1, 2, 3], "target": 6, "solutions": solve([1, 2, 3], 6)}
    draws = 4000
    for rng in (random.Random(0), np.random.default_rng(0)):
        counts = Counter(sample_solution(problem, rng) for _ in range(draws))
        assert set(counts) == set(problem["solutions"])
        expected = draws / len(problem["solutions"])
        assert all(abs(c - expected) < 5 * expected**0.5 for c in counts.values()), counts
    with pytest.raises(ValueError, match="no solutions"):
        sample_solution({"solutions": []}, random.Random(0))
