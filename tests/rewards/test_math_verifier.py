"""Math verifier: a correctness table (equivalences and near misses), extraction, guards."""

from __future__ import annotations

import time

import pytest

from flowrl_jax.rewards.math_verifier import equivalent, extract_answer, guard, verify

CORRECT = [
    ("\\boxed{\\frac{1}{2}}", "0.5"),
    ("\\boxed{0.5}", "\\frac{1}{2}"),
    ("\\boxed{1/2}", "\\frac12"),
    ("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}"),
    ("\\boxed{\\dfrac{3}{4}}", "3/4"),
    ("\\boxed{\\tfrac{3}{4}}", "0.75"),
    ("**Answer:** $\\frac{7}{2}$", "3.5"),
    ("\\boxed{-\\frac{1}{3}}", "-1/3"),
    ("Answer: x = 2", "2"),
    ("\\boxed{x=2}", "2"),
    ("\\boxed{50\\%}", "0.5"),
    ("\\boxed{50\\%}", "50\\%"),
    ("\\boxed{[1,2)}", "[1,2)"),
    ("\\boxed{\\left(1, 2\\right]}", "(1,2]"),
    ("\\boxed{\\{1,2,3\\}}", "\\{3,2,1\\}"),
    ("\\boxed{(1, 2)}", "(1,2)"),
    ("\\boxed{5 \\text{ cm}}", "5"),
    ("\\boxed{12 \\text{ dollars}}", "12"),
    ("\\boxed{30^\\circ}", "30"),
    ("\\boxed{30°}", "30^\\circ"),
    ("\\boxed{1.5 \\times 10^{3}}", "1500"),
    ("Answer: 1.5e3", "1500"),
    ("\\boxed{10^{-3}}", "0.001"),
    ("\\boxed{2^{10}}", "1024"),
    ("\\boxed{\\sqrt{12}}", "2\\sqrt{3}"),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}"),
    ("\\boxed{\\pi/2}", "\\frac{\\pi}{2}"),
    ("\\boxed{(x+1)^2}", "x^2+2x+1"),
    ("\\boxed{1,000}", "1000"),
    ("\\boxed{2.0}", "2"),
    ("\\boxed{\\text{Monday}}", "Monday"),
    ("Answer: (B) 12", "B"),
    ("\\boxed{\\text{(C)}}", "C"),
    ("\\boxed{D}", "(D)"),
    ("first \\boxed{3}, then the final \\boxed{4}", "4"),
    ("\\boxed{4}\nAnswer: 5", "5"),
    ("Answer: 5\nso \\boxed{6}", "6"),
    ("\\fbox{7}", "7"),
    ("\\boxed 8", "8"),
    ("The answer is $\\boxed{\\frac{a}{\\sqrt{b}}}$.", "\\frac{a}{\\sqrt{b}}"),
    ("\\boxed{2^{2024}-1}", "2^{2024}-1"),
]

WRONG = [
    ("\\boxed{0.333}", "\\frac{1}{3}"),
    ("\\boxed{[1,2)}", "(1,2]"),
    ("\\boxed{(1,2)}", "[1,2]"),
    ("\\boxed{(2,1)}", "(1,2)"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2,3\\}"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{3}"),
    ("\\boxed{3.14}", "\\pi"),
    ("\\boxed{\\sqrt{2}}", "2"),
    ("\\boxed{x+2}", "x+1"),
    ("\\boxed{-2}", "2"),
    ("\\boxed{0.5}", "0.05"),
    ("\\boxed{1.5 \\times 10^{4}}", "1500"),
    ("\\boxed{\\text{Tuesday}}", "Monday"),
    ("Answer: (A)", "B"),
    ("\\boxed{B}", "C"),
    ("\\boxed{4}\nAnswer: 5", "4"),
]

NO_ANSWER = ["I think it is 5.", "\\boxed{5", "", "Answer:"]


@pytest.mark.parametrize(("response", "reference"), CORRECT)
def test_correct(response, reference):
    assert verify(response, reference)[0] == "correct"


@pytest.mark.parametrize(("response", "reference"), WRONG)
def test_wrong(response, reference):
    assert verify(response, reference)[0] == "wrong"


@pytest.mark.parametrize("response", NO_ANSWER)
def test_no_answer(response):
    assert verify(response, "5")[0] == "no_answer"


def test_table_is_big_enough():
    assert len(CORRECT) + len(WRONG) >= 40


@pytest.mark.parametrize(
    ("answer", "reference", "tolerance", "expected"),
    [
        ("0.333", "\\frac{1}{3}", 0.0, False),
        ("0.333", "\\frac{1}{3}", 1e-3, True),
        ("3.14", "\\pi", 1e-3, True),
        ("3.14", "\\pi", 1e-4, False),
        ("1000.4", "1000", 1e-3, True),
        ("0.0004", "0", 1e-3, True),
        ("0.333333333333", "\\frac{1}{3}", 0.0, True),
    ],
)
def test_numeric_tolerance(answer, reference, tolerance, expected):
    reason, _ = verify(f"\\boxed{{{answer}}}", reference, tolerance=tolerance)
    assert (reason == "correct") is expected


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("so \\boxed{\\frac{a}{\\sqrt{b}}} done", "\\frac{a}{\\sqrt{b}}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{1} and \\boxed{\\left(2, 3\\right)}", "\\left(2, 3\\right)"),
        ("Answer: $5$.", "5"),
        ("Final Answer: \\boxed{7}", "7"),
        ("answer: 12\n", "12"),
        ("\\boxed{3} then \\boxed{unterminated", "3"),
    ],
)
def test_extract_answer(response, answer):
    assert extract_answer(response) == answer


ATTACKS = [
    "10^(10^(10^10))",
    "10^{10^{10^{10}}}",
    "9**9**9**9",
    "2^{2^{2^{2^{2^{2}}}}}",
    "(10^{10})^{10^{10}}",
    "x^{100000000000}",
    "100000!",
    "(" * 1000 + "1" + ")" * 1000,
    "1+" * 2000 + "1",
]


@pytest.mark.parametrize("answer", ATTACKS)
def test_adversarial_answers_are_rejected_fast(answer):
    start = time.monotonic()
    assert guard(answer) is not None
    reason, detail = verify(f"\\boxed{{{answer}}}", "1")
    assert reason == "wrong"
    assert detail.startswith("rejected")
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize("answer", ["2^{2024}", "2^{2^5}", "10^{-3}", "x^{2}+1", "e^{i\\pi}", "3!"])
def test_guard_lets_ordinary_powers_through(answer):
    assert guard(answer) is None


def test_equivalent_on_bare_answers():
    assert equivalent("2", "x = 2")
    assert not equivalent("\\frac{1}{3}", "0.333")
