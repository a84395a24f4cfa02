"""Run an untrusted Python program under layers of isolation (see docs/verifiers.md).

The host side (``run``) writes the program into a fresh temporary directory, starts it with a
scrubbed environment, caps its output, enforces a wall-clock limit by killing its whole
process group, and removes the directory. The program side is this same file executed by a
bare ``python -I -S sandbox.py --launch ...`` (so module-level imports stay ``os``/``sys``:
every import here is paid on every test case). As root, inside fresh network, PID, mount and
IPC namespaces (``unshare``), the launcher

1. builds a new root in a tmpfs and chroots into it: read-only system directories and the
   interpreter, a minimal ``/dev``, its own ``/proc``, size-capped tmpfs ``/tmp`` and
   ``/sandbox`` (a copy of the program's files, its working directory); nothing else of the
   host (no /etc, /home, /root, /work, /run) exists in there;
2. sets rlimits (CPU seconds, address space, processes, file size, open files, no core dumps);
3. drops to an unprivileged uid of its own (``UID_BASE`` + pid) with no groups and
   ``no_new_privs``: no capabilities, so no way out of the chroot, and no one else to signal;
4. forks the program (PID 1 stays a reaper: when the program exits, the kernel kills every
   process left in the namespace).

Which layers are available is probed once per process (``isolation()``): root with
``unshare``, an unprivileged user namespace, or plain rlimits + process-group kill.
"""

from __future__ import annotations

import os
import sys

