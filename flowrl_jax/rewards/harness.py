"""The test harness inside the sandbox: every test of one item in one sandbox.

``code_sandbox`` starts this file as the sandbox's program, with ``spec.json`` beside it, which
it reads and deletes before any test runs. Two modes:

- ``stdin``: for each test, the program in a fresh interpreter (``sandbox_launcher.RUNNER``)
  with the test's input on its standard input, its own wall-clock limit, CPU limit and output
  cap; reported: how it ended, its standard output, the last line of its standard error.
- ``call``: one interpreter imports the program and calls its function for each test in turn,
  answering one JSON line per call on a pipe; each call has its own wall-clock limit, and after
  a timeout or a crash a new interpreter takes the next test.

Each test's record goes to the harness's standard output as soon as it is known: a JSON header
line (``test``, ``status``, ``code``, ``error``, ``size``), then ``size`` bytes of payload. The
program never holds that descriptor: its processes get pipes of their own; the harness is not
dumpable, so the program (same uid) cannot open ``/proc/<harness>/fd/1``; the seccomp filter
denies ``ptrace``. It can kill the harness, which ends the report: the tests not reported
fail. After each test every process the program left behind is killed.

Standard library only: it runs on the sandbox's bare interpreter.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time

_PR_SET_DUMPABLE = 4
_STDERR_TAIL = 4096
_SPAWN_TRIES = 10
"""Starting a test's process fails with EAGAIN while the last test's processes, killed, are
still being reaped by the namespace's init (they count against RLIMIT_NPROC): retry a while."""
_IMPORT_CAP = 4096
"""Bytes the program may send before its ``ready`` line (an import error message)."""


def _report(test: int, status: str, code: int | None = None, error: str = "", payload=b""):
    header = {"test": test, "status": status, "code": code, "error": error, "size": len(payload)}
    data = json.dumps(header).encode() + b"\n" + payload
    while data:
        data = data[os.write(1, data) :]


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else ""


class _Child:
    """One process of the program: ``python -c RUNNER script cpu_s [args]`` with ``stdin``
    bytes as its standard input (a memfd: no tmpfs space, seekable like a file).

    ``status`` says why the last read stopped early: ``timeout`` or ``output_limit``.
    """

    def __init__(self, spec: dict, args: list[str], stdin: bytes):
        memfd = os.memfd_create("stdin")
        try:
            os.write(memfd, stdin)
            os.lseek(memfd, 0, os.SEEK_SET)
            self.proc = _start(spec["runner"], args, memfd)
        finally:
            os.close(memfd)
        self.kill_all = spec["kill_all"]
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.status: str | None = None
        self._received = 0
        self._sel = selectors.DefaultSelector()
        self._pipes = {self.proc.stdout.fileno(), self.proc.stderr.fileno()}
        for fd in self._pipes:
            self._sel.register(fd, selectors.EVENT_READ)
        self._pidfd = os.pidfd_open(self.proc.pid)
        self._sel.register(self._pidfd, selectors.EVENT_READ)

    def read(self, deadline: float, cap: int, line: bool = False) -> None:
        """Read until both pipes are at EOF (with ``line``: until ``stdout`` holds a complete
        line), the deadline, or more than ``cap`` bytes since the last ``take_line``. When the
        process exits, whatever it left behind is killed, so its pipes close."""
        out_fd = self.proc.stdout.fileno()
        while self._pipes and not (line and b"\n" in self.stdout):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.status = "timeout"
                return
            for key, _ in self._sel.select(remaining):
                if key.fd == self._pidfd:
                    self._sel.unregister(self._pidfd)
                    self.kill_rest()
                    continue
                data = os.read(key.fd, 65536)
                if not data:
                    self._sel.unregister(key.fd)
                    self._pipes.discard(key.fd)
                    continue
                self._received += len(data)
                if key.fd == out_fd:
                    self.stdout += data
                else:
                    self.stderr += data
                    del self.stderr[:-_STDERR_TAIL]
            if self._received > cap:
                self.status = "output_limit"
                return

    def take_line(self) -> bytes | None:
        if b"\n" not in self.stdout:
            return None
        taken, _, rest = bytes(self.stdout).partition(b"\n")
        self.stdout[:] = rest
        self._received = len(rest)
        return taken

    def kill_rest(self) -> None:
        """Kill every process of the program: all the uid's processes where the uid or the PID
        namespace is the sandbox's own (daemons included), else the child's session."""
        try:
            if self.kill_all:
                os.kill(-1, signal.SIGKILL)  # never the caller, never the namespace's init
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, deadline: float) -> tuple[str, int]:
        """Wait for the child until ``deadline`` (not at all after a failed read), kill what
        is left, reap it: ``(status, exit status)``, the status ``exit``, or ``timeout`` when
        the time ran out (wall clock or CPU limit), or ``output_limit``."""
        try:
            self.proc.wait(0 if self.status else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.status = self.status or "timeout"
        self.kill_rest()
        code = self.proc.wait()
        self._sel.close()
        os.close(self._pidfd)
        self.proc.stdout.close()
        self.proc.stderr.close()
        if code == -signal.SIGXCPU:
            self.status = self.status or "timeout"
        return self.status or "exit", code


def _start(runner: str, args: list[str], stdin: int) -> subprocess.Popen:
    argv = [sys.executable, "-I", "-S", "-B", "-c", runner, *args]
    attempt = 0
    while True:
        try:
            return subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                close_fds=True,
                start_new_session=True,
            )
        except BlockingIOError:
            attempt += 1
            if attempt == _SPAWN_TRIES:
                raise
            time.sleep(0.02 * attempt)


