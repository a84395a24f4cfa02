"""Countdown verifier: does a proposed arithmetic expression over the numbers reach the target?

Answer extraction (``extract_expression``), in this order:

1. If the response holds a complete ``<answer>...</answer>`` block (the TinyZero / Countdown
   papers' format), the content of the *last* such block is the candidate; otherwise the whole
   response is (our tiny model answers with the bare expression, e.g. ``(3+5)*2``, then EOS).
2. The candidate is split on ``=``. A trailing part that is exactly the target (``(3+5)*2 = 16``)
   is dropped; the expression is then the last remaining part (``x = (3+5)*2`` gives
   ``(3+5)*2``). A trailing claimed result other than the target is therefore what gets judged,
   and it fails (``15`` is not an expression over the numbers that equals 16).
3. An empty candidate, or one without a single digit ("I don't know"), is *no answer*.

Judging. The expression grammar is::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := INTEGER | "(" expr ")"

with ASCII whitespace anywhere between tokens, ``×`` ``÷`` and the unicode minus ``−`` read as
``*`` ``/`` ``-``. There are no unary signs, decimals, exponents, ``//``, ``%``, names or calls.
It is parsed by a small recursive-descent parser (never ``eval``), after caps on length,
parenthesis depth, literal count and literal size, so adversarial input is rejected in
microseconds and can never raise ``RecursionError``. Literals are matched against the given
numbers as a multiset (``numbers_use="at_most_once"``: each occurrence used at most once;
``"exactly_once"``: every occurrence used exactly once) and the value is computed exactly with
``fractions.Fraction``, so ``8/(3-8/3)`` is exactly 24 although floats say 23.999999999999993.

Outcomes of ``verify``: ``(True, "correct")``; ``(False, "wrong")`` for a valid expression with
another value; ``(None, "no_answer")``; ``(False, "error: <why>")`` when the answer breaks the
rules (syntax, a number not available or used too often, division by zero, too long, ...).
A malformed *reference* is a bug in the data, not in the response, and raises ``ValueError``.

``canonical_form`` names an expression up to commutativity and associativity of ``+`` and of
``*``: same-operator chains are flattened and their operands sorted; ``-`` and ``/`` stay binary
(``a-b+c`` and ``a+c-b`` differ, and so do ``12-3+1`` and ``1-(3-12)``). Chain operands are
ordered ``-`` (or ``/``) operands first, then literals by value, then other operands by text. The
result is itself a valid expression, printed with the fewest parentheses that keep that tree and
no spaces: ``canonical_form("(5+3)*2") == "2*(3+5)"``. Diversity metrics count distinct forms,
and the data generator stores solutions in this form.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import NamedTuple

MAX_EXPRESSION_CHARS = 1000
"""Longest expression (after extraction) that is parsed at all."""
MAX_DEPTH = 32
"""Deepest parenthesis nesting accepted; keeps the recursive parser far from Python's limit."""
MAX_LITERALS = 64
"""Most integer literals in one expression; bounds the tree size (and recursion) everywhere."""
MAX_LITERAL_DIGITS = 20
"""Longest integer literal; avoids quadratic ``int()`` on megabyte digit strings."""

NUMBERS_USE = ("at_most_once", "exactly_once")

_UNICODE_OPERATORS = str.maketrans({"×": "*", "÷": "/", "−": "-"})
_OPERATORS = "+-*/"
_WHITESPACE = " \t\n\r\f\v"
_ANSWER_OPEN, _ANSWER_CLOSE = "<answer>", "</answer>"


class ExpressionError(ValueError):
    """The text is not a valid Countdown expression; the message says why."""


# A parsed expression: ("n", value) for a literal, (op, left, right) for a binary operation.
Tree = tuple


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _tokenize(expr: str) -> list[str | int]:
    """Split into operator/parenthesis characters and int literals, enforcing every cap."""
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    text = expr.translate(_UNICODE_OPERATORS)
    tokens: list[str | int] = []
    depth = literals = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif "0" <= c <= "9":
            j = i
            while j < n and "0" <= text[j] <= "9":
                j += 1
            if j < n and text[j] == ".":
                raise ExpressionError(f"only integer literals are allowed, got {text[i : j + 1]!r}")
            if j - i > MAX_LITERAL_DIGITS:
                raise ExpressionError(f"integer literal longer than {MAX_LITERAL_DIGITS} digits")
            literals += 1
            if literals > MAX_LITERALS:
                raise ExpressionError(f"more than {MAX_LITERALS} numbers in the expression")
            tokens.append(int(text[i:j]))
            i = j
        elif c in _OPERATORS:
            if c in "*/" and text[i + 1 : i + 2] == c:
                raise ExpressionError(f"operator {c + c!r} is not allowed (only + - * /)")
            tokens.append(c)
            i += 1
        elif c == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"parentheses nested deeper than {MAX_DEPTH}")
            tokens.append(c)
            i += 1
        elif c == ")":
            depth -= 1
            tokens.append(c)
            i += 1
        elif c == ".":
            raise ExpressionError("only integer literals are allowed (found '.')")
        else:
            raise ExpressionError(f"character {c!r} is not allowed (only digits, + - * / and ())")
    return tokens


