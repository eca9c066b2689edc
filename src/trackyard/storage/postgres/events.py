"""The events of a whole group commit written with one COPY and one INSERT.

Every `insert_events` call of the group adds its rows to a per-connection
temporary staging table (COPY is PostgreSQL's fastest bulk path), then one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` moves them into `events`. The
dedup key decides what is new; `RETURNING seq`, joined back to the staging
rows, counts what each call stored, and the rest of its rows are duplicates.

The INSERT takes rows in dedup-key order. Two processes inserting the same
new key wait for each other; taking keys in one global order means they
never wait in a circle, so overlapping batches from several API processes
do not deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncConnection

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

_COPY = (
    "COPY event_staging (job, project_id, time_ms, event, distinct_id, insert_id, properties)"
    " FROM STDIN"
)

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


async def insert_event_batches(
    conn: AsyncConnection, batches: Sequence[EventBatch]
) -> list[InsertResult]:
    """Stage every batch, move them into `events`; one result per batch, in order."""
    async with conn.cursor() as cursor:
        async with cursor.copy(_COPY) as copy:
            for job, batch in enumerate(batches):
                for e in batch.events:
                    await copy.write_row(
                        (
                            job,
                            batch.project_id,
                            e.time_ms,
                            storable_text(e.name),
                            storable_text(e.distinct_id),
                            storable_text(e.insert_id),
                            e.properties.decode(),
                        )
                    )
        await cursor.execute(_MOVE)
        stored: dict[int, int] = dict(await cursor.fetchall())
    results = []
    for job, batch in enumerate(batches):
        count = int(stored.get(job, 0))
        results.append(InsertResult(count, len(batch.events) - count))
    return results
