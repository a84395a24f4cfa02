"""Math answers: extract the final answer, reject pathological ones, decide equivalence.

Extraction: the last ``\\boxed{...}`` (or ``\\fbox``, nested braces and ``\\{``/``\\}`` allowed)
or the last ``Answer: ...`` line (the DAPO-Math prompt format), whichever comes later.

Equivalence, in order: a multiple-choice letter when the reference is one (``B``, ``(B)``);
otherwise math-verify (LaTeX -> sympy: fractions, decimals, percentages, intervals, sets,
tuples, ``x = 2``, units and ``\\text`` around numbers, degrees, ``\\sqrt``, ``\\dfrac``) with
numbers compared to 12 decimal places ("exact": ``0.333`` is not ``1/3``), then, if
``tolerance > 0``, a numeric comparison ``|a - b| <= tolerance * max(1, |reference|)``; when
math-verify cannot parse a side, a sympy fallback on plain arithmetic, then a normalised string
comparison (for text answers).

Guards: the answer is text a model wrote and sympy evaluates eagerly, so ``10^(10^(10^10))``
would try to build a number with 10^10^10 digits. Answers that are too long, too deeply
nested, raise something to a power above ``MAX_EXPONENT`` or take a factorial above
``MAX_FACTORIAL`` are judged wrong before sympy sees them. The pool's timeout and memory
limit remain the backstop for anything these heuristics miss.
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
FLOAT_DIGITS = 12
"""Decimal places math-verify rounds numbers to: far beyond what a model writes by hand."""

_PARSE_CONFIG = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_ANSWER_LINE = re.compile(r"(?im)^[ \t>*#_]*(?:final[ \t]+)?answer[ \t*_]*:[ \t*_]*(.*\S)")
_SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_CHOICE_REFERENCE = re.compile(r"^\(?([A-J])\)?$")
_CHOICE_ANSWER = re.compile(r"^\(?([A-J])\)?(?=$|[\s.:)])")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_OPEN, _CLOSE = "({[", ")}]"


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


def _braced(text: str, start: int) -> int | None:
    """Index just past the group opening at ``text[start] == "{"``; None if it never closes."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2  # \{ and \} are literal braces (sets), not grouping
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _last_boxed(text: str) -> tuple[int, str] | None:
    for match in reversed(list(_BOXED.finditer(text))):
        start = match.end()
        if text[start : start + 1] == "{":
            end = _braced(text, start)
            if end is not None:
                return match.start(), text[start + 1 : end - 1]
        else:  # \boxed 5
            token = re.match(r"[^\s$]+", text[start:])
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


def _group_end(text: str, i: int) -> int:
    """End of the operand starting at ``i``: a bracketed group, a number, a command or a char."""
    if i < len(text) and text[i] in _OPEN:
        depth = 0
        for j in range(i, len(text)):
            if text[j] in _OPEN:
                depth += 1
            elif text[j] in _CLOSE:
                depth -= 1
                if depth == 0:
                    return j + 1
        return len(text)
    token = re.match(r"-?\d+(?:\.\d+)?|\\?[A-Za-z]+|.", text[i:])
    return i + (token.end() if token else 0)


def _operand(text: str, i: int) -> str:
    """The exponent starting at ``i``, including a right-associative chain (``10^10^10``)."""
    end = _group_end(text, i)
    while True:
        power = re.match(r"\^|\*\*", text[end:])
        if not power:
            return text[i:end]
        end = _group_end(text, end + power.end())


def _split_power(text: str) -> tuple[str, str] | None:
    depth = 0
    for i, c in enumerate(text):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0 and (c == "^" or text.startswith("**", i)):
            return text[:i], text[i + (2 if c == "*" else 1) :]
    return None


def _magnitude(text: str) -> float:
    """A rough upper bound of the value ``text`` denotes (inf when astronomically large)."""
    text = text.strip()
    while len(text) >= 2 and text[0] in _OPEN and _group_end(text, 0) == len(text):
        text = text[1:-1].strip()
    if text.isdigit():
        return float(text) if len(text) < 300 else math.inf
    power = _split_power(text)
    if power is not None:
        base, exponent = _magnitude(power[0]), _magnitude(power[1])
        if base <= 1:
            return 1.0
        log10 = exponent * math.log10(base)
        return math.inf if log10 > 300 else 10.0**log10
    numbers = re.findall(r"\d+", text)
    return max((float(n) if len(n) < 300 else math.inf for n in numbers), default=0.0)


def guard(answer: str) -> str | None:
    """Why ``answer`` is too dangerous to hand to sympy, or None."""
    if len(answer) > MAX_ANSWER_CHARS:
        return f"answer longer than {MAX_ANSWER_CHARS} characters"
    if _nesting(answer) > MAX_NESTING:
        return f"brackets nested deeper than {MAX_NESTING}"
    for power in re.finditer(r"\^|\*\*", answer):
        if _magnitude(_operand(answer, power.end())) > MAX_EXPONENT:
            return f"exponent larger than {MAX_EXPONENT}"
    for factorial in re.finditer(r"(\d+)\s*!", answer):
        digits = factorial.group(1)
        if len(digits) > 6 or int(digits) > MAX_FACTORIAL:
            return f"factorial of a number larger than {MAX_FACTORIAL}"
    return None


# ---------------------------------------------------------------------------------------------
# Equivalence
# ---------------------------------------------------------------------------------------------


def _normalise(answer: str) -> str:
    answer = _SCIENTIFIC.sub(r"\1\\times 10^{\2}", answer)
    return answer.replace("°", "^\\circ")


def _signal_timeout(timeout_s: float) -> int | None:
    """math-verify's own (SIGALRM) timeout; only usable on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return max(1, int(timeout_s))


@functools.lru_cache(maxsize=4096)
def _parse(answer: str, timeout: int | None) -> list:
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
    """Plain arithmetic (digits, + - * / ^, sqrt, pi) as sympy; None for anything else."""
    text = answer.replace("\\left", "").replace("\\right", "").replace("\\pi", "pi")
    text = text.replace("\\cdot", "*").replace("\\times", "*").replace("^", "**")
    text = re.sub(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", text)
    text = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", text).replace("{", "(").replace("}", ")")
    if not _PLAIN.match(text):
        return None  # whitelisted tokens only: sympify evaluates Python
    try:
        return sympy.sympify(text)
    except (sympy.SympifyError, SyntaxError, TypeError, ValueError):
        return None


def _text_key(answer: str) -> str:
    return re.sub(r"\s|\\left|\\right", "", _TEXT_WRAPPER.sub(r"\1", answer))


@functools.lru_cache(maxsize=4096)
def equivalent(reference: str, answer: str, tolerance: float = 0.0, timeout_s: float = 5.0) -> bool:
    """Whether ``answer`` means ``reference`` (see module doc); both are bare answers."""
    if _text_key(reference) == _text_key(answer):
        return True
    timeout = _signal_timeout(timeout_s)
    gold, pred = _parse(_normalise(reference), timeout), _parse(_normalise(answer), timeout)
    if gold and pred:
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
    problem = guard(answer)
    if problem is not None:
        return "wrong", f"rejected: {problem}"
    gold = reference_answer(reference)
    letter = _CHOICE_REFERENCE.match(_TEXT_WRAPPER.sub(r"\1", gold).strip())
    if letter:
        ok = _choice(answer) == letter.group(1)
    else:
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