class _Parser:
    """Recursive descent over the token list; depth is bounded by ``MAX_DEPTH`` already."""

    def __init__(self, tokens: list[str | int]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | int | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Tree:
        if not self.tokens:
            raise ExpressionError("empty expression")
        tree = self.expr()
        if self.pos != len(self.tokens):
            raise ExpressionError(
                f"unexpected {self.tokens[self.pos]!r} after a complete expression"
            )
        return tree

    def expr(self) -> Tree:
        tree = self.term()
        while self.peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            tree = (op, tree, self.term())
        return tree

    def term(self) -> Tree:
        tree = self.factor()
        while self.peek() in ("*", "/"):
            op = self.tokens[self.pos]
            self.pos += 1
            tree = (op, tree, self.factor())
        return tree

    def factor(self) -> Tree:
        token = self.peek()
        self.pos += 1
        if isinstance(token, int):
            return ("n", token)
        if token == "(":
            tree = self.expr()
            if self.peek() != ")":
                raise ExpressionError("missing ')'")
            self.pos += 1
            return tree
        if token is None:
            raise ExpressionError("expression ends where a number or '(' was expected")
        if token in ("+", "-"):
            raise ExpressionError(f"unary {token!r} is not allowed (binary operators only)")
        raise ExpressionError(f"unexpected {token!r} where a number or '(' was expected")


def parse_expression(expr: str) -> Tree:
    """Parse ``expr`` into a tree of ``("n", int)`` / ``(op, left, right)``; ``ExpressionError``."""
    return _Parser(_tokenize(expr)).parse()


def _literals(tree: Tree) -> list[int]:
    if tree[0] == "n":
        return [tree[1]]
    return _literals(tree[1]) + _literals(tree[2])


_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _evaluate(tree: Tree) -> Fraction:
    """Exact value; ``ExpressionError`` on division by zero."""
    if tree[0] == "n":
        return Fraction(tree[1])
    left, right = _evaluate(tree[1]), _evaluate(tree[2])
    if tree[0] == "/":
        if right == 0:
            raise ExpressionError("division by zero")
        return left / right
    return _ARITHMETIC[tree[0]](left, right)


# ---------------------------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------------------------


class CanonicalNode(NamedTuple):
    """An expression up to commutativity/associativity of + and *.

    ``op`` is ``"n"`` for a literal, else the operator; ``children`` are the flattened, sorted
    operands of a ``+``/``*`` chain or ``(left, right)`` of ``-``/``/``; ``text`` is the printed
    form. Two expressions are the same solution iff their ``text`` is equal.
    """

    op: str
    text: str
    children: tuple[CanonicalNode, ...] = ()


def literal_node(value: int) -> CanonicalNode:
    """The canonical node of an integer literal."""
    return CanonicalNode("n", str(value))


def _chain_sort_key(inverse: str):
    # Children that are ``-`` (in a + chain) or ``/`` (in a * chain) go first: the first one then
    # needs no parentheses (a-b+c is (a-b)+c), which keeps the printed form minimal. Then
    # literals in numeric order (2*10, not 10*2), then the other compound operands by text.
    def key(node: CanonicalNode) -> tuple[bool, bool, int, str]:
        is_literal = node.op == "n"
        return node.op != inverse, not is_literal, int(node.text) if is_literal else 0, node.text

    return key


_SUM_KEY, _PRODUCT_KEY = _chain_sort_key("-"), _chain_sort_key("/")


def _wrap(node: CanonicalNode, parenthesise: bool) -> str:
    return f"({node.text})" if parenthesise else node.text


def combine(op: str, left: CanonicalNode, right: CanonicalNode) -> CanonicalNode:
    """The canonical node of ``left op right``.

    Parentheses follow the usual precedence with left associativity: ``+`` chains wrap a ``-``
    operand unless it comes first; ``*`` chains wrap ``+``/``-`` and any ``/`` but the first;
    ``a-b`` wraps a ``+``/``-`` right side; ``a/b`` wraps a ``+``/``-`` left side and any
    compound right side.
    """
    if op in ("+", "*"):
        children = (left.children if left.op == op else (left,)) + (
            right.children if right.op == op else (right,)
        )
        if op == "+":
            children = tuple(sorted(children, key=_SUM_KEY))
            parts = [_wrap(c, i > 0 and c.op == "-") for i, c in enumerate(children)]
        else:
            children = tuple(sorted(children, key=_PRODUCT_KEY))
            parts = [
                _wrap(c, c.op in ("+", "-") or (i > 0 and c.op == "/"))
                for i, c in enumerate(children)
            ]
        return CanonicalNode(op, op.join(parts), children)
    if op == "-":
        text = left.text + "-" + _wrap(right, right.op in ("+", "-"))
    elif op == "/":
        text = _wrap(left, left.op in ("+", "-")) + "/" + _wrap(right, right.op != "n")
    else:
        raise ValueError(f"unknown operator {op!r}; expected one of {_OPERATORS!r}")
    return CanonicalNode(op, text, (left, right))


def _canonical_node(tree: Tree) -> CanonicalNode:
    if tree[0] == "n":
        return literal_node(tree[1])
    return combine(tree[0], _canonical_node(tree[1]), _canonical_node(tree[2]))


def canonical_form(expr: str) -> str:
    """The expression up to commutativity and associativity of ``+`` and ``*`` (see module doc).

    ``canonical_form("(3+5)*2") == canonical_form("2*(5+3)") == "2*(3+5)"``. Idempotent, and the
    result parses back to the same value. Raises ``ExpressionError`` (a ``ValueError``) for text
    that is not a valid expression.
    """
    return _canonical_node(parse_expression(expr)).text


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------


def extract_expression(response: str, target: int | None = None) -> str | None:
    """The candidate expression in ``response`` (rules in the module doc), or None if none."""
    candidate = response
    close = response.rfind(_ANSWER_CLOSE)
    if close >= 0:
        open_ = response.rfind(_ANSWER_OPEN, 0, close)
        if open_ >= 0:
            candidate = response[open_ + len(_ANSWER_OPEN) : close]
    parts = [part.strip() for part in candidate.split("=")]
    if len(parts) > 1 and target is not None and parts[-1] == str(target):
        parts.pop()
    expression = parts[-1]
    if not any(c.isdigit() for c in expression):  # unicode digits count: they get an error
        return None
    return expression


def _check_reference(reference: dict) -> tuple[list[int], int]:
    try:
        numbers = [operator.index(x) for x in reference["numbers"]]
        target = operator.index(reference["target"])
    except (KeyError, TypeError) as e:
        raise ValueError(
            "a Countdown reference must be {'numbers': [int, ...], 'target': int}, "
            f"got {reference!r} ({e})"
        ) from e
    return numbers, target


def check_numbers(used: Iterable[int], numbers: Sequence[int], numbers_use: str) -> str | None:
    """Why ``used`` (a multiset of literals) breaks the usage rule, or None if it does not."""
    if numbers_use not in NUMBERS_USE:
        raise ValueError(f"numbers_use must be one of {NUMBERS_USE}, got {numbers_use!r}")
    used_count, available = Counter(used), Counter(numbers)
    for value, count in sorted(used_count.items()):
        if value not in available:
            return f"number {value} is not among the given numbers {list(numbers)}"
        if count > available[value]:
            return f"number {value} used {count} times but given {available[value]} time(s)"
    if numbers_use == "exactly_once":
        unused = sorted((available - used_count).elements())
        if unused:
            return f"numbers {unused} are not used (every number must be used exactly once)"
    return None


def verify(
    response: str, reference: dict, *, numbers_use: str = "at_most_once"
) -> tuple[bool | None, str]:
    """Judge a Countdown response against ``{"numbers": [...], "target": int}``.

    Returns ``(correct, reason)`` with reason ``"correct"``, ``"wrong"``, ``"no_answer"`` (then
    ``correct`` is None) or ``"error: <why>"``; see the module docstring for the rules.
    """
    numbers, target = _check_reference(reference)
    if numbers_use not in NUMBERS_USE:
        raise ValueError(f"numbers_use must be one of {NUMBERS_USE}, got {numbers_use!r}")
    expression = extract_expression(response, target)
    if expression is None:
        return None, "no_answer"
    try:
        tree = parse_expression(expression)
        problem = check_numbers(_literals(tree), numbers, numbers_use)
        if problem is not None:
            return False, f"error: {problem}"
        value = _evaluate(tree)
    except ExpressionError as e:
        return False, f"error: {e}"
    return (True, "correct") if value == target else (False, "wrong")
