"""Code verifier: stdin/stdout and function-call tests, partial credit, limits, extraction."""

from __future__ import annotations

import ast
import os
import tempfile
import time

import pytest

from flowrl_jax.rewards import Scorer, sandbox
from flowrl_jax.rewards.code_sandbox import _same, extract_code, verify


def fenced(code: str, tag: str = "python") -> str:
    return f"Here is my solution.\n```{tag}\n{code}\n```\nDone."


ADD_STDIN = {
    "tests": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "10 -4\n", "output": "6"},
        {"input": "0 0", "output": "0\n\n"},
    ]
}
ADD = "a, b = map(int, input().split())\nprint(a + b)"
ADD_CALL = {
    "fn_name": "add",
    "tests": [
        {"args": [1, 2], "output": 3},
        {"args": [0.1, 0.2], "output": 0.3},
        {"args": [[1], [2]], "output": [1, 2]},
        {"args": [], "kwargs": {"a": "x", "b": "y"}, "output": "xy"},
    ],
}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (ADD, "correct"),
        ("import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b, end='')", "correct"),
        ("a, b = map(int, input().split())\nprint(a - b)", "wrong"),
        ("a, b = map(int, input().split())\nprint(a + b)\nexit(0)", "correct"),
        ("raise SystemExit(3)", "wrong"),
        ("print(1/0)", "wrong"),
        ("import time\ntime.sleep(30)", "timeout"),
        ("this is not python", "wrong"),
    ],
)
def test_stdin_stdout(code, reason):
    got, fraction, detail = verify(fenced(code), ADD_STDIN, test_timeout=1.0)
    assert got == reason, detail
    assert fraction == (1.0 if reason == "correct" else 0.0)


def test_partial_credit_runs_every_test():
    code = "a, b = map(int, input().split())\nprint(a + b if a != 1 else 99)"
    reason, fraction, detail = verify(fenced(code), ADD_STDIN, partial=True)
    assert reason == "wrong"
    assert fraction == pytest.approx(2 / 3)
    assert "2/3 tests passed; test 0" in detail
    # Without partial credit the loop stops at the first failure.
    assert verify(fenced(code), ADD_STDIN, partial=False)[:2] == ("wrong", 0.0)


@pytest.mark.parametrize(
    ("code", "reason", "fraction"),
    [
        ("def add(a, b):\n    print('noise')\n    return a + b", "correct", 1.0),
        ("class Solution:\n    def add(self, a, b):\n        return a + b", "correct", 1.0),
        ("def add(a, b):\n    return a - b if isinstance(a, int) else a + b", "wrong", 0.0),
        ("def plus(a, b):\n    return a + b", "wrong", 0.0),
        ("def add(a, b):\n    while True: pass", "timeout", 0.0),
        ("import os\ndef add(a, b):\n    os._exit(0)", "wrong", 0.0),
        ("def add(a, b):\n    raise KeyError(a)", "wrong", 0.0),
    ],
)
def test_function_call_style(code, reason, fraction):
    got, passed, detail = verify(fenced(code), ADD_CALL, test_timeout=0.5)
    assert got == reason, detail
    assert passed == pytest.approx(fraction)


# (expected, returned, accepted): Python expressions, shown as such in docs/verifiers.md.
SAME_TABLE = [
    ("1000000", "1000000", True),
    ("1000000", "1000000.0", True),
    ("1000000", "1000001", False),
    ("1000000007", "1000000008", False),
    ("1000000007", "1000000007.0001", False),
    ("2**53 + 1", "2**53 + 1", True),
    ("2**53 + 1", "2.0**53", False),
    ("10**400", "10**400", True),
    ("10**400", "10**400 + 1", False),
    ("10**400", "1e308", False),
    ("0.3", "0.1 + 0.2", True),
    ("0.3", "0.3000001", True),
    ("0.3", "0.30001", False),
    ("1.0", "1", True),
    ("1e-12", "0", True),
    ("1.5", "10**400", False),
    ("1", "True", False),
    ("True", "1", False),
    ("True", "True", True),
    ("'5'", "5", False),
    ("5", "'5'", False),
    ("None", "0", False),
    ("[1, 0.5]", "[1.0, 0.5000001]", True),
    ("[1000000]", "[1000001]", False),
    ("[[2**53 + 1]]", "[[2.0**53]]", False),
    ("{'a': [0.3]}", "{'a': [0.1 + 0.2]}", True),
    ("{'a': 1000000}", "{'a': 1000001}", False),
    ("{'a': 1}", "{'a': 1, 'b': 2}", False),
]


@pytest.mark.parametrize(("expected", "returned", "accepted"), SAME_TABLE)
def test_returned_values_compare_exactly_unless_a_float_is_expected(expected, returned, accepted):
    assert _same(eval(returned), eval(expected)) is accepted


