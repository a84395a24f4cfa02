"""The in-namespace half of the sandbox (the host half is ``sandbox.py``; docs/verifiers.md).

Executed as ``python -I -S -B sandbox_launcher.py key=value ...`` by ``sandbox.run``, inside
the namespaces its command line made (``unshare``). Module-level imports stay ``os`` and
``sys``: everything here is paid on every run. In order, the launcher

1. builds a new root in a tmpfs (read-only system directories and the interpreter, a minimal
   ``/dev``, its own ``/proc``, size-capped tmpfs ``/tmp`` and ``/sandbox`` holding a copy of
   the program's files; nothing else of the host);
2. as root of the host, becomes the run's own uid and the sole member of a new user namespace,
   so per-user kernel state (the user keyring, per-user counts) starts empty on every run;
3. chroots, sets rlimits, joins a new empty session keyring;
4. drops every capability (bounding set included) and sets ``no_new_privs``;
5. loads the seccomp filter the host built (``sandbox.seccomp_filter``);
6. forks the program, started by ``RUNNER`` in a fresh interpreter, and stays PID 1 of the
   namespace as a reaper: when the program exits, the kernel kills everything left.
"""

from __future__ import annotations

import os
import sys

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Read-only in the sandbox (with the interpreter's own prefix); nothing else of the host is."""
SANDBOX_DIR = "/sandbox"
SETUP_FAILED = 125
"""Exit status of the launcher when the sandbox itself could not be set up."""
SETUP_TAG = "flowrl-sandbox-setup:"
RUNNER = """
def _run():
    import builtins, os, resource, site, sys

    path, cpu_s = sys.argv[1], int(sys.argv[2])
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    cpu_s = cpu_s if hard == resource.RLIM_INFINITY else min(cpu_s, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    site.setquit()
    sys.argv = [path, *sys.argv[3:]]
    sys.path.insert(0, os.getcwd())
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec")
    main = sys.modules["__main__"].__dict__
    main.clear()
    main.update(__name__="__main__", __file__=path, __builtins__=builtins)
    exec(code, main)


_run()
"""
"""How every sandboxed program starts: ``python -I -S -B -c RUNNER script cpu_s [args]`` runs
``script`` as ``__main__`` of a fresh interpreter, as ``python script`` would (``exit()``, its
directory on ``sys.path``), with ``RLIMIT_CPU`` of ``cpu_s``. The test harness starts each
test's program the same way."""

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_BIND, _MS_REC = 4096, 16384
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_SECCOMP = 1, 4, 22
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 24, 38
_SECCOMP_MODE_FILTER = 2
_CLONE_NEWUSER = 0x10000000
_KEYCTL_JOIN_SESSION_KEYRING = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_DEV_NODES = ("null", "zero", "random", "urandom")
_INT_KEYS = (
    "uid",
    "namespaces",
    "userns",
    "cpu",
    "mem",
    "nproc",
    "fsize",
    "nofile",
    "tmpfs",
    "keyctl",
)


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str = ""):
    args = [s.encode() if s else None for s in (source, target, fstype)]
    if libc.mount(*args, flags, data.encode() or None) != 0:
        _fail(libc, f"mount {fstype or source} on {target}")


def _fail(libc, what: str):
    import ctypes

    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def _tmpfs(libc, target: str, options: str, flags: int = _MS_NOSUID | _MS_NODEV) -> None:
    os.makedirs(target, exist_ok=True)
    _mount(libc, "tmpfs", target, "tmpfs", flags, options)


def _bind_read_only(libc, source: str, target: str) -> None:
    _mount(libc, source, target, None, _MS_BIND | _MS_REC)
    kept = os.statvfs(target).f_flag & (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC)  # locked in userns
    # Best effort (result unchecked): the sandbox uid cannot write to root-owned trees anyway.
    libc.mount(None, target.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | kept, None)