def _stdin_tests(spec: dict) -> None:
    for index, test in enumerate(spec["tests"]):
        try:
            child = _Child(spec, ["solution.py", str(spec["cpu"])], test["input"].encode())
        except OSError as e:
            _report(index, "error", error=f"could not start the program: {e}")
            if spec["stop"]:
                return
            continue
        deadline = time.monotonic() + spec["timeout"]
        child.read(deadline, spec["caps"][index])
        status, code = child.finish(deadline)
        output = bytes(child.stdout) if status == "exit" else b""  # judged only if it ended
        _report(index, status, code, _last_line(child.stderr), output)
        if spec["stop"] and (status != "exit" or code != 0):
            return


def _call_tests(spec: dict) -> None:
    calls, index = spec["calls"], 0
    while index < len(calls):
        job = json.dumps({"fn_name": spec["fn_name"], "calls": calls[index:]}).encode()
        cpu = str(int(spec["timeout"] * (len(calls) - index)) + 1)
        try:
            child = _Child(spec, ["harness.py", cpu, "--serve"], job)
        except OSError as e:
            _report(index, "error", error=f"could not start the program: {e}")
            return
        index = _serve_calls(spec, child, index)
        if index < len(calls):  # that call failed; a fresh process takes the next one
            index += 1
            if spec["stop"]:
                return


def _serve_calls(spec: dict, child: _Child, index: int) -> int:
    """Report the calls ``child`` answers from ``index`` on; return the index of the call that
    got no answer (reported as such), or the number of calls when all were answered."""
    calls, timeout = spec["calls"], spec["timeout"]
    deadline = time.monotonic() + timeout  # importing the program
    child.read(deadline, _IMPORT_CAP, line=True)
    ready = child.take_line()
    if ready is not None and ready != b"ready":  # the import failed: so does every call
        for i in range(index, len(calls)):
            _report(i, "error", error=ready.decode(errors="replace")[:300])
        child.finish(time.monotonic())
        return len(calls)
    while ready is not None and index < len(calls):
        deadline = time.monotonic() + timeout
        child.read(deadline, spec["caps"][index], line=True)
        answer = child.take_line()
        if answer is None:
            break
        _report(index, "reply", payload=answer)
        index += 1
    if index == len(calls):
        child.finish(time.monotonic())
        return index
    status, code = child.finish(deadline)
    error = _last_line(child.stderr) or "the program ended before answering"
    _report(index, status, code, error)
    return index


def _serve() -> None:
    """The program's side of ``call`` mode: import it, answer each call on the original
    standard output; the program's own prints go to /dev/null."""
    answers = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    job = json.load(sys.stdin)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # exact integers of any size (the program's own time)
    try:
        import solution

        fn = getattr(solution, job["fn_name"], None)
        if fn is None and hasattr(solution, "Solution"):
            fn = getattr(solution.Solution(), job["fn_name"], None)
        if fn is None:
            raise NameError(f"the program defines no function {job['fn_name']!r}")
    except BaseException as e:
        os.write(answers, f"{type(e).__name__}: {e}"[:300].replace("\n", " ").encode() + b"\n")
        return
    os.write(answers, b"ready\n")
    for args, kwargs in job["calls"]:
        try:
            line = _encode("ok", fn(*args, **kwargs))
        except BaseException as e:
            line = _encode("error", f"{type(e).__name__}: {e}"[:300])
        data = line.encode() + b"\n"
        while data:
            data = data[os.write(answers, data) :]


def _plain(value):
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    return repr(value)


def _encode(status: str, value) -> str:
    try:
        return json.dumps([status, value], default=_plain)
    except (TypeError, ValueError) as e:
        return json.dumps(["error", f"unencodable return value: {e}"])


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        _serve()
        return
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    with open("spec.json") as f:
        spec = json.load(f)
    os.unlink("spec.json")
    if spec["mode"] == "stdin":
        _stdin_tests(spec)
    else:
        _call_tests(spec)


if __name__ == "__main__":
    main()
