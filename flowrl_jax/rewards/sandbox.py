"""Run an untrusted Python program under layers of isolation: the host half (docs/verifiers.md).

``run`` writes the program's files into a fresh temporary directory, starts the in-namespace
half (``sandbox_launcher.py``) under the isolation this process uses, with a scrubbed
environment, caps the output, enforces a wall-clock limit by killing the whole process group,
and removes the directory. Which layers are available is probed once per process
(``isolation()``, an immutable ``Isolation``): root with ``unshare``, an unprivileged user
namespace, or plain rlimits + process-group kill; every mode loads the same seccomp filter
(``seccomp_filter()``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import glob
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from flowrl_jax.rewards import sandbox_launcher
from flowrl_jax.rewards.sandbox_launcher import SANDBOX_DIR, SETUP_FAILED, SETUP_TAG, SYSTEM_DIRS

__all__ = [
    "DENIED_SYSCALLS",
    "SANDBOX_DIR",
    "SYSTEM_DIRS",
    "UID_BASE",
    "UID_SPAN",
    "Isolation",
    "Limits",
    "RunResult",
    "interpreter",
    "isolation",
    "remove_orphans",
    "run",
    "seccomp_filter",
]

UID_BASE = 60000
UID_SPAN = 5000
"""As root, sandboxed programs run as ``UID_BASE + pid % UID_SPAN``: distinct per worker
process, so one program's fork bomb does not eat another's process quota and cannot signal it."""
DENIED_SYSCALLS = (
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "perf_event_open",
    "userfaultfd",
)
"""Fail with EPERM inside the sandbox; ``socket``/``socketpair`` fail with EAFNOSUPPORT for
every family but AF_UNIX; any other architecture's system calls kill the process."""
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_UNSHARE_NS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts")
_KILL_ALL = "import os; os.kill(-1, 9)"
_DIR_PREFIX = "flowrl-sbx-"
_PROBE = "import collections, json, math, re\nprint('ok')"  # the standard library is readable


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-run limits. ``cpu_s`` defaults to the wall-clock limit rounded up."""

    wall_s: float = 5.0
    cpu_s: int | None = None
    memory_mb: int = 512
    nproc: int = 16
    fsize_mb: int = 16
    nofile: int = 64
    output_bytes: int = 1 << 20
    tmpfs_mb: int = 32

    def __post_init__(self):
        if not self.wall_s > 0:
            raise ValueError(f"wall_s must be positive, got {self.wall_s}")
        if self.cpu_s is None:
            object.__setattr__(self, "cpu_s", max(1, -int(-self.wall_s // 1)))


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What one sandboxed run produced.

    ``returncode`` is None when the run was killed (``timed_out``, ``output_capped`` or
    stopped by the caller's ``on_stdout``); ``setup_error`` is set when the sandbox failed
    before the program started.
    """

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    output_capped: bool
    setup_error: str | None

    def __repr__(self) -> str:
        return (
            f"RunResult(returncode={self.returncode}, timed_out={self.timed_out}, "
            f"output_capped={self.output_capped}, setup_error={self.setup_error!r}, "
            f"stdout={self.stdout[:80]!r}, stderr={self.stderr[-200:]!r})"
        )


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How runs are isolated: ``name`` (``root-namespaces`` | ``user-namespaces`` |
    ``rlimits+uid`` | ``rlimits``), the command ``prefix`` that starts the launcher,
    ``namespaces`` (network/PID/mount/IPC isolation and a private root), ``uid_drop`` (a uid
    of the sandbox's own), ``uid_namespace`` (the launcher puts that uid alone in a fresh user
    namespace; in ``user-namespaces`` mode ``unshare --user`` makes one per run instead) and
    ``seccomp`` (the system-call filter; only tests switch it off, to show what the other
    layers stop by themselves)."""

    name: str
    prefix: tuple[str, ...]
    namespaces: bool
    uid_drop: bool
    uid_namespace: bool
    seccomp: bool = True


def interpreter() -> str:
    """The base interpreter (not a venv wrapper): programs get the standard library only."""
    return os.path.realpath(sys.executable)


def _candidates() -> list[Isolation]:
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    # setpriv --pdeathsig: if the verifier worker is SIGKILLed, its sandboxes die with it.
    guard = (setpriv, "--pdeathsig", "KILL", "--") if setpriv else ()
    root = os.geteuid() == 0
    modes = []
    if unshare and root:
        prefix = (*guard, unshare, *_UNSHARE_NS)
        modes.append(Isolation("root-namespaces", prefix, True, True, True))
    if unshare:
        prefix = (*guard, unshare, "--user", "--map-root-user", *_UNSHARE_NS)
        modes.append(Isolation("user-namespaces", prefix, True, False, False))
    if root:
        modes.append(Isolation("rlimits+uid", guard, False, True, False))
    else:  # root without a uid of its own would keep owner access to every root-owned file
        modes.append(Isolation("rlimits", guard, False, False, False))
    return modes


@functools.cache
def isolation() -> Isolation:
    """The isolation this process uses: the first mode that runs a trivial program, probed
    once (after removing the run directories that dead workers left behind)."""
    remove_orphans()
    seccomp_filter()  # a missing libseccomp says so here, not as a failed probe
    for mode in _candidates():
        result = run({"probe.py": _PROBE}, "probe.py", limits=Limits(wall_s=10), mode=mode)
        if result.returncode == 0 and result.stdout == b"ok\n":
            return mode
    raise RuntimeError(
        "the code sandbox cannot start a program in any isolation mode "
        f"({', '.join(m.name for m in _candidates())}); as root it needs util-linux "
        "`unshare`, or an interpreter that other users can read"
    )


@functools.cache
def seccomp_filter() -> bytes:
    """The classic-BPF program every sandbox loads (``DENIED_SYSCALLS``), built once by
    libseccomp for this machine's architecture (it also kills calls made through another
    ABI, such as x32 or 32-bit ``int 0x80``, which would dodge a filter on numbers)."""
    try:
        import pyseccomp
    except (ImportError, OSError) as e:  # OSError: pyseccomp did not find libseccomp.so
        raise RuntimeError(
            f"the code sandbox needs libseccomp ({e}): `apt-get install libseccomp2` "
            "(Debian/Ubuntu) or your distribution's libseccomp package"
        ) from e
    rules = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        rules.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
    other_family = pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX)
    for name in ("socket", "socketpair"):
        rules.add_rule(pyseccomp.ERRNO(errno.EAFNOSUPPORT), name, other_family)
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()


@functools.cache
def _keyctl_number() -> int:
    import pyseccomp

    return pyseccomp.resolve_syscall(pyseccomp.system_arch(), "keyctl")


def run(
    files: dict[str, str | bytes],
    script: str,
    *,
    stdin: str | bytes = b"",
    limits: Limits | None = None,
    mode: Isolation | None = None,
    on_stdout: Callable[[bytes], bool] | None = None,
) -> RunResult:
    """Run ``python script`` (one of ``files``) in a fresh sandbox; see the module doc.

    ``mode`` defaults to ``isolation()``. ``on_stdout`` sees each chunk of the program's
    standard output as it arrives; returning True kills the run (the caller has seen enough).
    """
    if script not in files:
        raise ValueError(f"script {script!r} is not one of the files {sorted(files)}")
    mode = mode or isolation()
    limits = limits or Limits()
    if isinstance(stdin, str):
        stdin = stdin.encode()
    uid = UID_BASE + os.getpid() % UID_SPAN if mode.uid_drop else -1
    top = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")
    try:
        os.chmod(top, 0o711)
        box = os.path.join(top, "box")
        os.mkdir(box, 0o700)
        if uid >= 0:
            os.chown(box, uid, uid)
        for name, content in files.items():
            if os.sep in name or name.startswith("."):
                raise ValueError(f"sandbox file names must be plain names, got {name!r}")
            _write(os.path.join(box, name), content)
        seccomp = os.path.join(top, "seccomp.bpf")
        _write(seccomp, seccomp_filter() if mode.seccomp else _ALLOW_ALL)
        stdin_path = os.path.join(top, "stdin")
        _write(stdin_path, stdin)
        python = interpreter()
        prefixes = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(python))}
        config = {
            "root": top,
            "workdir": box,
            "script": script,
            "uid": uid,
            "namespaces": int(mode.namespaces),
            "userns": int(mode.uid_namespace),
            "expose": ":".join(sorted(prefixes)),
            "seccomp": seccomp,
            "keyctl": _keyctl_number(),
            "cpu": limits.cpu_s,
            "mem": limits.memory_mb,
            "nproc": limits.nproc,
            "fsize": limits.fsize_mb,
            "nofile": limits.nofile,
            "tmpfs": limits.tmpfs_mb,
        }
        argv = [*mode.prefix, python, "-I", "-S", "-B", sandbox_launcher.__file__, "--launch"]
        argv += [f"{k}={v}" for k, v in config.items()]
        env = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp"}
        with open(stdin_path, "rb") as stdin_file:
            proc = subprocess.Popen(
                argv,
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=top,
                env=env,
                close_fds=True,
                start_new_session=True,
            )
        result = _collect(proc, limits, on_stdout)
        if not mode.namespaces and uid >= 0:
            _kill_uid(uid)
        return result
    finally:
        shutil.rmtree(top, ignore_errors=True)


_ALLOW_ALL = (0x06).to_bytes(2, "little") + bytes(2) + (0x7FFF0000).to_bytes(4, "little")
"""A one-instruction filter, ``return ALLOW``: what ``Isolation(seccomp=False)`` loads."""


def _write(path: str, content: str | bytes) -> None:
    with open(path, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)


def remove_orphans() -> None:
    """Remove the run directories of dead processes (a worker the pool killed mid-run never
    reached its cleanup); each directory is named after the pid that made it."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{_DIR_PREFIX}*-*")):
        pid = os.path.basename(path)[len(_DIR_PREFIX) :].split("-")[0]
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _collect(proc, limits: Limits, on_stdout: Callable[[bytes], bool] | None) -> RunResult:
    """Read both pipes until EOF, the byte cap, the deadline or ``on_stdout`` says stop; kill
    the group in the last three cases."""
    deadline = time.monotonic() + limits.wall_s
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    total = 0
    timed_out = capped = stopped = False
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map() and not stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in sel.select(remaining):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                chunks[key.fd].append(data)
                total += len(data)
                if key.fd == out_fd and on_stdout is not None and on_stdout(data):
                    stopped = True
            if total > limits.output_bytes:
                capped = True
                break
    if not (timed_out or capped or stopped):
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # the program closed its pipes, kept running
            timed_out = True
    killed = timed_out or capped or stopped
    if killed:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    stdout, stderr = b"".join(chunks[out_fd]), b"".join(chunks[err_fd])
    setup_error = None
    if proc.returncode == SETUP_FAILED and SETUP_TAG.encode() in stderr:
        setup_error = stderr.split(SETUP_TAG.encode())[-1].decode(errors="replace").strip()
    return RunResult(
        None if killed else proc.returncode,
        stdout[: limits.output_bytes],
        stderr[-limits.output_bytes :],
        timed_out,
        capped,
        setup_error,
    )


def _kill_uid(uid: int) -> None:
    """Without a PID namespace, kill whatever the program left behind (``kill -1`` as its uid)."""
    kill = shutil.which("kill")
    argv = [kill, "-KILL", "-1"] if kill else [interpreter(), "-I", "-S", "-c", _KILL_ALL]
    with contextlib.suppress(OSError):  # nothing to run it with: the group kill is all there is
        subprocess.run(
            argv,
            user=uid,
            group=uid,
            extra_groups=[],
            cwd="/",
            env={},
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
