"""The Countdown verifier's decisions and canonical forms (flowrl_jax/rewards/countdown.py)."""

import random
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrl_jax.rewards.countdown import (
    ExpressionError,
    canonical_form,
    extract_expression,
    parse_expression,
    verify,
)

REF = {"numbers": [3, 5, 2], "target": 16}

# (numbers, target, response, numbers_use, expected correct, expected reason or "error: ..." part)
TABLE = [
    # formats
    ([3, 5, 2], 16, "(3+5)*2", "at_most_once", True, "correct"),
    ([3, 5, 2], 16, "2*(5+3)", "at_most_once", True, "correct"),
    ([3, 5, 2], 16, " ( 3 + 5 ) * 2 \n", "at_most_once", True, "correct"),
    ([3, 5, 2], 16, "<answer>(3+5)*2</answer>", "at_most_once", True, "correct"),
    (
        [3, 5, 2],
        16,
        "<answer>3+5</answer><answer>(3+5)*2</answer>",
        "at_most_once",
        True,
        "correct",
    ),
    ([3, 5, 2], 16, "(3+5)*2 = 16", "at_most_once", True, "correct"),
    ([3, 5, 2], 16, "<answer>(3+5)*2=16</answer>", "at_most_once", True, "correct"),
    ([3, 5, 2], 16, "x = (3+5)*2", "at_most_once", True, "correct"),
    ([3, 5, 2], 16, "(3+5)*2 = 15", "at_most_once", False, "error: number 15"),
    ([3, 5, 2], 16, "3+5", "at_most_once", False, "wrong"),
    ([3, 5, 2], 16, "", "at_most_once", None, "no_answer"),
    ([3, 5, 2], 16, "   ", "at_most_once", None, "no_answer"),
    ([3, 5, 2], 16, "<answer></answer>", "at_most_once", None, "no_answer"),
    ([3, 5, 2], 16, "I don't know", "at_most_once", None, "no_answer"),
    ([16, 1], 16, "16", "at_most_once", True, "correct"),
    ([16, 1], 16, "16*1 = 16", "exactly_once", True, "correct"),
    ([3, 13], 16, "03+13", "at_most_once", True, "correct"),  # leading zeros read as ints
    # multiset semantics
    ([2, 2, 3], 12, "2*2*3", "exactly_once", True, "correct"),
    ([2, 2, 3], 7, "2+3+2", "at_most_once", True, "correct"),
    ([2, 2, 3], 18, "2*3*3", "at_most_once", False, "error: number 3 used 2 times"),
    ([3, 5, 2], 12, "(3+3)*2", "at_most_once", False, "error: number 3 used 2 times"),
    ([3, 5, 2], 14, "(3+4)*2", "at_most_once", False, "error: number 4 is not among"),
    ([3, 5, 2], 37, "35+2", "at_most_once", False, "error: number 35"),  # no digit gluing
    ([3, 5, 2, 7], 16, "(3+5)*2", "at_most_once", True, "correct"),
    ([3, 5, 2, 7], 16, "(3+5)*2", "exactly_once", False, "error: numbers [7] are not used"),
    ([3, 5, 2, 1], 16, "(3+5)*2*1", "exactly_once", True, "correct"),
    # exact arithmetic
    ([6, 1, 3, 4], 24, "6/(1-3/4)", "exactly_once", True, "correct"),
    ([3, 3, 8, 8], 24, "8/(3-8/3)", "exactly_once", True, "correct"),  # float: 23.999999999999993
    ([2, 1, 10**17], 2, "2+1/100000000000000000", "at_most_once", False, "wrong"),  # float: 2.0
    ([7, 2], 3, "7/2", "at_most_once", False, "wrong"),  # no integer division
    ([4, 2, 2], 1, "4/(2-2)", "at_most_once", False, "error: division by zero"),
    ([4, 2, 2], 0, "(2-2)/4", "at_most_once", True, "correct"),
    # unicode operators
    ([3, 5, 2], 16, "(3+5)×2", "at_most_once", True, "correct"),
    ([3, 5, 2], 4, "(3+5)÷2", "at_most_once", True, "correct"),
    ([7, 3], 4, "7−3", "at_most_once", True, "correct"),
    # disallowed syntax
    ([2, 3], 8, "2**3", "at_most_once", False, "error: operator '**'"),
    ([7, 2], 3, "7//2", "at_most_once", False, "error: operator '//'"),
    ([7, 4], 3, "7%4", "at_most_once", False, "error: character '%'"),
    ([2, 1], 20, "2e1", "at_most_once", False, "error: character 'e'"),
    ([16], 16, "0x10", "at_most_once", False, "error: character 'x'"),
    ([16], 16, "1_6", "at_most_once", False, "error: character '_'"),
    ([16], 16, "１６", "at_most_once", False, "error: character '１'"),
    ([3, 5], 8, "3.0+5", "at_most_once", False, "error: only integer literals"),
    ([3, 19], 16, "-3+19", "at_most_once", False, "error: unary '-'"),
    ([16], 16, "+16", "at_most_once", False, "error: unary '+'"),
    ([16], 16, "abs(16)", "at_most_once", False, "error: character 'a'"),
    ([16], 16, "int('16')", "at_most_once", False, "error: character 'i'"),
    ([16], 16, "(16).real", "at_most_once", False, "error: only integer literals"),
    ([16], 16, "[16][0]", "at_most_once", False, "error: character '['"),
    ([16], 16, "lambda: 16", "at_most_once", False, "error: character 'l'"),
    ([16, 1], 16, "16 if 1 else 1", "at_most_once", False, "error: character 'i'"),
    ([1], 1, "__import__('os').system('echo 1')", "at_most_once", False, "error: character '_'"),
    ([3, 5], 8, "3 5", "at_most_once", False, "error: unexpected 5"),
    ([3, 5], 8, "(3+5", "at_most_once", False, "error: missing ')'"),
    ([3, 5], 8, "3+5)", "at_most_once", False, "error: unexpected ')'"),
    ([3, 5], 8, "3+", "at_most_once", False, "error: expression ends"),
    ([3, 5], 8, "3+()", "at_most_once", False, "error: unexpected ')'"),
    ([3, 5], 8, "(3)(5)", "at_most_once", False, "error: unexpected '('"),
]


