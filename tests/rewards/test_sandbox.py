"""Sandbox layers one by one: each attack must fail because of the layer named in the test.

The seccomp filter is checked with raw system calls (numbers resolved for this architecture),
the user namespace with seccomp switched off, so that each layer is shown to hold by itself.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import platform

import pytest

from flowrl_jax.rewards import sandbox

pyseccomp = pytest.importorskip("pyseccomp")


def nr(name: str) -> int:
    return pyseccomp.resolve_syscall(pyseccomp.system_arch(), name)


def run(code: str, mode: sandbox.Isolation | None = None, **files: str) -> str:
    result = sandbox.run({"p.py": code, **files}, "p.py", mode=mode)
    assert result.setup_error is None, result
    return result.stdout.decode() + result.stderr.decode()


SYSCALL = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
buffer = ctypes.create_string_buffer(256)
result = libc.syscall({nr}, {args})
print(errno.errorcode.get(ctypes.get_errno(), "?") if result < 0 else "ALLOWED")
"""

DENIED = [
    ("keyctl", "0, -3, 0"),  # KEYCTL_GET_KEYRING_ID of the session keyring
    ("add_key", 'b"user", b"k", b"v", 1, -4'),
    ("request_key", 'b"user", b"k", None, 0'),
    ("io_uring_setup", "4, buffer"),
    ("io_uring_enter", "0, 0, 0, 0, None, 0"),
    ("io_uring_register", "0, 0, None, 0"),
    ("ptrace", "16, 1, 0, 0"),  # PTRACE_ATTACH to PID 1
    ("process_vm_readv", "1, buffer, 1, buffer, 1, 0"),
    ("bpf", "0, buffer, 48"),
    ("perf_event_open", "buffer, 0, -1, -1, 0"),
    ("userfaultfd", "0"),
]


@pytest.mark.parametrize(("name", "args"), DENIED, ids=[name for name, _ in DENIED])
def test_seccomp_denies(name, args):
    assert name in sandbox.DENIED_SYSCALLS
    assert run(SYSCALL.format(nr=nr(name), args=args)).split() == ["EPERM"]


SOCKET = """
import socket
try:
    socket.socket(socket.{family}, socket.{kind}).close()
    print("ALLOWED")
except OSError as e:
    print(e.errno)
"""


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        ("AF_INET", "SOCK_STREAM"),
        ("AF_INET6", "SOCK_DGRAM"),
        ("AF_NETLINK", "SOCK_RAW"),
        ("AF_VSOCK", "SOCK_STREAM"),
        ("AF_PACKET", "SOCK_RAW"),
    ],
)
def test_seccomp_allows_no_socket_family_but_unix(family, kind):
    assert run(SOCKET.format(family=family, kind=kind)).split() == [str(errno.EAFNOSUPPORT)]


def test_unix_sockets_and_pipes_still_work():
    code = (
        "import multiprocessing, socket\n"
        "a, b = socket.socketpair()\n"
        "a.sendall(b'hi')\n"
        "print(b.recv(2).decode())"
    )
    assert run(code).split() == ["hi"]


def test_the_socket_family_is_checked_on_all_64_bits():
    """AF_INET with garbage in the upper half of the register: the kernel reads an int."""
    code = SYSCALL.format(nr=nr("socket"), args="(1 << 32) | 2, 1, 0")
    assert run(code).split() == ["EAFNOSUPPORT"]


X32 = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("x32", libc.syscall(0x40000000 | {getpid}), flush=True)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 ABIs")
def test_another_abi_cannot_dodge_the_filter():
    """x32 system call numbers reach the same kernel code under other numbers: killed."""
    result = sandbox.run({"p.py": X32.format(getpid=nr("getpid"))}, "p.py")
    assert b"x32" not in result.stdout
    assert result.returncode != 0


KEYRING = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if open("role").read() == "leave":
    for keyring in (-4, -5, -3):  # user, user-session, session
        assert libc.syscall({add_key}, b"user", b"flowrl-leak", b"secret", 6, keyring) > 0
    print("left")
else:
    print("FOUND" if libc.syscall({request_key}, b"user", b"flowrl-leak", None, 0) > 0 else "-")
"""


def test_a_key_left_by_one_run_is_invisible_to_the_next():
    """With seccomp off: the user namespace (user keyrings) and the new session keyring."""
    mode = sandbox.isolation()
    if not mode.namespaces:
        pytest.skip(f"no user namespace in mode {mode.name}")
    code = KEYRING.format(add_key=nr("add_key"), request_key=nr("request_key"))
    open_mode = dataclasses.replace(mode, seccomp=False)
    assert run(code, open_mode, role="leave").split() == ["left"]
    assert run(code, open_mode, role="look").split() == ["-"]
    # With the filter, a program cannot even try.
    assert "EPERM" in run(SYSCALL.format(nr=nr("add_key"), args='b"user", b"k", b"v", 1, -4'))


STATUS = """
fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(fields["Seccomp"].strip(), fields["NoNewPrivs"].strip(), fields["CapEff"].strip(),
      fields["CapBnd"].strip())
"""


def test_the_program_has_no_capability_and_a_filter():
    seccomp, no_new_privs, effective, bounding = run(STATUS).split()
    assert (seccomp, no_new_privs) == ("2", "1")
    assert int(effective, 16) == int(bounding, 16) == 0


def test_the_program_is_in_a_user_namespace_of_its_own():
    mode = sandbox.isolation()
    if not mode.namespaces:
        pytest.skip(f"no user namespace in mode {mode.name}")
    code = "import os\nprint(os.readlink('/proc/self/ns/user'))"
    assert run(code).strip() != os.readlink("/proc/self/ns/user")


def test_isolation_is_immutable_and_probed_once():
    mode = sandbox.isolation()
    assert sandbox.isolation() is mode
    with pytest.raises(dataclasses.FrozenInstanceError):
        mode.seccomp = False  # type: ignore[misc]
