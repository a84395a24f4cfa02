"""Code: a Python program run against test cases in the sandbox (`rewards.code_sandbox`).

References are `{"tests": [{"input", "output"}, ...]}` (stdin/stdout) or
`{"fn_name", "tests": [{"args", "kwargs"?, "output"}, ...]}` (function calls). Dataset rows
carry the tests in `data.answer_field` (default `tests`; `fn_name` for call tests), as a list
or as the JSON string that DeepCoder, TACO and PrimeIntellect publish, in their layouts:
`[{"input", "output", "testtype": "stdin"}]` (LiveCodeBench), `[{"type": "stdin_stdout",
"input", "output"}]` and `[{"type": "function_call", "fn_name", "input": [args],
"output": [value]}]` (PrimeIntellect, the value wrapped in a list), and
`{"inputs": [...], "outputs": [...]}` (TACO stdin).
LiveCodeBench's functional tests (a method of `class Solution` with arguments as source text)
and TACO's call tests are refused with the row named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowrl_jax.data import field
from flowrl_jax.tasks.base import (
    BadReference,
    Option,
    Task,
    Verdict,
    positive_int,
    positive_number,
    register_task,
)


class Code(Task):
    name = "code"
    timeout = 20.0
    options = {
        "partial": Option(False, lambda v: isinstance(v, bool), "True or False"),
        "test_timeout": positive_number(4.0),
        "memory_mb": positive_int(512),
        "output_bytes": positive_int(1 << 20),
    }
    worker_modules = ("flowrl_jax.rewards.code_sandbox",)
    chunksize = 1

    answer_column = "tests"

    def reference_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Any:
        tests = field(row, data.answer_field or self.answer_column, where)
        if isinstance(tests, str):
            try:
                tests = json.loads(tests)
            except json.JSONDecodeError as e:
                raise BadReference(f"a string that is not JSON ({e.msg})", "tests") from None
        reference = published_tests(tests)
        if row.get("fn_name") and "fn_name" not in reference:
            reference["fn_name"] = row["fn_name"]
        return reference

    def check_reference(self, reference: Any) -> Any:
        tests = reference.get("tests") if isinstance(reference, Mapping) else None
        if not isinstance(tests, list) or not tests:
            raise BadReference("expected a non-empty list of test dicts", "tests")
        call_style = "fn_name" in reference
        if call_style and not (
            isinstance(reference["fn_name"], str) and reference["fn_name"].isidentifier()
        ):
            raise BadReference(
                f"expected a Python identifier, got {reference['fn_name']!r}", "fn_name"
            )
        for j, test in enumerate(tests):
            where = f"tests[{j}]"
            if not isinstance(test, Mapping) or "output" not in test:
                raise BadReference("expected a dict with an 'output' key", where)
            if call_style:
                if not isinstance(test.get("args", []), list):
                    raise BadReference("'args' must be a list", where)
                if not isinstance(test.get("kwargs", {}), Mapping):
                    raise BadReference("'kwargs' must be a dict", where)
            elif not isinstance(test.get("input"), str) or not isinstance(test["output"], str):
                raise BadReference(
                    "stdin tests need 'input' and 'output' strings "
                    "(or give the reference an 'fn_name' for call tests)",
                    where,
                )
        return reference

    def verify(self, response: str, reference: Any, *, timeout: float, **options: Any) -> Verdict:
        from flowrl_jax.rewards.code_sandbox import verify

        return Verdict(*verify(response, reference, timeout_s=timeout, **options))


def published_tests(tests: Any) -> dict[str, Any]:
    """Tests in one of the published layouts (module docstring) as this task's reference."""
    if isinstance(tests, Mapping) and "inputs" in tests:  # TACO / APPS
        if tests.get("fn_name"):
            raise BadReference("TACO-style call tests are not supported (stdin tests are)", "tests")
        inputs, outputs = tests["inputs"], tests.get("outputs")
        if not isinstance(outputs, list) or len(outputs) != len(inputs):
            raise BadReference("'inputs' and 'outputs' must be lists of one length", "tests")
        return {"tests": [{"input": i, "output": o} for i, o in zip(inputs, outputs, strict=True)]}
    if isinstance(tests, Mapping):
        return dict(tests)
    if not isinstance(tests, list):
        return {"tests": tests}
    kinds = {t.get("testtype", t.get("type")) for t in tests if isinstance(t, Mapping)}
    if "functional" in kinds:
        raise BadReference(
            "LiveCodeBench functional tests (a method of class Solution) are not supported",
            "tests",
        )
    if kinds == {"function_call"}:
        names = {t.get("fn_name") for t in tests}
        if len(names) != 1:
            raise BadReference(f"call tests name several functions: {sorted(map(str, names))}")
        if not all(isinstance(t.get("output"), list) and len(t["output"]) == 1 for t in tests):
            raise BadReference("call tests' 'output' must be a one-item list [value]", "tests")
        return {
            "fn_name": names.pop(),
            "tests": [{"args": t.get("input"), "output": t["output"][0]} for t in tests],
        }
    return {
        "tests": [
            {k: v for k, v in t.items() if k not in ("testtype", "type", "metadata")}
            if isinstance(t, Mapping)
            else t
            for t in tests
        ]
    }


CODE = register_task(Code())
