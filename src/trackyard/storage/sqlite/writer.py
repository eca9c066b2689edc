"""One writer thread per process that commits the work of many requests at once.

Requests hand the writer a job (a function of a connection) and await its
future. The writer takes every job waiting, runs each inside its own SAVEPOINT
of one transaction (or, for a job of one statement, which is atomic by
itself, without one), commits once (one fsync), and only then resolves the
futures: an answer is never sent for uncommitted data. If the commit fails,
every job of that transaction fails with StoreUnavailable.

Each statement costs the writer thread a wait for Python's lock, which the
event loop holds while it validates requests: up to a switch interval (5 ms)
when the loop is busy. So jobs are single statements where they can be
(event_insert.py), consecutive jobs of a class with a `run_together`
(`Mergeable`) run as one statement, work done once per transaction runs in
`hooks`, and the futures of a commit are handed back to the loop in one call.

Writers of several processes sharing one file take turns, in order, through
lock files beside it (file_turn.py).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from trackyard import metrics
from trackyard.errors import Conflict, StoreUnavailable, TrackyardError
from trackyard.storage.futures import resolve_all
from trackyard.storage.sqlite.file_turn import FileTurn

log = logging.getLogger(__name__)

Job = Callable[[sqlite3.Connection], Any]


class Mergeable(Protocol):
    """A job whose class can run several of its jobs, queued one after the
    other, in one statement: `run_together` returns their results in order and
    either applies all of them or raises having applied none."""

    def __call__(self, conn: sqlite3.Connection) -> Any: ...

    @staticmethod
    def run_together(conn: sqlite3.Connection, jobs: Sequence[Any]) -> list[Any]: ...


class TransactionHooks(Protocol):
    def before_commit(self, conn: sqlite3.Connection) -> None:
        """Last statements of a group transaction that is about to commit."""

    def end(self) -> None:
        """The transaction committed or rolled back."""


@dataclass
class _Pending:
    job: Job
    weight: int
    savepoint: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_batch_weight: int,
        max_queued_weight: int,
        lock_prefix: str | None = None,
        hooks: TransactionHooks | None = None,
    ) -> None:
        self._connect = connect
        self._hooks = hooks
        self._turn = FileTurn(lock_prefix)
        self._max_batch_weight = max_batch_weight
        self._max_queued_weight = max_queued_weight
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._queued_weight = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unwatch: Callable[[], None] = lambda: None
        self.last_commit_seconds = 0.0
        self.transactions = 0  # group transactions attempted, for metrics and tests

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trackyard-writer", daemon=True)
            self._thread.start()
            self._unwatch = metrics.watch(metrics.WRITER_QUEUE_RECORDS, lambda: self._queued_weight)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
            self._unwatch()

    @property
    def queued_weight(self) -> int:
        return self._queued_weight

    async def submit(self, job: Job, weight: int = 1, *, savepoint: bool = True) -> Any:
        """Run `job` in the next group transaction; return its result once committed.

        `savepoint=False` is for a job of one statement: it is atomic without one.
        """
        if self._thread is None:
            raise StoreUnavailable("the store is not open")
        with self._lock:
            if self._queued_weight and self._queued_weight + weight > self._max_queued_weight:
                raise StoreUnavailable("the store is busy; retry later")
            self._queued_weight += weight
        loop = asyncio.get_running_loop()
        pending = _Pending(job, weight, savepoint, loop, loop.create_future())
        self._queue.put(pending)
        return await pending.future

    def _run(self) -> None:
        conn = self._connect()
        self._turn.open()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                with self._turn.held():
                    # Gathered once the turn is ours: what queued while another
                    # process wrote joins this commit, and each commit's page
                    # writes are shared by more records (docs/performance.md).
                    batch = self._gather(first)
                    self._commit(conn, batch)
        finally:
            self._turn.close()
            conn.close()

    def _gather(self, first: _Pending) -> list[_Pending]:
        batch, weight = [first], first.weight
        while weight < self._max_batch_weight:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # Stop after this batch.
                break
            batch.append(item)
            weight += item.weight
        return batch

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        self.transactions += 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for run in _runs(batch):
                if len(run) > 1:
                    self._run_together(conn, run)
                else:
                    self._run_job(conn, run[0])
            if self._hooks is not None:
                self._hooks.before_commit(conn)
            conn.commit()
            metrics.COMMITS.labels("committed").inc()
        except sqlite3.Error as exc:
            log.warning("group commit of %d jobs failed: %s", len(batch), exc)
            _rollback(conn)
            metrics.COMMITS.labels("failed").inc()
            # SQLITE_FULL, SQLITE_READONLY, SQLITE_BUSY, I/O errors: nothing of
            # the batch is kept, and each request is told to retry later.
            failure = StoreUnavailable(f"the store cannot commit: {exc}")
            for item in batch:
                item.error, item.result = failure, None
        finally:
            if self._hooks is not None:
                self._hooks.end()
        self.last_commit_seconds = time.perf_counter() - started
        metrics.COMMIT_SECONDS.observe(self.last_commit_seconds)
        weight = sum(item.weight for item in batch)
        with self._lock:
            self._queued_weight -= weight
        loops: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for item in batch:
            loops.setdefault(item.loop, []).append(item)
        for loop, items in loops.items():
            loop.call_soon_threadsafe(resolve_all, items)

    def _run_together(self, conn: sqlite3.Connection, run: list[_Pending]) -> None:
        mergeable = cast(Mergeable, run[0].job)
        try:
            results = mergeable.run_together(conn, [item.job for item in run])
        except sqlite3.IntegrityError:
            results = None  # One job's fault: it alone should fail.
        except sqlite3.Error:
            raise  # The store's fault: the whole transaction fails.
        except Exception:
            log.exception("merged write jobs failed; running them one by one")
            results = None
        if results is None:
            for item in run:
                self._run_job(conn, item)
            return
        for item, result in zip(run, results, strict=True):
            item.result = result

    def _run_job(self, conn: sqlite3.Connection, item: _Pending) -> None:
        if item.savepoint:
            conn.execute("SAVEPOINT job")
        try:
            item.result = item.job(conn)
        except sqlite3.IntegrityError as exc:
            item.error = Conflict(f"already exists: {exc}")
        except sqlite3.Error:
            raise  # The store's fault: the whole transaction fails.
        except Exception as exc:
            # The job's own fault (NotFound, a bug): undo it alone, keep the others.
            if not isinstance(exc, TrackyardError):
                log.exception("a write job failed")
            item.error = exc
        if item.savepoint:
            if item.error is not None:
                conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")


def _runs(batch: list[_Pending]) -> Iterator[list[_Pending]]:
    """The batch in order, consecutive jobs of one `Mergeable` class together."""
    run: list[_Pending] = []
    for item in batch:
        kind = type(item.job)
        if run and kind is type(run[0].job) and hasattr(kind, "run_together"):
            run.append(item)
            continue
        if run:
            yield run
        run = [item]
    if run:
        yield run


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except sqlite3.Error:
        log.exception("rollback failed")