@pytest.mark.parametrize(("numbers", "target", "response", "use", "correct", "reason"), TABLE)
def test_verify_table(numbers, target, response, use, correct, reason):
    got_correct, got_reason = verify(
        response, {"numbers": numbers, "target": target}, numbers_use=use
    )
    assert got_correct is correct, got_reason
    if reason.startswith("error:"):
        assert got_reason.startswith(reason), got_reason
    else:
        assert got_reason == reason


def test_float_traps_are_real():
    """The exact cases above are exactly where floats get it wrong."""
    assert 8 / (3 - 8 / 3) != 24
    assert 2 + 1 / 10**17 == 2


@pytest.mark.parametrize(
    "response",
    [
        "1+" * 10_000 + "1",  # too long
        "(" * 10_000 + "1" + ")" * 10_000,  # too long and too deep
        "(" * 400 + "3" + ")" * 400,  # under the length cap, too deep
        "1+" * 300 + "1",  # under the length cap, too many literals
        "9" * 5_000,  # huge literal
        "9" * 25,  # huge literal under the length cap
        "x" * 1_000_000 + "<answer>" + "(" * 500_000 + "1</answer>",
    ],
)
def test_adversarial_input_rejected_quickly(response):
    start = time.perf_counter()
    correct, reason = verify(response, REF)
    assert time.perf_counter() - start < 0.5
    assert correct is False and reason.startswith("error:"), reason


def test_nested_within_caps_still_parses():
    assert verify("(" * 30 + "(3+5)*2" + ")" * 30, REF) == (True, "correct")


SYMBOLS = "0123456789+-*/() ×÷−.=<>answer/%_"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(alphabet=SYMBOLS, max_size=60)))
def test_never_raises_and_reason_is_known(response):
    correct, reason = verify(response, REF, numbers_use="exactly_once")
    assert reason in ("correct", "wrong", "no_answer") or reason.startswith("error: ")
    assert (correct is None) == (reason == "no_answer")
    assert (correct is True) == (reason == "correct")


def test_bad_reference_and_option_raise():
    with pytest.raises(ValueError, match="reference"):
        verify("1", {"numbers": [1]})
    with pytest.raises(ValueError, match="reference"):
        verify("1", {"numbers": [1.5], "target": 1})
    with pytest.raises(ValueError, match="numbers_use"):
        verify("1", {"numbers": [1], "target": 1}, numbers_use="twice")


