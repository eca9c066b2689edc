"""The events of a whole group commit written with one COPY.

Most groups hold only new events, so their rows are first copied straight into
`events`, inside a SAVEPOINT: PostgreSQL's cheapest path, about half the
server's work of the staged path (docs/performance.md). If any row repeats a
dedup key already stored (or another of the group's rows), the unique index
refuses the COPY, the SAVEPOINT undoes it, and the staged path decides row by
row: every call's rows go into a per-connection temporary staging table, then
one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` moves them into `events`;
`RETURNING seq`, joined back to the staging rows, counts what each call
stored, and the rest of its rows are duplicates. After a group that needed the
staged path, the next groups take it at once (`CopyRoute`): a re-sent import
repeats keys throughout, and each refused COPY would be work thrown away.

The staged INSERT takes rows in dedup-key order. Two processes inserting the
same new key wait for each other; taking keys in one global order means they
never wait in a circle, so overlapping batches from several API processes do
not deadlock. A direct COPY takes its rows in arrival order: if two of them
do wait in a circle, PostgreSQL refuses one, and that one goes the staged way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncConnection, errors

from trackyard.storage.base import InsertResult
from trackyard.storage.postgres.partitions import month_of
from trackyard.validate.events import DAY_MS, Event

# ON COMMIT DELETE ROWS: staging rows never outlive the group transaction.
CREATE_STAGING = """
    CREATE TEMPORARY TABLE IF NOT EXISTS event_staging (
        job integer NOT NULL,
        seq bigint NOT NULL DEFAULT nextval('events_seq'),
        project_id bigint NOT NULL,
        time_ms bigint NOT NULL,
        event text COLLATE "C" NOT NULL,
        distinct_id text COLLATE "C" NOT NULL,
        insert_id text COLLATE "C" NOT NULL,
        properties json NOT NULL
    ) ON COMMIT DELETE ROWS
"""

_COPY_STAGED = (
    "COPY event_staging (job, project_id, time_ms, event, distinct_id, insert_id, properties)"
    " FROM STDIN"
)
# `seq` takes its default, the next `events_seq` value, as in the staging table.
_COPY_DIRECT = (
    "COPY events (project_id, time_ms, event, distinct_id, insert_id, properties) FROM STDIN"
)
# Groups that go the staged way at once after one the direct COPY could not store.
STAGED_GROUPS_AFTER_REFUSAL = 16

_MOVE = """
    WITH stored AS (
        INSERT INTO events (project_id, time_ms, seq, event, distinct_id, insert_id, properties)
        SELECT project_id, time_ms, seq, event, distinct_id, insert_id, properties
        FROM event_staging
        ORDER BY project_id, time_ms, insert_id, event, distinct_id, seq
        ON CONFLICT DO NOTHING
        RETURNING seq
    )
    SELECT s.job, count(*) FROM stored JOIN event_staging s USING (seq) GROUP BY s.job
"""


@dataclass(frozen=True)
class EventBatch:
    """One `insert_events` call: rows ready for COPY, keys made storable."""

    project_id: int
    events: Sequence[Event]

    def months(self) -> set[int]:
        # Months begin at UTC midnight, so each event's day start has its month:
        # the date arithmetic runs once per day, not once per event (it was
        # ~3.5% of a process's CPU under /import, docs/performance.md).
        days = {e.time_ms // DAY_MS for e in self.events}
        return {month_of(day * DAY_MS) for day in days}


def storable_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; SQLite can. See docs/scaling.md (Known differences)."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class CopyRoute:
    """Which way a writer's next group goes: straight into `events`, or staged.

    One per writer (one connection at a time, so no lock)."""

    def __init__(self) -> None:
        self._staged_groups_left = 0

    def direct(self) -> bool:
        if self._staged_groups_left:
            self._staged_groups_left -= 1
            return False
        return True

    def needed_staging(self) -> None:
        self._staged_groups_left = STAGED_GROUPS_AFTER_REFUSAL


async def insert_event_batches(
    conn: AsyncConnection, batches: Sequence[EventBatch], route: CopyRoute | None = None
) -> list[InsertResult]:
    """Store every batch, except duplicates; one result per batch, in order.

    Without a `route`, the direct COPY is always tried first.
    """
    if route is None or route.direct():
        try:
            async with conn.transaction():  # a SAVEPOINT inside the group transaction
                await _copy(conn, _COPY_DIRECT, batches, with_job=False)
            return [InsertResult(len(batch.events), 0) for batch in batches]
        except (errors.UniqueViolation, errors.DeadlockDetected):
            if route is not None:
                route.needed_staging()
    return await stage_and_move(conn, batches)


async def stage_and_move(
    conn: AsyncConnection, batches: Sequence[EventBatch]
) -> list[InsertResult]:
    """Stage every batch, move its new rows into `events`; one result per batch, in order."""
    await _copy(conn, _COPY_STAGED, batches, with_job=True)
    async with conn.cursor() as cursor:
        await cursor.execute(_MOVE)
        stored: dict[int, int] = dict(await cursor.fetchall())
    results = []
    for job, batch in enumerate(batches):
        count = int(stored.get(job, 0))
        results.append(InsertResult(count, len(batch.events) - count))
    return results


async def _copy(
    conn: AsyncConnection, statement: str, batches: Sequence[EventBatch], *, with_job: bool
) -> None:
    """Every batch's rows through one COPY; with `with_job`, each row led by its batch's index."""
    async with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for job, batch in enumerate(batches):
            lead = (job, batch.project_id) if with_job else (batch.project_id,)
            for e in batch.events:
                await copy.write_row(
                    (
                        *lead,
                        e.time_ms,
                        storable_text(e.name),
                        storable_text(e.distinct_id),
                        storable_text(e.insert_id),
                        e.properties.decode(),
                    )
                )
