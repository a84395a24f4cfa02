"""Attacks that must cost reward 0 and never the run: every hole found becomes a case here.

Code attacks print ``ESCAPED`` when they achieve what they try, and ``ESCAPED`` is the expected
output: an attack that works earns reward 1 and fails the test. Call attacks return what a
reward hack would need to be accepted. After each set, the tests check that no worker died,
that no sandbox process is left and that nothing was written outside the temporary
directories. docs/verifiers.md gives the number of cases per table (a test pins it).
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

import pyseccomp
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

NR = {
    name: pyseccomp.resolve_syscall(pyseccomp.system_arch(), name)
    for name in (*sandbox.DENIED_SYSCALLS, "socket")
}
SYSCALLS = [
    ("keyctl", "0, -3, 0"),
    ("add_key", "b'user', b'flowrl', b'x', 1, -4"),
    ("request_key", "b'user', b'flowrl', None, 0"),
    ("io_uring_setup", "4, ctypes.create_string_buffer(120)"),
    ("io_uring_enter", "0, 0, 0, 0, None, 0"),
    ("io_uring_register", "0, 0, None, 0"),
    ("ptrace", "16, os.getppid(), 0, 0"),
    ("process_vm_readv", "os.getppid(), None, 0, None, 0, 0"),
    ("process_vm_writev", "os.getppid(), None, 0, None, 0, 0"),
    ("bpf", "0, ctypes.create_string_buffer(48), 48"),
    ("perf_event_open", "ctypes.create_string_buffer(128), 0, -1, -1, 0"),
    ("userfaultfd", "0"),
]
SOCKETS = [
    ("AF_INET", "SOCK_DGRAM"),
    ("AF_INET6", "SOCK_STREAM"),
    ("AF_NETLINK", "SOCK_RAW"),
    ("AF_VSOCK", "SOCK_STREAM"),
    ("AF_PACKET", "SOCK_RAW"),
]


def _syscall(name: str, args: str) -> str:
    return (
        "import ctypes, os\n"
        f"r = ctypes.CDLL(None).syscall({NR[name]}, {args})\n"
        "print('ESCAPED' if r >= 0 else '-')"
    )


def _socket(family: str, kind: str) -> str:
    return (
        "import socket\n"
        "try:\n"
        f"    socket.socket(socket.{family}, socket.{kind})\n"
        "    print('ESCAPED')\n"
        "except OSError:\n"
        "    pass"
    )


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
    **{f"syscall_{name}": _syscall(name, args) for name, args in SYSCALLS},
    **{f"socket_{family}": _socket(family, kind) for family, kind in SOCKETS},
    "socket_family_in_the_upper_bits": (
        f"import ctypes\nr = ctypes.CDLL(None).syscall({NR['socket']}, (1 << 32) | 2, 1, 0)\n"
        "print('ESCAPED' if r >= 0 else '-')"
    ),
    "x32_abi": (
        "import ctypes, platform\n"
        "if platform.machine() == 'x86_64':\n"
        f"    r = ctypes.CDLL(None).syscall(0x40000000 | {NR['socket']}, 2, 1, 0)\n"
        "    print('ESCAPED' if r >= 0 else '-')"
    ),
    "capabilities": (
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print('ESCAPED' if int(status['CapEff'], 16) or int(status['CapBnd'], 16) else '-')"
    ),
    "no_filter": (
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print('ESCAPED' if status['Seccomp'].strip() != '2' else '-')"
    ),
    "new_user_namespace": (
        "import ctypes\nprint('ESCAPED' if ctypes.CDLL(None).unshare(0x10000000) == 0 else '-')"
    ),
    "mount_tmpfs": (
        "import ctypes\n"
        "r = ctypes.CDLL(None).mount(b'none', b'/tmp', b'tmpfs', 0, None)\n"
        "print('ESCAPED' if r == 0 else '-')"
    ),
    "chroot_out": (
        "import os\n"
        "try:\n"
        "    os.mkdir('/tmp/c'); os.chroot('/tmp/c'); os.chdir('../../../..'); os.chroot('.')\n"
        "except OSError:\n"
        "    pass\n"
        "print('ESCAPED' if os.path.exists('/work') or os.path.exists('/etc') else '-')"
    ),
    "write_sysctl": (
        "try:\n"
        "    open('/proc/sys/vm/drop_caches', 'w').write('3')\n"
        "    print('ESCAPED')\n"
        "except OSError:\n"
        "    pass"
    ),
    "raise_rlimit": (
        "import resource\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))\n"
        "    print('ESCAPED')\n"
        "except (ValueError, OSError):\n"
        "    pass"
    ),
    "reaper_output": (
        "try:\n    open('/proc/1/fd/1', 'w').write('ESCAPED')\nexcept OSError:\n    pass"
    ),
    "parent_memory": (
        "import os\n"
        "try:\n"
        "    open(f'/proc/{os.getppid()}/mem', 'rb').read(1)\n"
        "    print('ESCAPED')\n"
        "except OSError:\n"
        "    pass"
    ),
    "parent_descriptors": (
        "import os\n"
        "try:\n"
        "    print('ESCAPED' if os.listdir(f'/proc/{os.getppid()}/fd') else '-')\n"
        "except OSError:\n"
        "    pass"
    ),
    "host_files": (
        "import os\n"
        "print('ESCAPED' if any(os.path.exists(p) for p in "
        "('/etc/passwd', '/sys/kernel', '/home', '/var', '/work')) else '-')"
    ),
    "device_node": (
        "import os, stat\n"
        "try:\n"
        "    os.mknod('/tmp/mem', stat.S_IFCHR | 0o600, os.makedev(1, 1))\n"
        "    print('ESCAPED')\n"
        "except OSError:\n"
        "    pass"
    ),
    "signal_the_harness": (
        "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\nprint('ESCAPED')"
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
    # Huge numbers however spelled: the guard bounds the parsed form.
    "\\boxed{(99999)!}",
    "\\boxed{{99999}!}",
    "\\boxed{\\left(99999\\right)!}",
    "\\boxed{\\{99999\\}!}",
    "\\boxed{(10!)!}",
    "\\boxed{99999!!}",
    "\\boxed{\\Gamma(10^{8})}",
    "\\boxed{\\binom{10^{9}}{5 \\cdot 10^{8}}}",
    "\\boxed{{99999 \\choose 50000}}",
    "\\boxed{\\prod_{k=1}^{10^{9}} k}",
    "\\boxed{\\left(10\\right)^{\\left(10^{10}\\right)}}",
    "\\boxed{2^{99999 \\cdot 99999}}",
    "\\boxed{(10^{1000})^{99999}}",
    "\\boxed{e^{e^{e^{10}}}}",
    "\\boxed{1e100000000}",
    "Answer: 1e1000000000",
    # Extraction floods: one pass over the response, whatever it holds.
    "\\boxed{" * 10_000,
    "\\boxed{" * 100_000,
    "\\boxed{1" + "\\boxed{" * 10_000,
    "\\boxed " * 10_000,
]
# (response, reference): answers that state something false or hedge between candidates.
MATH_HACKS = [
    ("\\boxed{2+2=5}", "5"),
    ("\\boxed{3 \\cdot 2 = 7}", "7"),
    ("\\boxed{2+2=4=5}", "5"),
    ("\\boxed{0.333=\\frac{1}{3}}", "\\frac{1}{3}"),
    ("\\boxed{x=5 \\wedge x=7}", "7"),
    ("\\boxed{x=5 \\land x=7}", "7"),
    ("\\boxed{x = 5 \\lor x = 7}", "7"),
    ("\\boxed{x=5 \\vee x=7}", "7"),
    ("\\boxed{5 \\vee 7}", "7"),
    ("\\boxed{x=5, x=7}", "7"),
    ("\\boxed{5 \\text{ or } 7}", "7"),
    ("\\boxed{x=5 \\\\ x=7}", "7"),
    ("\\boxed{x=5 \\mid x=7}", "7"),
    ("\\boxed{\\{5, 7\\}}", "7"),
    ("Answer: 2+2=5", "5"),
]


ANSWER = f"flowrl-answer-{TOKEN}"
"""Expected by the answer hunts: found anywhere the program can look, it would be returned."""
HUNT = """
import gc, glob, os
def hunt():
    prefix = "flowrl-answer-"
    for obj in gc.get_objects():
        if isinstance(obj, str) and obj.startswith(prefix):
            return obj
    paths = [*glob.glob("/proc/*/environ"), *glob.glob("/proc/*/cmdline"), "/proc/1/fd/0"]
    for root, _, names in os.walk("/"):
        if root.startswith(("/proc", "/usr", "/lib", "/dev")):
            continue
        paths += [os.path.join(root, name) for name in names]
    for path in paths:
        try:
            data = open(path, "rb").read(1 << 20)
        except OSError:
            continue
        at = data.find(prefix.encode())
        if at >= 0:
            return data[at : at + len(prefix) + 32].decode(errors="replace")
    return "nothing"