def test_docs_show_the_comparison_table(doc_shows):
    doc_shows(f"| `{e}` | `{r}` | {'accepted' if a else 'rejected'} |" for e, r, a in SAME_TABLE)


def test_function_call_partial_credit_runs_every_call():
    code = "def add(a, b):\n    return a - b if isinstance(a, int) else a + b"
    reason, fraction, detail = verify(fenced(code), ADD_CALL, partial=True)
    assert (reason, fraction) == ("wrong", 0.75), detail
    assert "3/4 tests passed; test 0: wrong return value" in detail


def test_function_call_returns_sets_and_tuples():
    reference = {
        "fn_name": "f",
        "tests": [{"args": [3], "output": [0, 1, 2]}, {"args": [2], "output": [[0, 1], [1, 0]]}],
    }
    code = "def f(n):\n    return set(range(n)) if n == 3 else [(0, 1), (1, 0)]"
    assert verify(fenced(code), reference)[0] == "correct"


def test_the_old_harness_report_forged_on_fd_3_does_not_pass():
    """The old harness kept its report channel on fd 3, inside the program's own process."""
    report = b'\nFLOWRL-HARNESS-RESULTS [["ok", 3], ["ok", 0.3], ["ok", [1, 2]], ["ok", "xy"]]\n'
    code = (
        "import os\n"
        "for fd in range(1, 64):\n"
        "    try:\n"
        f"        os.write(fd, {report!r})\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)"
    )
    got, passed, _ = verify(fenced(code), ADD_CALL)
    assert (got, passed) == ("wrong", 0.0)


def test_300_trivial_stdin_tests_fit_the_default_budget_on_one_worker():
    """One sandbox per item, not per test: this used to time out after ~240 tests."""
    reference = {"tests": [{"input": f"{i} {i}\n", "output": f"{2 * i}\n"} for i in range(300)]}
    with Scorer(1) as scorer:
        start = time.perf_counter()
        (result,) = scorer.score("code", [fenced(ADD)], [reference])
        elapsed = time.perf_counter() - start
    print(f"300 trivial stdin tests on one worker: {elapsed:.1f} s")
    assert (result.reward, result.reason) == (1.0, "correct"), result


def test_each_test_has_its_own_time_limit():
    code = "import time\nif input() == 'sleep':\n    time.sleep(60)\nprint('ok')"
    reference = {"tests": [{"input": s, "output": "ok"} for s in ("a", "sleep", "b")]}
    start = time.monotonic()
    reason, fraction, detail = verify(fenced(code), reference, partial=True, test_timeout=1.0)
    assert (reason, fraction) == ("timeout", pytest.approx(2 / 3)), detail
    assert time.monotonic() - start < 5


def test_each_test_has_its_own_output_cap():
    code = "import sys\nif input() == 'big':\n    sys.stdout.write('x' * 10**7)\nprint('ok')"
    reference = {"tests": [{"input": s, "output": "ok"} for s in ("a", "big", "b")]}
    reason, fraction, detail = verify(fenced(code), reference, partial=True)
    assert (reason, fraction) == ("wrong", pytest.approx(2 / 3)), detail
    assert "test 1: output limit exceeded" in detail


def test_large_input_reaches_the_program():
    code = "import sys\nprint(len(sys.stdin.read()))"
    reference = {"tests": [{"input": "x" * 5_000_000, "output": "5000000"}]}
    assert verify(fenced(code), reference)[0] == "correct"


def test_processes_left_by_a_test_are_gone_before_the_next():
    if not (sandbox.isolation().namespaces or sandbox.isolation().uid_drop):
        pytest.skip("without a sandbox uid or PID namespace only the test's session is killed")
    code = (
        "import os, time\n"
        "if input() == 'daemon':\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "        os._exit(0)\n"
        "    print('alone')\n"
        "else:\n"
        "    mine = {1, os.getppid(), os.getpid()}\n"
        "    others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in mine]\n"
        "    print(others or 'alone')"
    )
    reference = {"tests": [{"input": s, "output": "alone"} for s in ("daemon", "look")]}
    assert verify(fenced(code), reference)[:2] == ("correct", 1.0)


def test_a_program_that_exits_after_passing_test_0_scores_half():
    """The old harness raised IndexError on the short report this leaves."""
    code = (
        "import os\n"
        "calls = 0\n"
        "def f(x):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    if calls > 1:\n"
        "        os._exit(0)\n"
        "    return x"
    )
    reference = {"fn_name": "f", "tests": [{"args": [1], "output": 1}, {"args": [2], "output": 2}]}
    reason, fraction, detail = verify(fenced(code), reference, partial=True)
    assert (reason, fraction) == ("wrong", 0.5), detail
    assert "test 1: the program exited during the call" in detail