def _new_root(libc, cfg: dict) -> None:
    """Build the program's whole filesystem in a tmpfs at ``cfg["root"]`` (chroot comes later).

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


def _own_user_namespace(libc, uid: int) -> None:
    """Become ``uid``, then the sole member of a new user namespace that maps only ``uid``.

    What the kernel keeps per user (the user keyring, per-user process and inotify counts)
    lives in the user namespace, so each run starts with none of it, whatever an earlier run
    of the same uid left. The new namespace's capabilities count in it alone (enough to
    chroot) and are dropped before the program starts.
    """
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # the uid change made /proc/self root's
    if libc.unshare(_CLONE_NEWUSER) != 0:
        _fail(libc, "unshare(CLONE_NEWUSER)")
    for name, line in (("uid_map", f"{uid} {uid} 1"), ("setgroups", "deny")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(line)
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{uid} {uid} 1")


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
    # Counted per uid in a user namespace: only meaningful for a uid or a namespace of our own.
    if cfg["uid"] >= 0 or cfg["namespaces"]:
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))


def _drop_privileges(libc, uid: int) -> None:
    """Own uid (when ``uid >= 0`` and not done already), then no capabilities at all, even as
    root of a user namespace: nothing left to mount, chroot or setuid with."""
    import ctypes

    for cap in range(64):  # the bounding set: no way to regain a capability via exec
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        _fail(libc, "capset")
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # a uid change clears it; set it again


def _load_seccomp(libc, program: bytes) -> None:
    """Install the classic-BPF ``program`` (``struct sock_filter[]``) for this process and its
    descendants; needs ``no_new_privs``. There is no way to remove it."""
    import ctypes

    class _Prog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_char_p))

    prog = _Prog(len(program) // 8, program)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        _fail(libc, "prctl(PR_SET_SECCOMP)")


def _reap_until(pid: int) -> None:
    """PID 1 of the namespace: reap everything, exit with the program's status. It keeps no
    descriptor of the host's: only the program can write the run's output."""
    for fd in (0, 1, 2):
        os.close(fd)
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _parse_config(argv: list[str]) -> dict:
    cfg: dict = dict(arg.split("=", 1) for arg in argv)
    for key in _INT_KEYS:
        cfg[key] = int(cfg[key])
    cfg["expose"] = [p for p in cfg["expose"].split(":") if p]
    return cfg


def _launch(argv: list[str]) -> None:
    try:
        import ctypes

        cfg = _parse_config(argv)
        libc = ctypes.CDLL(None, use_errno=True)
        with open(cfg["seccomp"], "rb") as f:
            seccomp = f.read()
        if cfg["namespaces"]:
            _new_root(libc, cfg)
        if cfg["userns"]:
            _own_user_namespace(libc, cfg["uid"])
        if cfg["namespaces"]:
            os.chroot(cfg["root"])
        os.chdir(SANDBOX_DIR if cfg["namespaces"] else cfg["workdir"])
        os.environ["HOME"] = os.getcwd()
        _set_limits(cfg)
        # Best effort: where keyctl fails (a container's own filter), the program cannot reach
        # the inherited keyring either, and the filter below denies keyctl in any case.
        libc.syscall(cfg["keyctl"], _KEYCTL_JOIN_SESSION_KEYRING, None)
        _drop_privileges(libc, -1 if cfg["userns"] else cfg["uid"])
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # no /proc/<pid>/fd of ours for the program
        _load_seccomp(libc, seccomp)
    except BaseException as e:
        sys.stderr.write(f"{SETUP_TAG} {type(e).__name__}: {e}\n")
        sys.stderr.flush()
        os._exit(SETUP_FAILED)
    if cfg["namespaces"]:
        pid = os.fork()
        if pid:
            _reap_until(pid)
    python = sys.executable
    os.execv(python, [python, "-I", "-S", "-B", "-c", RUNNER, cfg["script"], str(cfg["cpu"])])


if __name__ == "__main__" and sys.argv[1:2] == ["--launch"]:
    _launch(sys.argv[2:])