UID_BASE = 60000
UID_SPAN = 5000
"""Sandboxed programs run as ``UID_BASE + pid % UID_SPAN``: distinct per worker process, so one
program's fork bomb does not eat another's process quota and cannot signal it."""
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Read-only in the sandbox (with the interpreter's own prefix); nothing else of the host is."""
SANDBOX_DIR = "/sandbox"
SETUP_FAILED = 125
"""Exit status of the launcher when the sandbox itself could not be set up."""
_SETUP_TAG = "flowrl-sandbox-setup:"
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_UNSHARE_ROOT = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts")
_UNSHARE_USER = ("--user", "--map-root-user", *_UNSHARE_ROOT)
_KILL_ALL = "import os; os.kill(-1, 9)"
_DIR_PREFIX = "flowrl-sbx-"
_PROBE = "import collections, json, math, re\nprint('ok')"  # the standard library is readable


class Limits:
    """Per-run limits. ``cpu_s`` defaults to the wall-clock limit rounded up.

    (A plain class, like ``RunResult``: importing ``dataclasses`` would cost the launcher
    ~20 ms on every run.)
    """

    __slots__ = (
        "cpu_s",
        "fsize_mb",
        "memory_mb",
        "nofile",
        "nproc",
        "output_bytes",
        "tmpfs_mb",
        "wall_s",
    )

    def __init__(
        self,
        *,
        wall_s: float = 5.0,
        cpu_s: int | None = None,
        memory_mb: int = 512,
        nproc: int = 16,
        fsize_mb: int = 16,
        nofile: int = 64,
        output_bytes: int = 1 << 20,
        tmpfs_mb: int = 32,
    ):
        if wall_s <= 0:
            raise ValueError(f"wall_s must be positive, got {wall_s}")
        self.wall_s = float(wall_s)
        self.cpu_s = int(cpu_s) if cpu_s is not None else max(1, int(-(-wall_s // 1)))
        self.memory_mb = int(memory_mb)
        self.nproc = int(nproc)
        self.fsize_mb = int(fsize_mb)
        self.nofile = int(nofile)
        self.output_bytes = int(output_bytes)
        self.tmpfs_mb = int(tmpfs_mb)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Limits({fields})"


class RunResult:
    """What one sandboxed run produced.

    ``returncode`` is None when the run was killed (``timed_out`` or ``output_capped``);
    ``setup_error`` is set when the sandbox failed before the program started.
    """

    __slots__ = ("output_capped", "returncode", "setup_error", "stderr", "stdout", "timed_out")

    def __init__(self, returncode, stdout, stderr, timed_out, output_capped, setup_error):
        self.returncode: int | None = returncode
        self.stdout: bytes = stdout
        self.stderr: bytes = stderr
        self.timed_out: bool = timed_out
        self.output_capped: bool = output_capped
        self.setup_error: str | None = setup_error

    def __repr__(self) -> str:
        return (
            f"RunResult(returncode={self.returncode}, timed_out={self.timed_out}, "
            f"output_capped={self.output_capped}, setup_error={self.setup_error!r}, "
            f"stdout={self.stdout[:80]!r}, stderr={self.stderr[-200:]!r})"
        )


# ---------------------------------------------------------------------------------------------
# Host side
# ---------------------------------------------------------------------------------------------

_MODE: dict | None = None


def interpreter() -> str:
    """The base interpreter (not a venv wrapper): programs get the standard library only."""
    return os.path.realpath(sys.executable)


def _mode_candidates() -> list[dict]:
    import shutil

    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    # setpriv --pdeathsig: if the verifier worker is SIGKILLed, its sandboxes die with it.
    guard = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    root = os.geteuid() == 0
    modes = []
    if unshare and root:
        modes.append(
            {
                "name": "root-namespaces",
                "prefix": [*guard, unshare, *_UNSHARE_ROOT],
                "namespaces": True,
                "uid_drop": True,
            }
        )
    if unshare:
        modes.append(
            {
                "name": "user-namespaces",
                "prefix": [*guard, unshare, *_UNSHARE_USER],
                "namespaces": True,
                "uid_drop": False,
            }
        )
    if root:
        modes.append(
            {"name": "rlimits+uid", "prefix": guard, "namespaces": False, "uid_drop": True}
        )
    else:  # root without a uid of its own would keep owner access to every root-owned file
        modes.append({"name": "rlimits", "prefix": guard, "namespaces": False, "uid_drop": False})
    return modes


def isolation() -> dict:
    """The isolation mode this process uses, probed once by running a trivial program.

    Keys: ``name`` (``root-namespaces`` | ``user-namespaces`` | ``rlimits+uid`` | ``rlimits``),
    ``namespaces`` (network/PID/mount isolation and private tmp dirs), ``uid_drop``.
    """
    global _MODE
    if _MODE is None:
        _remove_orphans()
        for mode in _mode_candidates():
            result = _run(mode, {"probe.py": _PROBE}, "probe.py", b"", Limits(wall_s=10))
            if result.returncode == 0 and result.stdout == b"ok\n":
                _MODE = mode
                break
        else:
            raise RuntimeError(
                "the code sandbox cannot start a program in any isolation mode "
                f"({', '.join(m['name'] for m in _mode_candidates())}); as root it needs "
                "util-linux `unshare`, or an interpreter that other users can read"
            )
    return {k: _MODE[k] for k in ("name", "namespaces", "uid_drop")}


def run(
    files: dict[str, str | bytes],
    script: str,
    *,
    stdin: str | bytes = b"",
    limits: Limits | None = None,
) -> RunResult:
    """Run ``python script`` (one of ``files``) in a fresh sandbox directory; see module doc."""
    isolation()
    assert _MODE is not None
    if isinstance(stdin, str):
        stdin = stdin.encode()
    return _run(_MODE, files, script, stdin, limits or Limits())


def _remove_orphans() -> None:
    """Remove the run directories of dead processes (a worker the pool killed mid-run never
    reached its cleanup); each directory is named after the pid that made it."""
    import glob
    import shutil
    import tempfile

    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{_DIR_PREFIX}*-*")):
        pid = os.path.basename(path)[len(_DIR_PREFIX) :].split("-")[0]
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _sandbox_uid() -> int:
    return UID_BASE + os.getpid() % UID_SPAN


def _run(mode: dict, files: dict, script: str, stdin: bytes, limits: Limits) -> RunResult:
    import shutil
    import subprocess
    import tempfile

    if script not in files:
        raise ValueError(f"script {script!r} is not one of the files {sorted(files)}")
    uid = _sandbox_uid() if mode["uid_drop"] else -1
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
            data = content.encode() if isinstance(content, str) else content
            with open(os.path.join(box, name), "wb") as f:
                f.write(data)
        stdin_path = os.path.join(top, "stdin")
        with open(stdin_path, "wb") as f:
            f.write(stdin)
        python = interpreter()
        prefixes = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(python))}
        config = {
            "root": top,
            "workdir": box,
            "script": script,
            "uid": uid,
            "namespaces": int(mode["namespaces"]),
            "expose": ":".join(sorted(prefixes)),
            "cpu": limits.cpu_s,
            "mem": limits.memory_mb,
            "nproc": limits.nproc,
            "fsize": limits.fsize_mb,
            "nofile": limits.nofile,
            "tmpfs": limits.tmpfs_mb,
        }
        argv = [*mode["prefix"], python, "-I", "-S", "-B", os.path.abspath(__file__), "--launch"]
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
        result = _collect(proc, limits)
        if not mode["namespaces"] and uid >= 0:
            _kill_uid(uid)
        return result
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _collect(proc, limits: Limits) -> RunResult:
    """Read both pipes until EOF, the byte cap or the deadline; kill the group on the latter."""
    import contextlib
    import selectors
    import signal
    import time

    deadline = time.monotonic() + limits.wall_s
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    total = 0
    timed_out = capped = False
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
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
            if total > limits.output_bytes:
                capped = True
                break
    if not (timed_out or capped):
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except Exception:  # subprocess.TimeoutExpired: the program closed its pipes, kept running
            timed_out = True
    if timed_out or capped:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    stdout, stderr = b"".join(chunks[out_fd]), b"".join(chunks[err_fd])
    setup_error = None
    if proc.returncode == SETUP_FAILED and _SETUP_TAG.encode() in stderr:
        setup_error = stderr.split(_SETUP_TAG.encode())[-1].decode(errors="replace").strip()
    killed = timed_out or capped
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
    import contextlib
    import shutil
    import subprocess

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


# ---------------------------------------------------------------------------------------------
# Program side: executed as ``python -I -S sandbox.py --launch key=value ...``
# ---------------------------------------------------------------------------------------------

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_BIND, _MS_REC = 4096, 16384
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_DEV_NODES = ("null", "zero", "random", "urandom")


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str = ""):
    args = [s.encode() if s else None for s in (source, target, fstype)]
    if libc.mount(*args, flags, data.encode() or None) != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or source} on {target}: {os.strerror(err)}")


