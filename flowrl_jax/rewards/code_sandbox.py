"""Code: run a model-written Python program against test cases in the sandbox.

The program is the last fenced code block of the response tagged ``python``/``py``/``python3``
or untagged. Two test styles (``reference["tests"]``):

- stdin/stdout: ``{"input": str, "output": str}``; stdout must equal ``output`` after
  stripping trailing whitespace from each line and trailing blank lines.
- function call, when the reference names ``fn_name``: ``{"args": [...], "kwargs": {...},
  "output": value}`` (``kwargs`` optional; JSON values). The program is imported as
  ``solution`` and ``solution.<fn_name>`` (or ``solution.Solution().<fn_name>``, LeetCode
  style) is called; the return value must equal ``output`` as JSON (tuples are lists, sets
  sorted lists) by the rule of ``_same``.

All of an item's tests run in one sandbox, through ``harness.py``: a fresh interpreter per
stdin test, one per run of calls, each test with its own wall-clock limit, CPU limit and output
cap; the harness reports each test as it ends on a channel the program cannot write, and this
side stops the sandbox at the first failure unless ``partial``. Expected outputs never enter
the sandbox: the comparison happens here, so a program cannot read the answers it is graded
against.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flowrl_jax.rewards import sandbox
from flowrl_jax.rewards.sandbox_launcher import RUNNER

MAX_CODE_CHARS = 100_000
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = ("", "python", "py", "python3")
_HEADER_BYTES = 512
"""Room for one test's record header in the harness's report."""
_HARNESS_START_S = 1.0
"""Wall-clock allowance for starting the sandbox and the harness, on top of the tests."""
_REASONS = {"timeout": "timeout", "output_limit": "output limit exceeded"}
_TOO_LONG = object()
"""Stands for a returned integer with more digits than any expected one: equal to nothing."""


@functools.cache
def _harness_source() -> str:
    return (Path(__file__).parent / "harness.py").read_text()


def extract_code(response: str) -> str | None:
    """The last Python (or untagged) fenced block, or None."""
    blocks = [m.group(2) for m in _FENCE.finditer(response) if m.group(1).lower() in _PYTHON_TAGS]
    return blocks[-1] if blocks and blocks[-1].strip() else None


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


def _same(got: Any, expected: Any) -> bool:
    """Whether a returned value (decoded from JSON) equals the expected one.

    The expected value decides the rule: an integer compares exactly (Python compares int with
    float by value without rounding, so ``2.0**53`` is not ``2**53 + 1`` and a 400-digit integer
    raises nothing); only an expected float allows ``rel 1e-6`` (``abs 1e-9``); a bool is not a
    number; lists and dicts apply the rule to each element. The table in docs/verifiers.md.
    """
    if isinstance(expected, bool) or isinstance(got, bool):
        return got is expected
    if isinstance(expected, int):
        return isinstance(got, (int, float)) and got == expected
    if isinstance(expected, float):
        if not isinstance(got, (int, float)):
            return False
        if math.isnan(expected):
            return isinstance(got, float) and math.isnan(got)
        try:
            return math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)
        except OverflowError:  # an int beyond the float range is far from every float
            return False
    if isinstance(expected, list):
        same_length = isinstance(got, list) and len(got) == len(expected)
        return same_length and all(map(_same, got, expected))
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(_same(got[k], expected[k]) for k in expected)
        )
    return got == expected


def _digits(value: Any) -> int:
    """An upper bound of the decimal digits of the longest integer in ``value``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value.bit_length() * 0.30103) + 2
    if isinstance(value, (list, tuple)):
        return max(map(_digits, value), default=0)
    if isinstance(value, dict):
        return max(map(_digits, value.values()), default=0)
    return 0


@contextlib.contextmanager
def _int_digits(digits: int) -> Iterator[None]:
    """Let int <-> str conversions of up to ``digits`` digits through: Python caps them at 4300
    (quadratic time), and a test may expect a larger integer."""
    old = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if not old or digits <= old:
        yield
        return
    sys.set_int_max_str_digits(digits)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(old)


def _judge_stdin(test: dict, header: dict, payload: bytes) -> tuple[bool, str]:
    status = header["status"]
    if status != "exit":
        return False, _REASONS.get(status, header["error"])
    if header["code"] != 0:
        return False, f"exit status {header['code']}: {header['error']}".rstrip(": ")
    if _lines(payload.decode(errors="replace")) != _lines(test["output"]):
        return False, "wrong output"
    return True, ""


def _call_judge(tests: list[dict]) -> Callable[[dict, dict, bytes], tuple[bool, str]]:
    """Judge of one returned value: decoded with integers no longer than any expected one
    (a longer one cannot be equal, and decoding it takes quadratic time)."""
    digits = max(_digits(test["output"]) for test in tests) + 1

    def parse_int(text: str) -> Any:
        return int(text) if len(text) <= digits else _TOO_LONG

    def judge(test: dict, header: dict, payload: bytes) -> tuple[bool, str]:
        status = header["status"]
        if status == "exit":
            return False, f"the program exited during the call (status {header['code']})"
        if status != "reply":
            return False, _REASONS.get(status, header["error"])
        with _int_digits(digits):
            expected = json.loads(json.dumps(test["output"]))
            try:
                outcome, value = json.loads(payload, parse_int=parse_int)
            except (TypeError, ValueError):
                return False, "unreadable return value"
        if outcome != "ok":
            return False, str(value)[:300]
        ok = _same(value, expected)
        return ok, "" if ok else "wrong return value"

    return judge


