"""A process pool that survives the work it runs: per-item deadlines and worker replacement.

``multiprocessing.Pool`` hangs when a worker dies and ``ProcessPoolExecutor`` marks itself
broken, failing every pending item. Verifiers run model-written text through sympy, sqlite and
sandboxes, so a worker *will* occasionally segfault, be OOM-killed or hang in C code where no
signal reaches it. Here each worker has its own pipe and a shared-memory slot saying which item
it is on and since when; the parent waits on pipes and process sentinels until the earliest
deadline, and

- a worker that exits or is killed mid-item yields ``Outcome("died")`` for that item only,
- an item past its deadline gets its worker SIGKILLed and yields ``Outcome("timeout")``,

and in both cases a fresh worker takes the slot and the rest of its chunk is queued again.
Items travel in chunks and replies in batches, so cheap items (Countdown: ~50 us) do not each
pay a pipe round trip; the shared slot keeps deadlines and blame per item all the same.

Workers come from the ``forkserver`` context by default (``fork`` is unsafe in a trainer that
runs JAX threads); modules named in ``preload`` are imported once by the fork server, so a
replacement starts in tens of ms instead of re-importing sympy.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import pickle
import resource
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

START_METHODS = ("forkserver", "spawn")
MAX_AUTO_CHUNK = 64
TARGET_CHUNK_S = 0.005
"""Automatic chunks hold about this much work, by the cost per item measured so far."""
FLUSH_S = 0.01
"""A worker sends the replies it has at least this often (and at the end of a chunk)."""
_MAX_ERROR_CHARS = 500
_IDLE, _BOOTING, _LOADING = -1.0, -2.0, -3.0
_BOOT_POLL_S = 0.05
BOOT_TIMEOUT_S = 60.0
"""How long a worker may take to start, or to unpickle a chunk (which can import the function's
module), before the item is declared lost; item clocks start when the item does."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one item: ``status`` in ok | error | timeout | died.

    ``value`` is the function's return value (ok), ``"ExcType: message"`` (error), or the
    worker's exit code, negative for a signal (died).
    """

    status: str
    value: Any = None


def _worker_main(conn, current, memory_mb: int | None) -> None:
    """Serve ``(indices, fn, items)`` chunks until ``None`` arrives.

    ``current`` is shared memory: ``[index of the item being run, its start time]``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_mb:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, hard))
    current[1], current[0] = time.monotonic(), _IDLE
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        current[0] = _LOADING  # unpickling may import fn's module: not the item's time
        request = pickle.loads(request)
        if request is None:
            return
        indices, fn, items = request
        replies, last_flush = [], time.monotonic()
        for index, args in zip(indices, items, strict=True):
            current[1], current[0] = time.monotonic(), index
            try:
                replies.append((index, "ok", fn(*args)))
            except BaseException as e:  # the item failed, the worker lives on
                replies.append((index, "error", f"{type(e).__name__}: {e}"[:_MAX_ERROR_CHARS]))
            if index == indices[-1] or time.monotonic() - last_flush >= FLUSH_S:
                current[0] = _IDLE
                _send(conn, replies)
                replies, last_flush = [], time.monotonic()


def _send(conn, replies: list) -> None:
    try:
        conn.send(replies)
    except Exception:  # e.g. an unpicklable return value: send what can be sent
        for index, status, value in replies:
            try:
                conn.send([(index, status, value)])
            except Exception as e:
                conn.send([(index, "error", f"cannot send result: {type(e).__name__}: {e}")])


