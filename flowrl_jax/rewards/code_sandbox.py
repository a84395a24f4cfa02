"""Code: run a model-written Python program against test cases in the sandbox.

The program is the last fenced code block of the response tagged ``python``/``py``/``python3``
or untagged. Two test styles (``reference["tests"]``):

- stdin/stdout: ``{"input": str, "output": str}``; one sandboxed run per test, and stdout must
  equal ``output`` after stripping trailing whitespace from each line and trailing blank lines.
- function call, when the reference names ``fn_name``: ``{"args": [...], "kwargs": {...},
  "output": value}`` (``kwargs`` optional; JSON values). All calls run in one sandboxed process
  through a small harness that imports the program as ``solution`` and calls
  ``solution.<fn_name>`` (or ``solution.Solution().<fn_name>``, LeetCode style), each with its
  own timer. The return value must equal ``output`` as JSON (tuples are lists, sets sorted
  lists); floats within ``rel 1e-6``.

Expected outputs never enter the sandbox: the program only prints or returns, the comparison
happens here, so a program cannot read the answers it is graded against.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from flowrl_jax.rewards import sandbox

MAX_CODE_CHARS = 100_000
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = ("", "python", "py", "python3")
_RESULTS_TAG = "\nFLOWRL-HARNESS-RESULTS "
_HARNESS = r"""
import json, os, signal, sys


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _plain(value):
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    return repr(value)


def _encode(status, value):
    try:
        return json.dumps([status, value], default=_plain)
    except (TypeError, ValueError) as e:
        return json.dumps(["error", f"unencodable return value: {e}"])


def main():
    with open("calls.json") as f:
        spec = json.load(f)
    results_fd = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the solution's own prints go nowhere
    signal.signal(signal.SIGALRM, _alarm)
    results = []
    try:
        import solution
        fn = getattr(solution, spec["fn_name"], None)
        if fn is None and hasattr(solution, "Solution"):
            fn = getattr(solution.Solution(), spec["fn_name"], None)
        if fn is None:
            raise NameError(f"the program defines no function {spec['fn_name']!r}")
    except BaseException as e:
        error = _encode("error", f"{type(e).__name__}: {e}"[:300])
        results = [error] * len(spec["calls"])
    else:
        for args, kwargs in spec["calls"]:
            signal.setitimer(signal.ITIMER_REAL, spec["timeout"])
            try:
                value = fn(*args, **kwargs)
                signal.setitimer(signal.ITIMER_REAL, 0)
                results.append(_encode("ok", value))
            except _Timeout:
                results.append(_encode("timeout", None))
                if spec["stop_on_error"]:
                    break
            except BaseException as e:
                signal.setitimer(signal.ITIMER_REAL, 0)
                results.append(_encode("error", f"{type(e).__name__}: {e}"[:300]))
                if spec["stop_on_error"]:
                    break
    payload = "\nFLOWRL-HARNESS-RESULTS [" + ",".join(results) + "]\n"
    os.write(results_fd, payload.encode())


main()
"""


def extract_code(response: str) -> str | None:
    """The last Python (or untagged) fenced block, or None."""
    blocks = [m.group(2) for m in _FENCE.finditer(response) if m.group(1).lower() in _PYTHON_TAGS]
    return blocks[-1] if blocks and blocks[-1].strip() else None


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


def _failure(result: sandbox.RunResult) -> str | None:
    """Why the run failed before its output could be judged, or None."""
    if result.timed_out:
        return "timeout"
    if result.output_capped:
        return "output limit exceeded"
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        return f"exit status {result.returncode}: {lines[-1][:200] if lines else ''}".rstrip(": ")
    return None


def _limits(wall_s: float, memory_mb: int, output_bytes: int) -> sandbox.Limits:
    return sandbox.Limits(wall_s=wall_s, memory_mb=memory_mb, output_bytes=output_bytes)


def _run_stdin_tests(code, tests, deadline, test_timeout, memory_mb, output_bytes, partial):
    outcomes: list[tuple[bool, str]] = []
    for test in tests:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            outcomes.append((False, "timeout"))
            break
        cap = max(output_bytes, 2 * len(test["output"]) + 4096)
        result = sandbox.run(
            {"solution.py": code},
            "solution.py",
            stdin=test["input"],
            limits=_limits(min(test_timeout, remaining), memory_mb, cap),
        )
        if result.setup_error:
            raise RuntimeError(f"sandbox: {result.setup_error}")
        why = _failure(result)
        if why is None and _lines(result.stdout.decode(errors="replace")) != _lines(test["output"]):
            why = "wrong output"
        outcomes.append((why is None, why or ""))
        if why is not None and not partial:
            break
    return outcomes


def _run_call_tests(code, fn_name, tests, deadline, test_timeout, memory_mb, output_bytes, partial):
    calls = [[test.get("args", []), test.get("kwargs", {})] for test in tests]
    spec = {
        "fn_name": fn_name,
        "timeout": test_timeout,
        "calls": calls,
        "stop_on_error": not partial,
    }
    remaining = deadline - time.monotonic()
    wall = min(remaining, test_timeout * len(tests) + 1.0)
    if wall <= 0.05:
        return [(False, "timeout")]
    files = {"solution.py": code, "harness.py": _HARNESS, "calls.json": json.dumps(spec)}
    result = sandbox.run(files, "harness.py", limits=_limits(wall, memory_mb, output_bytes))
    if result.setup_error:
        raise RuntimeError(f"sandbox: {result.setup_error}")
    stdout = result.stdout.decode(errors="replace")
    why = _failure(result)
    if why is not None or _RESULTS_TAG not in stdout:
        return [(False, why or "the program ended the harness before it reported")]
    try:
        reported = json.loads(stdout.rsplit(_RESULTS_TAG, 1)[1])
    except ValueError:
        return [(False, "unreadable harness report")]
    outcomes = []
    # A short report (the program cut the harness off) leaves the missing tests failed.
    for test, (status, value) in zip(tests, reported, strict=False):
        expected = json.loads(json.dumps(test["output"]))
        if status == "ok":
            ok = _same(value, expected)
            outcomes.append((ok, "" if ok else "wrong return value"))
        else:
            outcomes.append((False, "timeout" if status == "timeout" else str(value)))
    return outcomes


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
    deadline = time.monotonic() + timeout_s
    if "fn_name" in reference:
        outcomes = _run_call_tests(
            code,
            reference["fn_name"],
            tests,
            deadline,
            test_timeout,
            memory_mb,
            output_bytes,
            partial,
        )
    else:
        outcomes = _run_stdin_tests(
            code, tests, deadline, test_timeout, memory_mb, output_bytes, partial
        )
    passed = sum(ok for ok, _ in outcomes)
    fraction = passed / len(tests)
    failures = [(i, why) for i, (ok, why) in enumerate(outcomes) if not ok]
    if not failures and passed == len(tests):
        return "correct", 1.0, f"{passed}/{len(tests)} tests passed"
    index, why = failures[0]
    reason = "timeout" if why == "timeout" else "wrong"
    return reason, fraction, f"{passed}/{len(tests)} tests passed; test {index}: {why}"
