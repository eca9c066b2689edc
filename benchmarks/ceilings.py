"""Storage-side figures with no HTTP and no validation in the timed part.

- `sqlite_bulk_rates`: ceiling (b), the same rows into the same schema and
  indexes with the writer's settings (WAL, synchronous=FULL, its cache and
  checkpoint interval, `ON CONFLICT DO NOTHING`, the hourly counts), in
  transactions of as many whole bodies as trackyard's group commits held,
  run by run as many rows as trackyard stored, so that the file grows as
  trackyard's did.
- `postgres_staged_copy_rate`: the same rows through PostgreSQL's staged COPY
  (`storage/postgres/events.py`: COPY into the staging table, then one
  `INSERT ... ON CONFLICT DO NOTHING`), 2000-row transactions.
- `fill_sqlite`: N events written by one SQL statement, indexes built after,
  for the growth run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
from workload import batch

from trackyard.settings import Settings
from trackyard.storage.open import open_store
from trackyard.storage.postgres.events import (
    CREATE_STAGING,
    EventBatch,
    insert_event_batches,
    stage_and_move,
)
from trackyard.storage.postgres.partitions import month_of
from trackyard.storage.sqlite.event_counts import HourlyCounts
from trackyard.storage.sqlite.event_insert import JsonInsert, insert_job
from trackyard.storage.sqlite.store import tune_writer
from trackyard.validate.common import Limits
from trackyard.validate.events import Event, EventRules, validate_event


def validated_batches(tag: str, batches: int, size: int, now_s: int) -> Iterator[list[Event]]:
    """The events trackyard would store for the /import bodies (untimed)."""
    rules = EventRules(
        endpoint="import",
        strict=True,
        received_ms=now_s * 1000,
        limits=Limits.from_settings(Settings()),
        track_max_age_ms=None,
        max_future_ms=3_600_000,
    )
    for n in range(batches):
        events = [
            validate_event(raw, i, rules) for i, raw in enumerate(batch(f"{tag}{n}", size, now_s))
        ]
        yield [e for e in events if isinstance(e, Event)]


def sqlite_bulk_rates(
    db: str, project_id: int, runs: list[int], size: int, per_commit: int, tag: str, now_s: int
) -> list[float]:
    """Ceiling (b): for each run, as many rows as trackyard stored in that run,
    into one file that grows as trackyard's store did, `per_commit` bodies of
    `size` events per transaction, one statement per commit as the writer does;
    events/s per run."""
    conn = tune_writer(sqlite3.connect(db, isolation_level=None))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    counts = HourlyCounts()
    rates = []
    for n, count in enumerate(runs):
        batches = validated_batches(f"{tag}{n}-", -(-count // size), size, now_s)
        bodies = [insert_job(project_id, b, counts.before_insert) for b in batches]
        merged = [job for job in bodies if isinstance(job, JsonInsert)]
        assert len(merged) == len(bodies), "the workload has no NUL characters"
        started = time.perf_counter()
        for first in range(0, len(bodies), per_commit):
            conn.execute("BEGIN IMMEDIATE")
            # One statement for the commit's bodies, as the writer merges them.
            JsonInsert.run_together(conn, merged[first : first + per_commit])
            counts.before_commit(conn)
            conn.execute("COMMIT")
            counts.end()
        rates.append(len(bodies) * size / (time.perf_counter() - started))
    conn.close()
    return rates


def postgres_copy_rate(url: str, project_id: int, batches: list[list[Event]], how: str) -> float:
    """Events/s storing `batches` one transaction each on one connection, `how`
    "staged" (COPY into staging, then INSERT ... ON CONFLICT: the issue's
    ceiling) or "direct" (COPY straight into `events`: the store's first try)."""
    return asyncio.run(_postgres_rate(url, project_id, batches, how))


async def _postgres_rate(url: str, project_id: int, batches: list[list[Event]], how: str) -> float:
    # Migrations, and the months' partitions (made by the store's first insert of each).
    store = open_store(Settings(store=url))
    await store.open()
    months = {month_of(e.time_ms): e for b in batches for e in b}
    markers = [replace(e, insert_id=f"partition-{e.insert_id}") for e in months.values()]
    await store.insert_events(project_id, markers)
    await store.close()
    store_batches = stage_and_move if how == "staged" else insert_event_batches
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(CREATE_STAGING)
        await conn.commit()
        started = time.perf_counter()
        for events in batches:
            results = await store_batches(conn, [EventBatch(project_id, events)])
            await conn.commit()
        elapsed = time.perf_counter() - started
    assert results[0].duplicates == 0, "the ceiling's rows are new"
    return sum(map(len, batches)) / elapsed


def fill_sqlite(db: str, project_id: int, count: int, end_ms: int) -> float:
    """Add `count` events over the 180 days before `end_ms`: ~1M users, random
    insert ids, rows in time order; returns the seconds it took."""
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
        " AND sql IS NOT NULL"
    ).fetchall()
    step = max(1, 180 * 86_400_000 // max(count, 1))
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO events (project_id, time_ms, event, distinct_id, insert_id, properties)
        SELECT ?, ? + i * ?, 'Event ' || (i % 8), 'user-' || (abs(random()) % 1000000), lower(hex(randomblob(16))),
            '{"$browser":"Chrome","$os":"Mac OS X","$current_url":"https://example.com/p/' || (i % 977)
            || '","plan":"pro","amount":' || (i % 1000) || '.5,"items":["a","b"]}'
        FROM n
        """,
        (count - 1, project_id, end_ms - count * step, step),
    )
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("DELETE FROM event_counts_hourly")
    conn.execute(
        "INSERT INTO event_counts_hourly (project_id, event, hour_ms, event_count)"
        " SELECT project_id, event, time_ms - time_ms % 3600000, count(*) FROM events GROUP BY 1, 2, 3"
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started
