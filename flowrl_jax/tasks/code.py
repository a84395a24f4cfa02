"""Code: a Python program run against test cases in the sandbox (`rewards.code_sandbox`).

References are `{"tests": [{"input", "output"}, ...]}` (stdin/stdout) or
`{"fn_name", "tests": [{"args", "kwargs"?, "output"}, ...]}` (function calls); dataset rows
carry them in a `tests` column (and `fn_name` for call tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowrl_jax.data.problems import field
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

    def reference_from_row(self, row: Mapping[str, Any], data: Any, where: str) -> Any:
        reference = {"tests": field(row, "tests", where)}
        if row.get("fn_name"):
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


CODE = register_task(Code())