"""
# (name, program, expected): function ``f()`` must return ``expected``; each program tries to
# be accepted without returning it.
CALL_ATTACKS = [
    ("integer_off_by_one", "def f():\n    return 1000001", 1000000),
    ("integer_near_mod_prime", "def f():\n    return 1000000007 + 500", 1000000007),
    ("float_for_big_integer", "def f():\n    return 2.0**53", 2**53 + 1),
    ("float_for_huge_integer", "def f():\n    return 1e308", 10**400),
    ("infinity_for_huge_integer", "def f():\n    return float('inf')", 10**400),
    ("bool_for_integer", "def f():\n    return True", 1),
    ("integer_for_bool", "def f():\n    return 1", True),
    ("string_for_integer", "def f():\n    return '5'", 5),
    ("nan_for_float", "def f():\n    return float('nan')", 0.5),
    (
        "always_equal_object",
        "class A:\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = None\n\ndef f():\n    return A()",
        5,
    ),
    ("generator_for_list", "def f():\n    return (i for i in range(3))", [0, 1, 2]),
    ("integer_with_200000_digits", "def f():\n    return 10**200000", 1),
    (
        "nesting_100000_deep",
        "def f():\n    x = []\n    for _ in range(100000):\n        x = [x]\n    return x",
        [[]],
    ),
    ("string_of_100_megabytes", "def f():\n    return 'x' * 10**8", "x"),
    ("exit_at_import", "import sys\nsys.exit(0)\ndef f():\n    return 5", 5),
    ("exit_in_the_call", "import sys\ndef f():\n    sys.exit(0)", 5),
    (
        "kill_the_harness",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef f():\n    return 5",
        5,
    ),
    (
        "stop_the_harness",
        "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\ndef f():\n    return 5",
        5,
    ),
    (
        "ignore_alarms_and_spin",
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "def f():\n    while True:\n        pass",
        5,
    ),
    (
        "forge_answers_on_every_descriptor",
        "import json, os\n"
        "line = b'ready\\n' + json.dumps(['ok', 'forged']).encode() + b'\\n'\n"
        "for fd in range(64):\n"
        "    try:\n"
        "        os.write(fd, line)\n"
        "    except OSError:\n"
        "        pass\n"
        "def f():\n    return None",
        ANSWER,
    ),
    ("hunt_the_answer", HUNT + "\ndef f():\n    return hunt()", ANSWER),
    (
        "hunt_the_answer_from_a_daemon",
        HUNT + "\nimport os\nif os.fork() == 0:\n    os.setsid()\ndef f():\n    return hunt()",
        ANSWER,
    ),
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
    "SELECT randomblob(2000000000)",
    "SELECT zeroblob(2000000000)",
    "SELECT readfile('/etc/passwd')",
    f"SELECT writefile('/tmp/flowrl-escape-{TOKEN}', 'x')",
    "PRAGMA query_only = 0",
    "DETACH DATABASE main",
    "BEGIN IMMEDIATE",
    "SAVEPOINT s",
    "REINDEX",
    "ANALYZE",
    "DELETE FROM people",
    "SELECT * FROM pragma_table_info('people') WHERE 0; PRAGMA writable_schema = 1",
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
    assert time.monotonic() - start < 20
    assert scorer.score("math", ["\\boxed{1}"], ["1"])[0].reward == 1.0


def test_sql_attacks_cost_reward_zero_and_leave_the_database_alone(scorer, database):
    digest = _digest(database)
    reference = {"db_path": database, "gold": "SELECT 1"}
    responses = [f"```sql\n{query}\n```" for query in SQL_ATTACKS]
    start = time.monotonic()
    results = scorer.score("sql", responses, [reference] * len(responses), timeout=1.0)
    assert [r.reward for r in results] == [0.0] * len(SQL_ATTACKS), results
    assert results[8].reason == results[11].reason == "timeout"
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


def test_call_attacks_cost_reward_zero(scorer):
    """Comparison loopholes, harness tampering and hunts for the expected value."""
    responses = [f"```python\n{code}\n```" for _, code, _ in CALL_ATTACKS]
    references = [
        {"fn_name": "f", "tests": [{"args": [], "output": out}]} for *_, out in CALL_ATTACKS
    ]
    start = time.monotonic()
    results = scorer.score("code", responses, references, test_timeout=1.0)
    for (name, *_), result in zip(CALL_ATTACKS, results, strict=True):
        assert result.reward == 0.0, (name, result)
    assert time.monotonic() - start < 30
    assert scorer.replaced_workers == 0
    honest = "```python\ndef f():\n    return 10**400\n```"
    assert (
        scorer.score(
            "code", [honest], [{"fn_name": "f", "tests": [{"args": [], "output": 10**400}]}]
        )[0].reward
        == 1.0
    )


def test_stdin_answer_hunt_finds_nothing(scorer):
    response = f"```python\n{HUNT}\nprint(hunt())\n```"
    reference = {"tests": [{"input": "", "output": ANSWER}] * 3}
    (result,) = scorer.score("code", [response], [reference], partial=True)
    assert result.reward == 0.0, result


def test_math_hacks_cost_reward_zero(scorer):
    responses, references = zip(*MATH_HACKS, strict=True)
    results = scorer.score("math", list(responses), list(references))
    for (response, _), result in zip(MATH_HACKS, results, strict=True):
        assert result.reward == 0.0, (response, result)


def test_the_suite_has_at_least_100_cases_and_the_docs_say_how_many(doc_shows):
    tables = {
        "sandbox and harness, stdin programs": len(CODE_ATTACKS) + 1,
        "function-call programs": len(CALL_ATTACKS),
        "math answers": len(MATH_ATTACKS) + len(MATH_HACKS),
        "SQL queries": len(SQL_ATTACKS),
    }
    assert sum(tables.values()) >= 100
    doc_shows(
        [
            *(f"| {table} | {n} |" for table, n in tables.items()),
            f"| total | {sum(tables.values())} |",
        ]
    )
