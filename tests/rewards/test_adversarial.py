"""Attacks that must cost reward 0 and never the run.

Code attacks print ``ESCAPED`` when they achieve what they try, and ``ESCAPED`` is the expected
output: an attack that works earns reward 1 and fails the test. After the set, the test checks
that no worker died, that no sandbox process is left and that nothing was written outside the
temporary directories.
"""

from __future__ import annotations

import glob
import hashlib
import os
import socket
import sqlite3
import tempfile
import time
import uuid

import pytest

from flowrl_jax.rewards import Scorer, sandbox
from flowrl_jax.rewards.pool import Outcome, WorkerPool
from flowrl_jax.rewards.sandbox import Limits

TOKEN = uuid.uuid4().hex
SECRET = f"flowrl-secret-{TOKEN}"
os.environ["FLOWRL_TEST_SECRET"] = SECRET  # before the pool starts: workers inherit it
ESCAPES = [
    f"/tmp/flowrl-escape-{TOKEN}",
    f"/var/tmp/flowrl-escape-{TOKEN}",
    f"/dev/shm/flowrl-escape-{TOKEN}",
    os.path.join(os.path.expanduser("~"), f".flowrl-escape-{TOKEN}"),
    os.path.join(os.path.dirname(os.path.abspath(__file__)), f"flowrl-escape-{TOKEN}"),
    f"/etc/flowrl-escape-{TOKEN}",
]


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    return server


SERVER = _listener()
PORT = SERVER.getsockname()[1]

CODE_ATTACKS = {
    "fork_bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    ),
    "infinite_loop": "while True:\n    pass",
    "allocation_bomb": "x = bytearray(8 * 10**9)\nprint('ESCAPED')",
    "allocation_creep": "x = []\nwhile True:\n    x.append(bytearray(10**7))",
    "write_outside": (
        f"paths = {ESCAPES!r}\n"
        "for p in paths:\n"
        "    try:\n"
        "        open(p, 'w').write('x')\n"
        "    except OSError:\n"
        "        pass\n"
        "print('done')"
    ),
    "environment_secret": (
        "import glob, os\n"
        "found = any('flowrl-secret' in v for v in os.environ.values())\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        found |= b'flowrl-secret' in open(path, 'rb').read()\n"
        "    except OSError:\n"
        "        pass\n"
        "print('ESCAPED' if found else 'contained')"
    ),
    "read_root_only_file": "print(open('/etc/shadow').read() and 'ESCAPED')",
    "socket_to_host": (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {PORT}), timeout=1)\n"
        "s.sendall(b'hello')\n"
        "print('ESCAPED')"
    ),
    "socket_to_internet": (
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\nprint('ESCAPED')"
    ),
    "print_gigabytes": "import sys\nwhile True:\n    sys.stdout.write('x' * 1000000)",
    "huge_file": "open('big', 'wb').write(b'x' * (200 << 20))\nprint('ESCAPED')",
    "open_files": "fs = [open('/dev/null') for _ in range(100000)]\nprint('ESCAPED')",
    "kill_parent": (
        "import os, signal\n"
        "for pid in (os.getppid(), 1, -1):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('still here')"
    ),
    "detached_daemon": (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(120)\n"
        "print('parent exits')"
    ),
    "setuid_root": "import os\nos.setuid(0)\nprint('ESCAPED')",
    "read_the_answers": f"print(open({os.path.abspath(__file__)!r}).read() and 'ESCAPED')",
    "devices": (
        "import os\n"
        "devices = ('nvidia', 'sd', 'nvme', 'vd', 'xvd', 'kvm', 'mem', 'kmsg', 'tty')\n"
        "print('ESCAPED' if any(n.startswith(devices) for n in os.listdir('/dev')) else '-')"
    ),
}

MATH_ATTACKS = [
    "\\boxed{10^(10^(10^10))}",
    "\\boxed{10^{10^{10^{10}}}}",
    "\\boxed{9**9**9**9**9}",
    "\\boxed{" + "(" * 100_000 + ")" * 100_000 + "}",
    "\\boxed{" + "\\frac{1}{" * 3000 + "}" * 3000 + "}",
    "\\boxed{" + "{" * 50_000,
    "Answer: " + "1+" * 100_000 + "1",
    "x" * 5_000_000 + "\\boxed{7}" * 1000,
    "\\boxed{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{2^{99999}}}}}}}}",
    "\\boxed{99999!}",
]

SQL_ATTACKS = [
    "DROP TABLE people",
    "INSERT INTO people VALUES (99, 'mallory', 1)",
    "UPDATE people SET age = 0",
    "CREATE TABLE pwned (x)",
    f"ATTACH DATABASE '/tmp/flowrl-escape-{TOKEN}.db' AS other",
    f"VACUUM INTO '/tmp/flowrl-escape-{TOKEN}-copy.db'",
    "PRAGMA writable_schema = 1",
    "SELECT 1; DROP TABLE people",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT count(*) FROM people a, people b, people c, people d, people e, people f, people g",
]