def test_extract_expression():
    assert extract_expression("<answer> 2*8 </answer>", 16) == "2*8"
    assert extract_expression("2*8 = 16", 16) == "2*8"
    assert extract_expression("2*8 = 16", 17) == "16"
    assert extract_expression("<answer>2*8", 16) == "<answer>2*8"  # unclosed: no block
    assert extract_expression("no digits here", 16) is None


# --- canonical forms ---------------------------------------------------------------------------

SAME = [
    ("(3+5)*2", "2*(5+3)", "2*(3+5)"),
    ("3+(5+2)", "(3+5)+2", "2+3+5"),
    ("2*(3*4)", "(4*2)*3", "2*3*4"),
    ("((3+5))*(2)", "2*(3+5)", "2*(3+5)"),
    ("(8-3)-2", "8-3-2", "8-3-2"),
    ("7+(5-2)", "(5-2)+7", "5-2+7"),
    ("4*(2/3)", "(2/3)*4", "2/3*4"),
    ("(2*3)/4", "3*2/4", "2*3/4"),
    ("2/(3*4)", "2/(4*3)", "2/(3*4)"),
    ("(1+2)-(3+4)", "(2+1)-(4+3)", "1+2-(3+4)"),
    ("(9-1)*(9-1)", "(9-1)*(9-1)", "(9-1)*(9-1)"),
    ("12/(6/2)", "12/(6/2)", "12/(6/2)"),
    ("10×2−3", "2*10-3", "2*10-3"),
    ("10+(2+1)", "1+10+2", "1+2+10"),  # literals in numeric order, before compound operands
    ("(1+2)*10", "10*(2+1)", "10*(1+2)"),
]


@pytest.mark.parametrize(("a", "b", "form"), SAME)
def test_canonical_form_equalities(a, b, form):
    assert canonical_form(a) == canonical_form(b) == form


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("3-5", "5-3"),
        ("6/2", "2/6"),
        ("(3+5)*2", "3+5*2"),
        ("8-3-2", "8-(3-2)"),
        ("8/4/2", "8/(4/2)"),
        ("5-2+7", "5+7-2"),  # - stays binary: documented
        ("2*3/1", "3/1*2"),  # / stays binary: documented
        ("2+2", "2*2"),
    ],
)
def test_canonical_form_inequalities(a, b):
    assert canonical_form(a) != canonical_form(b)


def test_canonical_form_rejects_invalid():
    for bad in ("", "2**3", "1+", "abc"):
        with pytest.raises(ExpressionError):
            canonical_form(bad)


def _evaluate(tree):
    if tree[0] == "n":
        return Fraction(tree[1])
    a, b = _evaluate(tree[1]), _evaluate(tree[2])
    if tree[0] == "/":
        return None if b in (None, 0) or a is None else a / b
    if a is None or b is None:
        return None
    return {"+": a + b, "-": a - b, "*": a * b}[tree[0]]


def _print(tree):
    return str(tree[1]) if tree[0] == "n" else f"({_print(tree[1])}{tree[0]}{_print(tree[2])})"


def _shuffle_commutative(tree, rng):
    """Swap operands of + and *, and re-associate same-operator chains, at random."""
    if tree[0] == "n":
        return tree
    op, left, right = tree[0], *(_shuffle_commutative(t, rng) for t in tree[1:])
    if op in "+*":
        if rng.random() < 0.5:
            left, right = right, left
        if left[0] == op and rng.random() < 0.5:  # (a op b) op c -> a op (b op c)
            return (op, left[1], (op, left[2], right))
    return (op, left, right)


trees = st.recursive(
    st.integers(0, 30).map(lambda n: ("n", n)),
    lambda sub: st.tuples(st.sampled_from("+-*/"), sub, sub),
    max_leaves=7,
)


@settings(max_examples=300, deadline=None)
@given(trees, st.integers(0, 2**32 - 1))
def test_canonical_form_is_an_invariant(tree, seed):
    text = _print(tree)
    form = canonical_form(text)
    assert canonical_form(form) == form  # idempotent: the printed form parses to the same tree
    assert _evaluate(parse_expression(form)) == _evaluate(tree)  # and keeps the value
    assert " " not in form
    shuffled = _print(_shuffle_commutative(tree, random.Random(seed)))
    assert canonical_form(shuffled) == form
