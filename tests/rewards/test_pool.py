"""WorkerPool: results in order, per-item timeouts, and recovery from every way a worker dies."""

from __future__ import annotations

import ctypes
import os
import signal
import time

import pytest

from flowrl_jax.rewards.pool import Outcome, WorkerPool

# Work functions: module level so the workers can import them by name.


def square(x):
    return x * x


def fail(message):
    raise ValueError(message)


def exit_hard(code):
    os._exit(code)


def segfault(_):
    ctypes.string_at(0)


def kill_self(_):
    os.kill(os.getpid(), signal.SIGKILL)


def hang(seconds):
    time.sleep(seconds)


def spin(_):
    while True:
        pass


def allocate(n_bytes):
    return len(bytearray(n_bytes))


def pid(_):
    return os.getpid()


def act(kind, arg):
    """One batch, many fates: dispatch by name (``map`` takes a single function)."""
    return {"square": square, "exit": exit_hard, "hang": hang, "segv": segfault}[kind](arg)


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(2, memory_mb=1024) as p:
        yield p


def test_results_in_input_order(pool):
    assert pool.map(square, [(i,) for i in range(20)], timeout=10) == [
        Outcome("ok", i * i) for i in range(20)
    ]


def test_exception_is_an_error_outcome_and_worker_survives(pool):
    replaced = pool.replaced
    out = pool.map(fail, [("bad input",)], timeout=10)
    assert out == [Outcome("error", "ValueError: bad input")]
    assert pool.replaced == replaced


@pytest.mark.parametrize("fn", [exit_hard, segfault, kill_self], ids=["os._exit", "segv", "kill9"])
def test_dead_worker_costs_one_item_and_is_replaced(pool, fn):
    replaced = pool.replaced
    items = [(1,), (2,), (3,), (4,)]
    out = pool.map(square, items[:1], timeout=10) + pool.map(fn, [(3,)], timeout=10)
    out += pool.map(square, items, timeout=10)
    assert out[0] == Outcome("ok", 1)
    assert out[1].status == "died"
    assert out[2:] == [Outcome("ok", x * x) for (x,) in items]
    assert pool.replaced == replaced + 1
    assert pool.num_workers == 2


def test_mixed_batch_keeps_order(pool):
    items = [("square", 3), ("exit", 1), ("square", 4), ("hang", 30), ("segv", 0), ("square", 5)]
    outs = pool.map(act, items, timeout=1.0)
    assert [o.status for o in outs] == ["ok", "died", "ok", "timeout", "died", "ok"]
    assert [o.value for o in outs if o.status == "ok"] == [9, 16, 25]
    assert outs[4].value == -signal.SIGSEGV


@pytest.mark.parametrize("fn", [hang, spin], ids=["sleep", "busy-loop"])
def test_hanging_item_is_killed_at_its_deadline(pool, fn):
    start = time.monotonic()
    out = pool.map(fn, [(60,), (60,)], timeout=0.5)
    assert [o.status for o in out] == ["timeout", "timeout"]
    assert time.monotonic() - start < 3.0
    assert pool.map(square, [(7,)], timeout=10) == [Outcome("ok", 49)]


def test_one_slow_item_does_not_hold_up_the_others(pool):
    start = time.monotonic()
    out = pool.map(hang, [(60,)] + [(0,)] * 6, timeout=1.0)
    assert out[0].status == "timeout"
    assert all(o == Outcome("ok", None) for o in out[1:])
    assert time.monotonic() - start < 3.0


def test_memory_limit_turns_allocation_bombs_into_errors(pool):
    out = pool.map(allocate, [(8 << 30,), (1 << 20,)], timeout=10)
    assert out[0].status == "error" and "MemoryError" in out[0].value
    assert out[1] == Outcome("ok", 1 << 20)


def test_close_reaps_workers():
    p = WorkerPool(2)
    pids = [o.value for o in p.map(pid, [(None,)] * 4, timeout=10)]
    p.close()
    assert p.closed
    for worker_pid in set(pids):
        assert not os.path.exists(f"/proc/{worker_pid}")  # exited and reaped
    with pytest.raises(RuntimeError, match="closed"):
        p.map(square, [(1,)], timeout=1)
    p.close()  # idempotent


def test_spawn_start_method_works():
    with WorkerPool(1, start_method="spawn") as p:
        assert p.map(square, [(3,)], timeout=30) == [Outcome("ok", 9)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="start_method"):
        WorkerPool(1, start_method="fork")
    with pytest.raises(ValueError, match="num_workers"):
        WorkerPool(0)


@pytest.mark.parametrize("chunksize", [1, 64])
def test_chunked_batch_blames_only_the_bad_items(pool, chunksize):
    """Replies are batched, so fast items just before a hang are finished but unreported when
    the worker is killed: they must be re-run, not blamed, and the hang must cost one timeout."""
    items = [("square", i) for i in range(40)]
    items[17] = ("hang", 30)
    items[29] = ("exit", 3)
    start = time.monotonic()
    outs = pool.map(act, items, timeout=0.75, chunksize=chunksize)
    assert outs[17] == Outcome("timeout")
    assert outs[29] == Outcome("died", 3)
    others = [o for i, o in enumerate(outs) if i not in (17, 29)]
    assert others == [Outcome("ok", i * i) for i in range(40) if i not in (17, 29)]
    assert time.monotonic() - start < 4.0  # one timeout, not two