def _sandbox_processes() -> list[int]:
    """PIDs (host view) of live processes running as a sandbox uid.

    Zombies are left out: they are dead, only waiting for init to collect their exit status
    (a namespace's PID 1 whose parent was SIGKILLed with its worker is re-parented to init).
    """
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        uid = int(fields.get("Uid", "-1").split()[0])
        zombie = fields.get("State", "").strip().startswith("Z")
        if sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_SPAN and not zombie:
            found.append(int(status.split("/")[2]))
    return found


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _sandbox_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "flowrl-sbx-*")))


@pytest.fixture(scope="module", autouse=True)
def _close_listener():
    yield
    SERVER.close()


@pytest.fixture(scope="module")
def scorer():
    with Scorer(2) as s:
        yield s


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("sql") / "people.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (id INTEGER, name TEXT, age INTEGER)")
    conn.executemany(
        "INSERT INTO people VALUES (?, ?, ?)", [(i, f"p{i}", 20 + i) for i in range(30)]
    )
    conn.commit()
    conn.close()
    return str(path)


def test_code_attacks_cost_reward_zero_and_never_the_run(scorer):
    dirs_before = _sandbox_dirs()
    names = list(CODE_ATTACKS)
    responses = [f"```python\n{CODE_ATTACKS[name]}\n```" for name in names]
    reference = {"tests": [{"input": "", "output": "ESCAPED"}]}
    start = time.monotonic()
    results = scorer.score("code", responses, [reference] * len(names), test_timeout=2.0)
    elapsed = time.monotonic() - start
    by_name = dict(zip(names, results, strict=True))
    for name, result in by_name.items():
        assert result.reward == 0.0, (name, result)
    assert by_name["infinite_loop"].reason == "timeout"
    assert "MemoryError" in by_name["allocation_bomb"].detail
    assert "output limit" in by_name["print_gigabytes"].detail
    assert elapsed < 25, elapsed

    # Never the run: no worker died, the pool still scores, nothing leaked.
    assert scorer.replaced_workers == 0
    ok = scorer.score("code", ["```python\nprint('ESCAPED')\n```"], [reference])
    assert ok[0].reward == 1.0, ok
    with pytest.raises(BlockingIOError):
        SERVER.accept()
    deadline = time.monotonic() + 3
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_processes() == []
    for path in ESCAPES:
        assert not os.path.exists(path), path
    assert _sandbox_dirs() <= dirs_before


def test_math_attacks_cost_reward_zero(scorer):
    start = time.monotonic()
    results = scorer.score("math", MATH_ATTACKS, ["1"] * len(MATH_ATTACKS), timeout=3.0)
    assert [r.reward for r in results] == [0.0] * len(MATH_ATTACKS), results
    assert time.monotonic() - start < 15
    assert scorer.score("math", ["\\boxed{1}"], ["1"])[0].reward == 1.0


def test_sql_attacks_cost_reward_zero_and_leave_the_database_alone(scorer, database):
    digest = _digest(database)
    reference = {"db_path": database, "gold": "SELECT 1"}
    responses = [f"```sql\n{query}\n```" for query in SQL_ATTACKS]
    start = time.monotonic()
    results = scorer.score("sql", responses, [reference] * len(responses), timeout=1.0)
    assert [r.reward for r in results] == [0.0] * len(SQL_ATTACKS), results
    assert results[8].reason == results[-1].reason == "timeout"
    assert time.monotonic() - start < 15
    assert _digest(database) == digest
    assert not glob.glob(f"/tmp/flowrl-escape-{TOKEN}*")
    assert scorer.replaced_workers == 0


def sleep_in_sandbox(seconds: float) -> None:
    sandbox.run({"p.py": f"import time\ntime.sleep({seconds})"}, "p.py", limits=Limits(wall_s=60))


def test_killing_a_worker_kills_its_sandbox():
    """The pool SIGKILLs a hung worker; ``setpriv --pdeathsig`` must take the program along."""
    with WorkerPool(1) as pool:
        start = time.monotonic()
        assert pool.map(sleep_in_sandbox, [(30,)], timeout=1.5) == [Outcome("timeout")]
        assert time.monotonic() - start < 10
    deadline = time.monotonic() + 3
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_processes() == []
    # Its run directory outlived it; the next process to start the sandbox removes it.
    leftovers = _sandbox_dirs()
    assert leftovers
    sandbox.remove_orphans()
    assert not leftovers & _sandbox_dirs()


def test_direct_sandbox_view_is_scrubbed():
    """The same layers seen from inside, run from this (secret-holding) process."""
    code = "import os\nprint(sorted(os.environ))\nprint(os.path.exists(os.path.abspath(__file__)))"
    result = sandbox.run({"p.py": code.replace("__file__", repr(__file__))}, "p.py")
    assert result.returncode == 0, result
    out = result.stdout.decode()
    assert SECRET not in out
    assert out.splitlines()[0] == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']"
    if sandbox.isolation().namespaces:
        assert out.splitlines()[1] == "False"  # the repository is not in the sandbox's view