def _tmpfs(libc, target: str, options: str, flags: int = _MS_NOSUID | _MS_NODEV) -> None:
    os.makedirs(target, exist_ok=True)
    _mount(libc, "tmpfs", target, "tmpfs", flags, options)


def _bind_read_only(libc, source: str, target: str) -> None:
    _mount(libc, source, target, None, _MS_BIND | _MS_REC)
    kept = os.statvfs(target).f_flag & (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC)  # locked in userns
    # Best effort (result unchecked): the sandbox uid cannot write to root-owned trees anyway.
    libc.mount(None, target.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | kept, None)


def _new_root(libc, cfg: dict) -> None:
    """Build the program's whole filesystem in a tmpfs and chroot into it.

    Visible: ``SYSTEM_DIRS`` and the interpreter's prefix (read-only), a minimal ``/dev``
    (null, zero, random, urandom: no GPU or disk nodes), a ``/proc`` showing only the
    sandbox's processes, and size-capped tmpfs ``/tmp``, ``/dev/shm`` and ``SANDBOX_DIR`` (a
    copy of the program's files). Nothing else: no /etc, /home, /root, /work, /run, /sys.
    """
    root = cfg["root"]
    box = os.open(cfg["workdir"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    prefixes = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in cfg["expose"]}
    nodes = {n: os.open(f"/dev/{n}", os.O_PATH | os.O_CLOEXEC) for n in _DEV_NODES}
    _tmpfs(libc, root, "size=1m,mode=755")
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            os.symlink(os.readlink(d), root + d)
        elif os.path.isdir(d):
            os.mkdir(root + d)
            _bind_read_only(libc, d, root + d)
    for path, fd in prefixes.items():
        if not os.path.exists(root + path):  # e.g. a pyenv or conda interpreter
            os.makedirs(root + path)
            _bind_read_only(libc, f"/proc/self/fd/{fd}", root + path)
        os.close(fd)
    dev = root + "/dev"
    _tmpfs(libc, dev, "size=64k,mode=755", _MS_NOSUID | _MS_NOEXEC)
    for name, fd in nodes.items():
        open(f"{dev}/{name}", "w").close()
        _mount(libc, f"/proc/self/fd/{fd}", f"{dev}/{name}", None, _MS_BIND)
        os.close(fd)
    for name, target in (("fd", ""), ("stdin", "/0"), ("stdout", "/1"), ("stderr", "/2")):
        os.symlink(f"/proc/self/fd{target}", f"{dev}/{name}")
    for d in ("/tmp", "/dev/shm"):
        _tmpfs(libc, root + d, f"size={cfg['tmpfs']}m,mode=1777")
    os.mkdir(root + "/proc")
    _mount(libc, "proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    work = root + SANDBOX_DIR
    _tmpfs(libc, work, f"size={cfg['tmpfs']}m,mode=700")
    owner = cfg["uid"]
    for name in os.listdir(box):
        source = os.open(name, os.O_RDONLY, dir_fd=box)
        with os.fdopen(source, "rb") as src, open(f"{work}/{name}", "wb") as dst:
            dst.write(src.read())
        if owner >= 0:
            os.chown(f"{work}/{name}", owner, owner)
    os.close(box)
    if owner >= 0:
        os.chown(work, owner, owner)
    os.chroot(root)
    os.chdir(SANDBOX_DIR)


def _set_limits(cfg: dict) -> None:
    import resource

    mb = 1 << 20
    for name, value in (
        ("RLIMIT_CPU", cfg["cpu"]),
        ("RLIMIT_AS", cfg["mem"] * mb),
        ("RLIMIT_FSIZE", cfg["fsize"] * mb),
        ("RLIMIT_NOFILE", cfg["nofile"]),
        ("RLIMIT_CORE", 0),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))
    if cfg["uid"] >= 0:  # counted per uid: only meaningful for a uid of our own
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))