class _Report:
    """The harness's report, read as it streams: one ``(passed, why)`` per test, in order.

    ``feed`` returns True when the run can stop: a test failed and ``partial`` is off, or the
    report is unreadable (which fails the test it was about)."""

    def __init__(self, tests: list[dict], judge, partial: bool):
        self.tests, self.judge, self.partial = tests, judge, partial
        self.outcomes: list[tuple[bool, str]] = []
        self._buffer = b""

    def feed(self, data: bytes) -> bool:
        self._buffer += data
        while len(self.outcomes) < len(self.tests):
            line, newline, rest = self._buffer.partition(b"\n")
            if not newline:
                return False
            try:
                header = json.loads(line)
                size, index = header["size"], header["test"]
            except (ValueError, TypeError, KeyError):
                index = None
            if index != len(self.outcomes):
                self.outcomes.append((False, "unreadable harness report"))
                return True
            if len(rest) < size:
                return False
            payload, self._buffer = rest[:size], rest[size:]
            passed, why = self.judge(self.tests[index], header, payload)
            self.outcomes.append((passed, why))
            if not (passed or self.partial):
                return True
        return False


def _run_harness(
    code: str,
    spec: dict,
    tests: list[dict],
    judge,
    *,
    deadline: float,
    test_timeout: float,
    memory_mb: int,
    output_bytes: int,
    partial: bool,
) -> list[tuple[bool, str]]:
    """Run every test of the item in one sandbox; one ``(passed, why)`` per test run, the
    first test that did not run (the harness was cut off) failed with the reason."""
    wall = min(deadline - time.monotonic(), test_timeout * len(tests) + _HARNESS_START_S)
    if wall <= 0.05:
        return [(False, "timeout")]
    mode = sandbox.isolation()
    sizes = [
        len(json.dumps(test["output"])) if "fn_name" in spec else len(test["output"])
        for test in tests
    ]
    spec |= {
        "runner": RUNNER,
        "timeout": test_timeout,
        "cpu": max(1, math.ceil(test_timeout)),
        "stop": not partial,
        "kill_all": mode.namespaces or mode.uid_drop,
        "caps": [max(output_bytes, 2 * size + 4096) for size in sizes],
    }
    report = _Report(tests, judge, partial)
    files = {"solution.py": code, "harness.py": _harness_source(), "spec.json": json.dumps(spec)}
    total = output_bytes + sum(2 * size + 4096 + _HEADER_BYTES for size in sizes)
    limits = sandbox.Limits(wall_s=wall, memory_mb=memory_mb, output_bytes=total)
    result = sandbox.run(files, "harness.py", limits=limits, on_stdout=report.feed)
    if result.setup_error:
        raise RuntimeError(f"sandbox: {result.setup_error}")
    outcomes = report.outcomes
    if len(outcomes) < len(tests) and all(passed for passed, _ in outcomes):
        outcomes.append((False, _cut_off(result)))
    return outcomes


def _cut_off(result: sandbox.RunResult) -> str:
    """Why the harness reported fewer tests than there are."""
    if result.timed_out:
        return "timeout"
    if result.output_capped:
        return "output limit exceeded"
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    last = f": {lines[-1][:200]}" if lines else ""
    return f"the test harness was stopped (exit status {result.returncode}){last}"


def verify(
    response: str,
    reference: dict,
    *,
    partial: bool = False,
    test_timeout: float = 4.0,
    timeout_s: float = 20.0,
    memory_mb: int = 512,
    output_bytes: int = 1 << 20,
) -> tuple[str, float, str]:
    """Run the program in ``response`` on ``reference["tests"]``: ``(reason, fraction, detail)``.

    ``reason`` is ``correct`` (all passed), ``wrong``, ``timeout`` (the first failure, or the
    ``timeout_s`` budget, was a time limit) or ``no_answer``; ``fraction`` is the fraction of
    tests passed (tests after the first failure count as failed unless ``partial``).
    """
    code = extract_code(response)
    if code is None:
        return "no_answer", 0.0, "no ```python code block"
    if len(code) > MAX_CODE_CHARS:
        return "wrong", 0.0, f"program longer than {MAX_CODE_CHARS} characters"
    tests = reference["tests"]
    if "fn_name" in reference:
        calls = [[test.get("args", []), test.get("kwargs", {})] for test in tests]
        spec = {"mode": "call", "fn_name": reference["fn_name"], "calls": calls}
        judge = _call_judge(tests)
    else:
        spec = {"mode": "stdin", "tests": [{"input": test["input"]} for test in tests]}
        judge = _judge_stdin
    outcomes = _run_harness(
        code,
        spec,
        tests,
        judge,
        deadline=time.monotonic() + timeout_s,
        test_timeout=test_timeout,
        memory_mb=memory_mb,
        output_bytes=output_bytes,
        partial=partial,
    )
    passed = sum(ok for ok, _ in outcomes)
    if passed == len(tests):
        return "correct", 1.0, f"{passed}/{len(tests)} tests passed"
    index, why = next((i, why) for i, (ok, why) in enumerate(outcomes) if not ok)
    reason = "timeout" if why == "timeout" else "wrong"
    return reason, passed / len(tests), f"{passed}/{len(tests)} tests passed; test {index}: {why}"