FORGE = """
import glob, json, os
records = b""
for index, value in enumerate({values!r}):
    payload = {payload}
    header = {{"test": index, "status": {status!r}, "code": 0, "error": "", "size": len(payload)}}
    records += json.dumps(header).encode() + b"\\n" + payload
for target in [*range(3, 64), *glob.glob("/proc/*/fd/*")]:
    try:
        if isinstance(target, int):
            os.write(target, records)
        else:
            with open(target, "wb") as f:
                f.write(records)
    except OSError:
        pass
{tail}
"""


def test_forged_records_on_any_descriptor_gain_nothing():
    """The report channel is the harness's alone: a program that writes well-formed records
    for every test into every descriptor it has or can open scores nothing."""
    stdin_forge = FORGE.format(
        values=["SECRET"], payload="value.encode()", status="exit", tail="raise SystemExit(3)"
    )
    reference = {"tests": [{"input": "", "output": "SECRET"}]}
    assert verify(fenced(stdin_forge), reference, partial=True)[:2] == ("wrong", 0.0)
    call_forge = FORGE.format(
        values=[3, 0.3, [1, 2], "xy"],
        payload='json.dumps(["ok", value]).encode()',
        status="reply",
        tail="def add(a, b):\n    return None",
    )
    assert verify(fenced(call_forge), ADD_CALL, partial=True)[:2] == ("wrong", 0.0)


def test_killing_the_harness_fails_the_tests_it_did_not_report():
    code = (
        "import os, signal\n"
        "if input() == 'kill':\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "print('ok')"
    )
    reference = {"tests": [{"input": s, "output": "ok"} for s in ("a", "kill", "b")]}
    reason, fraction, detail = verify(fenced(code), reference, partial=True)
    assert (reason, fraction) == ("wrong", pytest.approx(1 / 3)), detail
    assert "test 1: the test harness was stopped" in detail


@pytest.mark.parametrize(
    ("response", "code"),
    [
        ("```python\nprint(1)\n```", "print(1)\n"),
        ("```py\nprint(1)\n```", "print(1)\n"),
        ("```\nprint(2)\n```", "print(2)\n"),
        ("```python\nprint(1)\n```\ntext\n```python\nprint(3)\n```", "print(3)\n"),
        ("```python\nprint(1)\n```\n```text\nsample output\n```", "print(1)\n"),
        ("```cpp\nint main() {}\n```", None),
        ("no code at all", None),
        ("```python\n\n```", None),
    ],
)
def test_extract_code(response, code):
    assert extract_code(response) == code


def test_no_code_block_is_no_answer():
    assert verify("print(1)", ADD_STDIN)[0] == "no_answer"


def test_item_budget_stops_the_test_loop():
    reference = {"tests": [{"input": "", "output": "x"}] * 10}
    reason, _, detail = verify(
        fenced("import time\ntime.sleep(5)"), reference, partial=True, test_timeout=5, timeout_s=1
    )
    assert reason == "timeout", detail


def test_sandbox_layers_on_this_machine():
    """CI runs as root with util-linux: the full namespace mode must be the one in use."""
    mode = sandbox.isolation()
    if mode.name != "root-namespaces":
        pytest.skip(f"sandbox runs in degraded mode {mode} here")
    code = (
        "import os\n"
        "print(os.getuid(), os.getpid(), os.getcwd())\n"
        "print(sorted(os.listdir('/')))\n"
        "print(sorted(os.listdir('/tmp')), sorted(os.listdir('/dev')))"
    )
    result = sandbox.run({"p.py": code}, "p.py")
    ids, top, rest = result.stdout.decode().splitlines()
    uid, pid, cwd = ids.split()
    assert int(uid) >= sandbox.UID_BASE
    assert int(pid) == 2  # PID 1 is the launcher reaping in the namespace
    assert cwd == sandbox.SANDBOX_DIR
    visible = set(ast.literal_eval(top))
    assert visible <= {
        *(d.strip("/") for d in sandbox.SYSTEM_DIRS),
        "dev",
        "proc",
        "tmp",
        "sandbox",
        sandbox.interpreter().split("/")[1],
    }
    assert not visible & {"etc", "home", "work", "run", "var", "sys", "opt", "mnt"}
    assert (
        rest == "[] ['fd', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']"
    )


def test_files_written_by_the_program_vanish():
    before = set(os.listdir(tempfile.gettempdir()))
    code = "open('scratch.txt', 'w').write('x' * 100)\nopen('/tmp/t.txt', 'w').write('y')"
    result = sandbox.run({"p.py": code}, "p.py")
    assert result.returncode == 0, result
    assert set(os.listdir(tempfile.gettempdir())) <= before