class _Worker:
    def __init__(self, ctx, memory_mb: int | None):
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.current = ctx.RawArray("d", [_BOOTING, 0.0])
        self.process = ctx.Process(
            target=_worker_main,
            args=(child_conn, self.current, memory_mb),
            daemon=True,
            name="flowrl-verifier",
        )
        self.process.start()
        child_conn.close()
        self.unanswered: collections.deque[int] = collections.deque()
        self.busy_since = 0.0  # last reply, or when it got work while idle

    def deadline(self, timeout: float) -> tuple[int | None, float]:
        """The item this worker is on (None if not known) and when it is overdue."""
        # The worker writes the start time, then the index: reading the index first means the
        # start time read after it is never older than that item's.
        index = self.current[0]
        start = self.current[1]
        if index in (_BOOTING, _LOADING):
            return None, self.busy_since + BOOT_TIMEOUT_S + timeout
        if int(index) in self.unanswered:
            return int(index), start + timeout
        return None, max(start, self.busy_since) + timeout

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class WorkerPool:
    """``num_workers`` long-lived worker processes; ``map`` is the only way to use them.

    Use as a context manager (or call ``close``) so workers are reaped; a trainer keeps one
    pool for the whole run. Not thread-safe: one ``map`` at a time.
    """

    def __init__(
        self,
        num_workers: int | None = None,
        *,
        memory_mb: int | None = 4096,
        start_method: str = "forkserver",
        preload: Sequence[str] = (),
    ):
        if start_method not in START_METHODS:
            raise ValueError(f"start_method must be one of {START_METHODS}, got {start_method!r}")
        if num_workers is None:
            num_workers = os.cpu_count() or 1
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver" and preload:
            # Only takes effect if this process has not started its fork server yet.
            self._ctx.set_forkserver_preload(list(preload))
        self._memory_mb = memory_mb
        self._workers: list[_Worker] = []
        self._timing = [0.0, 0]  # seconds, items answered: the cost estimate of this map
        self.replaced = 0
        """How many workers died or were killed and replaced (a health metric)."""
        try:
            for _ in range(num_workers):
                self._workers.append(_Worker(self._ctx, memory_mb))
        except BaseException:
            self.close()
            raise

    @property
    def num_workers(self) -> int:
        return len(self._workers)

    @property
    def closed(self) -> bool:
        return not self._workers

    def map(
        self, fn: Callable, items: Sequence[tuple], *, timeout: float, chunksize: int | None = None
    ) -> list[Outcome]:
        """``fn(*item)`` for each item in a worker, in input order; never raises for an item.

        ``fn`` must be importable by name (a module-level function). ``timeout`` is seconds of
        wall-clock time per item. ``chunksize`` (items sent at once) adapts by default to the
        measured cost per item; pass 1 for items that each take many milliseconds.
        """
        if self.closed:
            raise RuntimeError("this WorkerPool is closed")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        results: list[Outcome | None] = [None] * len(items)
        pending = collections.deque(range(len(items)))
        self._timing = [0.0, 0]
        while True:
            # Idle workers first, then one chunk queued behind the running one.
            for limit in (0, None):
                for worker in list(self._workers):
                    self._feed(worker, fn, items, pending, chunksize, limit)
            active = [w for w in self._workers if w.unanswered]
            if not active:
                if pending:  # a send found a dead idle worker; its replacement takes the chunk
                    continue
                return results  # type: ignore[return-value]
            wake = min(w.deadline(timeout)[1] for w in active)
            if any(w.current[0] in (_BOOTING, _LOADING) for w in active):
                wake = min(wake, time.monotonic() + _BOOT_POLL_S)  # its clock starts when up
            waitables = [w.conn for w in active] + [w.process.sentinel for w in active]
            wait(waitables, timeout=max(0.0, wake - time.monotonic()))
            for worker in active:
                lost = self._check(worker, results, timeout)
                if lost is not None:
                    culprit, outcome = lost
                    results[culprit] = outcome
                    worker.unanswered.remove(culprit)
                    # Finished-but-unreported items run again; they were cheap (< FLUSH_S).
                    pending.extendleft(reversed(worker.unanswered))
                    self._replace(worker)

    def _feed(self, worker: _Worker, fn, items, pending, chunksize, limit: int | None) -> None:
        """Send chunks while the worker holds at most ``limit`` items (default: one chunk):
        a chunk queued behind the running one means a worker never waits for the parent (on
        a loaded host the parent may take milliseconds to be scheduled)."""
        while pending:
            size = chunksize or self._auto_chunksize(len(pending))
            if len(worker.unanswered) > (size if limit is None else limit):
                return
            chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
            try:
                worker.conn.send((chunk, fn, [items[i] for i in chunk]))
            except (BrokenPipeError, ConnectionResetError, EOFError):
                pending.extendleft(reversed(chunk))
                if not worker.unanswered:  # died while idle: replace it now
                    self._replace(worker)
                return  # otherwise _check finds it dead and blames the item it was on
            if not worker.unanswered:
                worker.busy_since = time.monotonic()
            worker.unanswered.extend(chunk)

    def _auto_chunksize(self, remaining: int) -> int:
        """Chunks of about ``TARGET_CHUNK_S`` of work (one item until a cost is measured),
        never more than an even share of what is left, so the tail stays balanced."""
        seconds, count = self._timing
        if not count:
            return 1
        per_item = max(seconds / count, 1e-6)
        share = -(-remaining // self.num_workers)
        return max(1, min(MAX_AUTO_CHUNK, int(TARGET_CHUNK_S / per_item), share))

    def _check(self, worker: _Worker, results: list, timeout: float):
        """Store the replies that arrived; ``(index, Outcome)`` if the worker lost an item."""
        broken = self._drain(worker, results)
        if not worker.unanswered:
            return None
        if broken or not worker.process.is_alive():
            if not broken and not self._drain(worker, results) and not worker.unanswered:
                return None  # it answered, then died: nothing lost
            worker.process.join(1.0)
            outcome = Outcome("died", worker.process.exitcode)
        else:
            if time.monotonic() < worker.deadline(timeout)[1]:
                return None
            outcome = Outcome("timeout")
        index, _ = worker.deadline(timeout)
        return (worker.unanswered[0] if index is None else index), outcome

    def _drain(self, worker: _Worker, results: list) -> bool:
        """Read every available reply; True if the pipe is broken (the worker is gone)."""
        try:
            while worker.unanswered and worker.conn.poll():
                replies = worker.conn.recv()
                for index, status, value in replies:
                    results[index] = Outcome(status, value)
                    worker.unanswered.remove(index)
                now = time.monotonic()
                self._timing[0] += now - worker.busy_since
                self._timing[1] += len(replies)
                worker.busy_since = now
        except (EOFError, OSError):
            return True
        return False

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        worker.unanswered.clear()
        fresh = _Worker(self._ctx, self._memory_mb)
        self._workers[self._workers.index(worker)] = fresh
        self.replaced += 1
        return fresh

    def close(self) -> None:
        """Ask workers to exit, kill those that do not within a second; idempotent."""
        workers, self._workers = self._workers, []
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        deadline = time.monotonic() + 1.0
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            worker.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