def _drop_privileges(libc, uid: int) -> None:
    """Own uid (as real root), then no capabilities at all, even as root of a user namespace
    (where uid 0 is all we have): nothing left to mount, chroot or setuid with."""
    import ctypes

    for cap in range(64):  # the bounding set: no way to regain a capability via exec
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        raise OSError(ctypes.get_errno(), "capset: cannot drop capabilities")
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # a uid change clears it; set it again


def _reap_until(pid: int) -> None:
    """PID 1 of the namespace: reap everything, exit with the program's status."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _exec_program(cfg: dict) -> None:
    import builtins
    import site

    site.setquit()  # ``exit()``/``quit()``, which ``-S`` leaves out
    script = cfg["script"]
    sys.argv = [script]
    sys.path[0] = os.getcwd()
    with open(script, "rb") as f:
        code = compile(f.read(), script, "exec")
    exec(code, {"__name__": "__main__", "__file__": script, "__builtins__": builtins})


def _parse_config(argv: list[str]) -> dict:
    cfg: dict = dict(arg.split("=", 1) for arg in argv)
    for key in ("uid", "namespaces", "cpu", "mem", "nproc", "fsize", "nofile", "tmpfs"):
        cfg[key] = int(cfg[key])
    cfg["expose"] = [p for p in cfg["expose"].split(":") if p]
    return cfg


def _launch(argv: list[str]) -> None:
    try:
        import ctypes

        cfg = _parse_config(argv)
        libc = ctypes.CDLL(None, use_errno=True)
        if cfg["namespaces"]:
            _new_root(libc, cfg)
        else:
            os.chdir(cfg["workdir"])
        os.environ["HOME"] = os.getcwd()
        _set_limits(cfg)
        _drop_privileges(libc, cfg["uid"])
    except BaseException as e:
        sys.stderr.write(f"{_SETUP_TAG} {type(e).__name__}: {e}\n")
        sys.stderr.flush()
        os._exit(SETUP_FAILED)
    if cfg["namespaces"]:
        pid = os.fork()
        if pid:
            _reap_until(pid)
    _exec_program(cfg)


if __name__ == "__main__" and sys.argv[1:2] == ["--launch"]:
    _launch(sys.argv[2:])
