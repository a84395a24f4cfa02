"""Math answers: extract the final answer, reject pathological ones, decide equivalence.

Extraction: the last ``\\boxed{...}`` (or ``\\fbox``, nested braces and ``\\{``/``\\}`` allowed)
or the last ``Answer: ...`` line (the DAPO-Math prompt format), whichever comes later; one pass
over the response whatever it holds.

Equivalence, in order: a multiple-choice letter when the reference is one (``B``, ``(B)``);
otherwise math-verify (LaTeX -> sympy: fractions, decimals, percentages, intervals, sets,
tuples, ``x = 2``, units and ``\\text`` around numbers, degrees, ``\\sqrt``, ``\\dfrac``) with
numbers compared to 12 decimal places ("exact": ``0.333`` is not ``1/3``), then, if
``tolerance > 0``, a numeric comparison ``|a - b| <= tolerance * max(1, |reference|)``; when
math-verify cannot parse a side, a sympy fallback on plain arithmetic, then a normalised string
comparison (for text answers). Relations are judged before (``relation_problem``): ``2+2=5``
is wrong whatever the reference, and candidates joined by a connective form a set.

Guards: the answer is text a model wrote and sympy evaluates eagerly, so ``10^(10^(10^10))``
would try to build a number with 10^10^10 digits. Answers that are too long or too deeply
nested, and answers whose parsed (unevaluated) form raises something to a power above
``MAX_EXPONENT``, takes a factorial, gamma or binomial above ``MAX_FACTORIAL`` or builds a
number of more than ``MAX_DIGITS`` digits are judged wrong before anything is evaluated. The
pool's timeout and memory limit remain the backstop for what these bounds miss.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import threading

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
from math_verify import verify as mv_verify

MAX_ANSWER_CHARS = 1000
MAX_NESTING = 30
MAX_EXPONENT = 100_000
MAX_FACTORIAL = 10_000
MAX_DIGITS = 1_000_000
FLOAT_DIGITS = 12
"""Decimal places math-verify rounds numbers to: far beyond what a model writes by hand."""

_PARSE_CONFIG = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)
_BARE_TOKEN = re.compile(r"[^\s$]+")
_ANSWER_LINE = re.compile(r"(?im)^[ \t>*#_]*(?:final[ \t]+)?answer[ \t*_]*:[ \t*_]*(.*\S)")
_SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_CHOICE_REFERENCE = re.compile(r"^\(?([A-J])\)?$")
_CHOICE_ANSWER = re.compile(r"^\(?([A-J])\)?(?=$|[\s.:)])")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_OPEN, _CLOSE = "({[", ")}]"
_EXPLOSIVE_OPERATOR = re.compile(r"[\^!]|\*\*|binom|choose|gamma|prod|exp|fact", re.I)
"""What can make sympy build a huge number; answers without any skip the parsed-form guard."""
_LOG_MAX_EXPONENT = math.log10(MAX_EXPONENT)
_LOG_MAX_FACTORIAL = math.log10(MAX_FACTORIAL)
_EQUALS = re.compile(r"(?<![<>!=:])=(?!=)")
_CONNECTIVE = re.compile(r"\\(?:wedge|land|lor|vee)(?![A-Za-z])")


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


def _group_ends(text: str) -> dict[int, int]:
    r"""For each ``{`` of ``text`` that closes, the index just past its ``}``.

    One pass with a stack (``\{`` and ``\}`` are literal braces of sets, not grouping), so a
    response of thousands of unclosed ``\boxed{`` costs linear time instead of a rescan to the
    end per box.
    """
    ends: dict[int, int] = {}
    stack: list[int] = []
    for match in _BRACE_TOKEN.finditer(text):
        token = match.group()
        if token == "{":
            stack.append(match.start())
        elif token == "}" and stack:
            ends[stack.pop()] = match.end()
    return ends


def _last_boxed(text: str) -> tuple[int, str] | None:
    boxes = list(_BOXED.finditer(text))
    if not boxes:
        return None
    ends = _group_ends(text)
    for match in reversed(boxes):
        start = match.end()
        if text.startswith("{", start):
            end = ends.get(start)
            if end is not None:
                return match.start(), text[start + 1 : end - 1]
        else:  # \boxed 5
            token = _BARE_TOKEN.match(text, start)
            if token:
                return match.start(), token.group()
    return None


def _strip_math(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(left) and answer.endswith(right) and len(answer) > len(left) + 1:
            answer = answer[len(left) : -len(right)].strip()
    return answer.strip("*_ ").rstrip(".").strip()


def extract_answer(response: str) -> str | None:
    """The final answer in ``response`` (see module doc), or None when there is none."""
    boxed = _last_boxed(response)
    lines = list(_ANSWER_LINE.finditer(response))
    line = (lines[-1].start(), lines[-1].group(1)) if lines else None
    found = max((c for c in (boxed, line) if c is not None), default=None)
    if found is None:
        return None
    answer = found[1]
    inner = _last_boxed(answer)  # "Answer: \boxed{5}"
    if inner is not None:
        answer = inner[1]
    answer = _strip_math(answer)
    return answer or None


# ---------------------------------------------------------------------------------------------
# Guards
# ---------------------------------------------------------------------------------------------


def _nesting(text: str) -> int:
    depth = deepest = 0
    for c in text:
        if c in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif c in _CLOSE:
            depth -= 1
    return deepest


def _pow10(log: float) -> float:
    return 10.0**log if log < 300 else math.inf


def _log10(atom: sympy.Basic) -> float:
    """log10 of an upper bound of ``|atom|`` and ``|1/atom|`` (a negative power divides)."""
    if isinstance(atom, sympy.Rational):  # Integer too
        return math.log10(max(abs(atom.p), atom.q) + 1)
    if isinstance(atom, sympy.Float):  # floats are cheap at any size: only their value counts
        value = abs(float(atom))
        return math.log10(value + 1) if math.isfinite(value) else math.inf
    return 1.0  # pi, E, I, a symbol: never evaluated into a large number by themselves


def _bound(expr: sympy.Basic) -> float:
    """log10 of an upper bound of ``|expr|`` once evaluated; raises ``_Explosive`` when
    evaluating it would build a number too large to compute (see ``guard``)."""
    if not expr.args:
        return _log10(expr)
    if isinstance(expr, (sympy.Sum, sympy.Product)):
        terms = max(_bound(end) for limits in expr.limits for end in limits[1:])
        inner = _bound(expr.function)
        if isinstance(expr, sympy.Sum):
            log = terms + inner
        elif terms > _LOG_MAX_FACTORIAL:
            raise _Explosive(f"a product of more than {MAX_FACTORIAL} terms")
        else:
            log = inner * _pow10(terms)
    else:
        bounds = [_bound(arg) for arg in expr.args]
        if isinstance(expr, (sympy.Pow, sympy.exp)):
            base, exponent = bounds if len(bounds) == 2 else (math.log10(3), bounds[0])
            if exponent > _LOG_MAX_EXPONENT:
                raise _Explosive(f"exponent larger than {MAX_EXPONENT}")
            log = base * _pow10(exponent)
        elif isinstance(expr, (sympy.factorial, sympy.gamma, sympy.factorial2, sympy.subfactorial)):
            if bounds[0] > _LOG_MAX_FACTORIAL:
                raise _Explosive(f"factorial of a number larger than {MAX_FACTORIAL}")
            log = math.lgamma(_pow10(bounds[0]) + 1) / math.log(10)
        elif isinstance(expr, sympy.binomial):  # C(n, k) <= 2^n and <= n^k
            if min(bounds) > _LOG_MAX_FACTORIAL:
                raise _Explosive(f"binomial coefficient of numbers larger than {MAX_FACTORIAL}")
            n, k = bounds
            log = _pow10(n) * math.log10(2) if n <= _LOG_MAX_FACTORIAL else n * _pow10(k)
        elif isinstance(expr, sympy.Mul):
            log = sum(bounds)
        else:  # sums, functions, relations, sets, tuples: about their largest part
            log = max(bounds) + math.log10(len(bounds))
    if log > MAX_DIGITS:
        raise _Explosive(f"a number with more than {MAX_DIGITS} digits")
    return log


class _Explosive(Exception):
    """Evaluating the answer would build an astronomically large number."""


def _parsed_guard(answer: str, timeout: int | None) -> str | None:
    """Why evaluating the parsed form of ``answer`` would explode, or None.

    The answer is parsed once more with sympy's evaluation switched off, so ``(99999)!``,
    ``{99999}!``, ``\\left(10\\right)^{10^{10}}``, ``1e100000000`` (read as ``10^{...}``) and
    ``\\Gamma(10^8)`` all reach the same tree as the evaluating parse, which then never runs.
    """
    try:
        parsed = _parse(answer, timeout, evaluate=False)
    except Exception as e:  # the evaluating parse would meet the same problem: fail closed
        return f"unparseable ({type(e).__name__})"
    try:
        for expr in parsed:
            if isinstance(expr, sympy.Basic):
                _bound(expr)
    except _Explosive as e:
        return str(e)
    except (OverflowError, RecursionError):
        return "a number too large to bound"
    return None


def guard(answer: str, timeout_s: float = 5.0) -> str | None:
    """Why ``answer`` is too dangerous to hand to sympy, or None.

    Text checks first (length, bracket depth); then, when the answer has an operator that can
    build a huge number (``^``, ``!``, ``\\binom``, ``\\Gamma``, ``\\prod``, ...), the bounds of
    its parsed, unevaluated form: every exponent at most ``MAX_EXPONENT``, every factorial,
    gamma or binomial argument at most ``MAX_FACTORIAL``, every intermediate number at most
    ``MAX_DIGITS`` digits.
    """
    if len(answer) > MAX_ANSWER_CHARS:
        return f"answer longer than {MAX_ANSWER_CHARS} characters"
    if _nesting(answer) > MAX_NESTING:
        return f"brackets nested deeper than {MAX_NESTING}"
    normalised = _normalise(answer)
    if _EXPLOSIVE_OPERATOR.search(normalised) is None:
        return None
    return _parsed_guard(normalised, _signal_timeout(timeout_s))


def _normalise(answer: str) -> str:
    """LaTeX forms math-verify misreads: ``1.5e3``, ``°``, and logical connectives, which it
    reduces to their last operand (``x=5 \\wedge x=7`` would read as 7): a comma makes the
    candidates a set, which equals only a reference that is the same set."""
    answer = _SCIENTIFIC.sub(r"\1\\times 10^{\2}", answer)
    answer = _CONNECTIVE.sub(",", answer)
    return answer.replace("°", "^\\circ")


def _signal_timeout(timeout_s: float) -> int | None:
    """math-verify's own (SIGALRM) timeout; only usable on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return max(1, int(timeout_s))


@functools.lru_cache(maxsize=4096)
def _parse(answer: str, timeout: int | None, evaluate: bool = True) -> list:
    with sympy.evaluate(evaluate):
        return parse(f"${answer}$", extraction_config=_PARSE_CONFIG, parsing_timeout=timeout)


def _numbers(parsed: list) -> list[complex]:
    values = []
    for expr in parsed:
        if isinstance(expr, sympy.Eq):  # x = 2
            expr = expr.rhs
        if isinstance(expr, sympy.Basic) and expr.is_number:
            with contextlib.suppress(TypeError, ValueError):
                values.append(complex(sympy.N(expr)))
    return values


def _close(gold: list, pred: list, tolerance: float) -> bool:
    return any(
        abs(a - b) <= tolerance * max(1.0, abs(a)) for a in _numbers(gold) for b in _numbers(pred)
    )


_PLAIN = re.compile(r"^(?:[0-9.+\-*/() ]|sqrt|pi)+$")


def _plain_sympy(answer: str) -> sympy.Expr | None:
    """Plain arithmetic (digits, + - * / ^, sqrt, pi) as sympy; None for anything else,
    including arithmetic whose evaluation would explode (the same bounds as ``guard``)."""
    text = answer.replace("\\left", "").replace("\\right", "").replace("\\pi", "pi")
    text = text.replace("\\cdot", "*").replace("\\times", "*").replace("^", "**")
    text = re.sub(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", text)
    text = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", text).replace("{", "(").replace("}", ")")
    if not _PLAIN.match(text):
        return None  # whitelisted tokens only: sympify evaluates Python
    try:
        _bound(sympy.sympify(text, evaluate=False))
        return sympy.sympify(text)
    except (_Explosive, OverflowError, RecursionError):
        return None
    except (sympy.SympifyError, SyntaxError, TypeError, ValueError):
        return None


def _text_key(answer: str) -> str:
    return re.sub(r"\s|\\left|\\right", "", _TEXT_WRAPPER.sub(r"\1", answer))


def relation_problem(answer: str, tolerance: float = 0.0, timeout_s: float = 5.0) -> str | None:
    """Why the relations in ``answer`` make it wrong whatever the reference, or None.

    math-verify reads a relation as its right-hand side and keeps only the last of several
    candidates it cannot combine, so ``2+2=5`` would pass for 5 and ``x=5 \\\\ x=7`` for 7.
    Wrong here: a relation between two numbers that does not hold (``2+2=5``; ``10-3=7`` is
    fine), and an answer with more ``=`` than its parsed form keeps (candidates dropped).
    Sides that are not numbers (``x = 5``, ``a+b = 7``, ``f(2) = 7``) name the quantity and
    are left alone; candidates joined by ``,`` ``\\text{or}`` ``\\wedge`` ``\\lor`` form a set
    (``_normalise``), which equals only a reference that is the same set.
    """
    if _EQUALS.search(answer) is None:
        return None  # no relation to judge (and no parse to pay for)
    timeout = _signal_timeout(timeout_s)
    parsed = [e for e in _parse(_normalise(answer), timeout) if isinstance(e, sympy.Basic)]
    relations = [
        node for e in parsed for node in sympy.preorder_traversal(e) if isinstance(node, sympy.Eq)
    ]
    if parsed and len(_EQUALS.findall(answer)) > len(relations):
        return "several candidates (the parsed answer drops some of its '=')"
    for relation in relations:
        lhs, rhs = relation.args
        if not (lhs.is_number and rhs.is_number):
            continue
        holds = mv_verify(rhs, lhs, float_rounding=FLOAT_DIGITS, timeout_seconds=timeout)
        if not (holds or (tolerance > 0 and _close([rhs], [lhs], tolerance))):
            return f"{lhs} = {rhs} does not hold"
    return None


@functools.lru_cache(maxsize=4096)
def equivalent(reference: str, answer: str, tolerance: float = 0.0, timeout_s: float = 5.0) -> bool:
    """Whether ``answer`` means ``reference`` (see module doc); both are bare answers."""
    if _text_key(reference) == _text_key(answer):
        return True
    timeout = _signal_timeout(timeout_s)
    gold, pred = _parse(_normalise(reference), timeout), _parse(_normalise(answer), timeout)
    if gold and pred:
        if relation_problem(answer, tolerance, timeout_s) is not None:
            return False
        if mv_verify(gold, pred, float_rounding=FLOAT_DIGITS, timeout_seconds=timeout):
            return True
        return tolerance > 0 and _close(gold, pred, tolerance)
    a, b = _plain_sympy(reference), _plain_sympy(answer)
    if a is None or b is None:
        return False
    if tolerance > 0:
        return _close([a], [b], tolerance)
    return bool(sympy.simplify(a - b) == 0)


def _choice(text: str) -> str | None:
    text = _TEXT_WRAPPER.sub(r"\1", text).strip()
    match = _CHOICE_ANSWER.match(text)
    return match.group(1) if match else None


def reference_answer(reference: str) -> str:
    """The bare answer of a reference string (it may itself be boxed or in ``$...$``)."""
    boxed = _last_boxed(reference)
    return _strip_math(boxed[1] if boxed else reference)


def verify(
    response: str, reference: str, *, tolerance: float = 0.0, timeout_s: float = 5.0
) -> tuple[str, str]:
    """Judge ``response`` against the reference answer: ``(reason, detail)``.

    ``reason`` is ``correct``, ``wrong`` or ``no_answer``; ``detail`` says what was compared.
    """
    answer = extract_answer(response)
    if answer is None:
        return "no_answer", "no \\boxed{...} and no 'Answer:' line"
    problem = guard(answer, timeout_s)
    if problem is not None:
        return "wrong", f"rejected: {problem}"
    gold = reference_answer(reference)
    letter = _CHOICE_REFERENCE.match(_TEXT_WRAPPER.sub(r"\1", gold).strip())
    if letter:
        ok = _choice(answer) == letter.group(1)
    else:
        problem = relation_problem(answer, tolerance, timeout_s)
        if problem is not None:
            return "wrong", f"rejected: {problem}"
        ok = equivalent(gold, answer, tolerance, timeout_s)
    return ("correct" if ok else "wrong"), f"answer {answer[:200]!r}"


def warm_up() -> None:
    """Build the LaTeX parser's tables and sympy's caches (~1 s the first time).

    Called at import, so a fork server that preloads this module hands every worker, including
    each replacement of a dead one, a warm parser.
    """
    equivalent("x+1", "\\frac{x^2-1}{x-1}")
    verify("\\boxed{\\frac{1}{2}}", "0.5")


warm_up()
