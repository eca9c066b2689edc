"""Group commit for PostgreSQL: the writes of many concurrent requests in one transaction.

Requests hand the writer a piece of work and await its future. One task per
process takes every piece waiting and runs them in one transaction on one
pooled connection:

1. other jobs (projects, accounts, lookup tables), each in its own SAVEPOINT,
   so one call's own error (a duplicate name, a missing table) undoes that
   call alone;
2. identity links: lock each project's graph, in project order (identity.py);
3. all profile updates: lock every profile touched, in key order, then fold
   (profiles.py);
4. all events: one COPY straight into `events`, or, when some are
   duplicates, one COPY into staging and one INSERT (events.py).

Futures are resolved only after COMMIT returned. If the transaction cannot
commit (connection lost, server restarting, COMMIT's outcome unknown), every
call of it fails with StoreUnavailable: a client retry is safe, since events
are deduplicated by key. A deadlock or serialization failure reruns the whole
transaction a few times first. Steps 2-4 take their locks in one global order,
so group transactions of different processes do not deadlock on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from trackyard import metrics
from trackyard.errors import Conflict, StoreUnavailable, TrackyardError
from trackyard.storage.futures import resolve
from trackyard.storage.postgres.events import CopyRoute, EventBatch, insert_event_batches
from trackyard.storage.postgres.identity import (
    IdentityBatch,
    apply_identity_batch,
    lock_projects,
)
from trackyard.storage.postgres.partitions import PartitionKeeper
from trackyard.storage.postgres.profiles import ProfileBatch, ProfileFold

log = logging.getLogger(__name__)

Job = Callable[[AsyncConnection], Awaitable[Any]]
Work = Job | EventBatch | ProfileBatch | IdentityBatch
ATTEMPTS = 3
_RETRYABLE = (errors.DeadlockDetected, errors.SerializationFailure)


@dataclass
class _Pending:
    work: Work
    weight: int
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


def unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the database cannot commit: {exc}".strip())


class GroupCommitWriter:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        partitions: PartitionKeeper,
        *,
        max_batch_weight: int,
        max_queued_weight: int,
    ) -> None:
        self._pool = pool
        self._partitions = partitions
        self._max_batch_weight = max_batch_weight
        self._max_queued_weight = max_queued_weight
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._queued_weight = 0
        self._task: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] = lambda: None
        self._copy_route = CopyRoute()
        self.transactions = 0  # group transactions attempted, for metrics and tests

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pg-writer")
            self._unwatch = metrics.watch(metrics.WRITER_QUEUE_RECORDS, lambda: self._queued_weight)

    async def stop(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
            self._unwatch()

    @property
    def queued_weight(self) -> int:
        return self._queued_weight

    async def submit(self, work: Work, weight: int = 1) -> Any:
        """Run `work` in the next group transaction; return its result once committed."""
        if self._task is None:
            raise StoreUnavailable("the store is not open")
        if self._queued_weight and self._queued_weight + weight > self._max_queued_weight:
            raise StoreUnavailable("the store is busy; retry later")
        self._queued_weight += weight
        pending = _Pending(work, weight, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        while (batch := await self._next_batch()) is not None:
            try:
                await self._commit(batch)
            except Exception as exc:  # never let the writer die with requests waiting
                log.exception("group commit failed unexpectedly")
                for item in batch:
                    item.error, item.result = StoreUnavailable(f"internal error: {exc}"), None
            self._queued_weight -= sum(item.weight for item in batch)
            for item in batch:
                resolve(item)

    async def _next_batch(self) -> list[_Pending] | None:
        first = await self._queue.get()
        if first is None:
            return None
        batch, weight = [first], first.weight
        while weight < self._max_batch_weight and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)  # Stop after this batch.
                break
            batch.append(item)
            weight += item.weight
        return batch

    async def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        committed = await self._try_commit(batch)
        metrics.COMMITS.labels("committed" if committed else "failed").inc()
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)

    async def _try_commit(self, batch: list[_Pending]) -> bool:
        """Run the group transaction, rerunning it after a deadlock; whether it committed."""
        for attempt in range(1, ATTEMPTS + 1):
            self.transactions += 1
            try:
                await self._ensure_partitions(batch)
                async with self._pool.connection() as conn:
                    await self._transaction(conn, batch)
                return True
            except _RETRYABLE as exc:
                log.info("group commit attempt %d of %d: %s", attempt, ATTEMPTS, exc)
                failure: Exception = exc
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("group commit of %d calls failed: %s", len(batch), exc)
                failure = exc
                break
        for item in batch:
            item.error, item.result = unavailable(failure), None
        return False

    async def _ensure_partitions(self, batch: list[_Pending]) -> None:
        months = {
            m for item in batch if isinstance(item.work, EventBatch) for m in item.work.months()
        }
        missing = self._partitions.missing(months)
        if missing:
            await self._partitions.create(self._pool, missing)

    async def _transaction(self, conn: AsyncConnection, batch: list[_Pending]) -> None:
        jobs = [item for item in batch if callable(item.work)]
        identities = [item for item in batch if isinstance(item.work, IdentityBatch)]
        profiles = [item for item in batch if isinstance(item.work, ProfileBatch)]
        events = [item for item in batch if isinstance(item.work, EventBatch)]
        async with conn.transaction():
            for item in jobs:
                await _run_job(conn, item)
            if identities:
                await _apply_identities(conn, identities)
            if profiles:
                await _apply_profiles(conn, profiles)
            if events:
                works = [i.work for i in events]
                results = await insert_event_batches(conn, works, self._copy_route)  # type: ignore[arg-type]
                for item, result in zip(events, results, strict=True):
                    item.result, item.error = result, None


async def _run_job(conn: AsyncConnection, item: _Pending) -> None:
    item.result, item.error = None, None
    try:
        async with conn.transaction():  # a SAVEPOINT inside the group transaction
            item.result = await item.work(conn)  # type: ignore[operator]
    except errors.IntegrityError as exc:
        item.error = Conflict(f"already exists: {exc.diag.message_detail or exc}")
    except (*_RETRYABLE, psycopg.OperationalError, psycopg.InterfaceError):
        raise  # The database's fault: the whole transaction fails (or is retried).
    except psycopg.Error as exc:
        log.exception("a write job failed in the database")
        item.error = StoreUnavailable(f"the database refused a write: {exc}")
    except Exception as exc:
        # The job's own fault (NotFound, a bug): its savepoint is undone, the others stay.
        if not isinstance(exc, TrackyardError):
            log.exception("a write job failed")
        item.error = exc


async def _apply_identities(conn: AsyncConnection, items: list[_Pending]) -> None:
    await lock_projects(conn, {item.work.project_id for item in items})  # type: ignore[union-attr]
    for item in items:
        item.result, item.error = None, None
        try:
            async with conn.transaction():  # a SAVEPOINT: a failing call is undone alone
                await apply_identity_batch(conn, item.work)  # type: ignore[arg-type]
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except Exception as exc:
            log.exception("identity links failed")
            item.error = exc if isinstance(exc, TrackyardError) else unavailable(exc)


async def _apply_profiles(conn: AsyncConnection, items: list[_Pending]) -> None:
    fold = ProfileFold()
    await fold.lock_and_read(conn, [i.work for i in items])  # type: ignore[misc]
    for item in items:
        try:
            item.result, item.error = fold.apply(item.work), None  # type: ignore[arg-type]
        except Exception as exc:  # a bug in one call: it alone fails, unapplied
            log.exception("a profile update failed")
            item.result, item.error = None, exc
    await fold.write(conn, time.time_ns() // 1_000_000)
