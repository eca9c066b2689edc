"""Events into SQLite in one statement per group commit: the rows travel as
one JSON array that SQLite unpacks with `json_each`.

Why not `executemany`: it takes Python's lock back for every row to bind its
parameters, and the writer thread shares that lock with the event loop. While
the loop decodes and validates a body, each row waited for a switch interval
(5 ms): 2,000-row inserts fell from ~69,000 rows/s to ~200 (measured with a
busy second thread, docs/performance.md). One statement runs entirely inside
SQLite, outside the lock. For the same reason the writer runs the inserts of
all the requests in a group commit as one statement (`JsonInsert.run_together`):
a statement per one-event /track request made each commit wait for the lock
once per request.

Each row's properties travel as a JSON *string*, so `->>` gives back exactly
the text validation produced. `->>` ends a string at a NUL character, so the
rare batch with one in an event name or id goes through `executemany`
(`RowByRowInsert`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from trackyard.storage.base import InsertResult
from trackyard.validate.events import Event

INSERT_EVENTS = (
    "INSERT INTO events (project_id, time_ms, event, distinct_id, insert_id, properties)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5"
    # `WHERE true` tells the parser that ON CONFLICT belongs to the INSERT.
    " FROM json_each(?) WHERE true ON CONFLICT DO NOTHING"
)

INSERT_EVENT_ROWS = (
    "INSERT INTO events (project_id, time_ms, event, distinct_id, insert_id, properties)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

# The dedup key's columns (schema.py, events_dedup), in a row's order.
NEWEST_KEYS = (
    "SELECT project_id, time_ms, event, distinct_id, insert_id FROM events"
    " WHERE rowid > (SELECT max(rowid) FROM events) - ?"
)

Row = tuple[int, int, str, str, str, str]
# Called before a transaction's first insert (event_counts.HourlyCounts).
BeforeInsert = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class JsonInsert:
    """A writer job: one request's events as a JSON array of rows. One
    statement, so atomic without a savepoint."""

    rows: bytes
    count: int
    before_insert: BeforeInsert

    def __call__(self, conn: sqlite3.Connection) -> InsertResult:
        return JsonInsert.run_together(conn, [self])[0]

    @staticmethod
    def run_together(conn: sqlite3.Connection, jobs: Sequence[JsonInsert]) -> list[InsertResult]:
        """Every job's rows in one statement, in order: a row stored by an
        earlier job makes the same row of a later one a duplicate, as if each
        had run alone."""
        jobs[0].before_insert(conn)
        stored = _insert_json(conn, _concatenate([job.rows for job in jobs]))
        if stored == sum(job.count for job in jobs):
            return [InsertResult(job.count, 0) for job in jobs]
        return _attribute(conn, jobs, stored)


@dataclass(frozen=True, slots=True)
class RowByRowInsert:
    """A writer job for rows `->>` cannot carry: `executemany`, which needs a
    savepoint to be atomic."""

    rows: list[Row]
    before_insert: BeforeInsert

    def __call__(self, conn: sqlite3.Connection) -> InsertResult:
        self.before_insert(conn)
        before = conn.total_changes
        conn.executemany(INSERT_EVENT_ROWS, self.rows)
        stored = conn.total_changes - before
        return InsertResult(stored, len(self.rows) - stored)


def insert_job(
    project_id: int, events: Sequence[Event], before_insert: BeforeInsert
) -> JsonInsert | RowByRowInsert:
    """The job that stores `events`, except duplicates, and tells how many it stored."""
    rows = [
        (project_id, e.time_ms, e.name, e.distinct_id, e.insert_id, e.properties.decode())
        for e in events
    ]
    if any("\0" in e.name or "\0" in e.distinct_id or "\0" in e.insert_id for e in events):
        return RowByRowInsert(rows, before_insert)
    return JsonInsert(orjson.dumps(rows), len(rows), before_insert)


def _insert_json(conn: sqlite3.Connection, rows: bytes) -> int:
    before = conn.total_changes
    conn.execute(INSERT_EVENTS, (rows,))
    return conn.total_changes - before


def _concatenate(arrays: list[bytes]) -> bytes:
    """JSON arrays joined into one, without decoding them."""
    if len(arrays) == 1:
        return arrays[0]
    return b"[" + b",".join(a[1:-1] for a in arrays if a != b"[]") + b"]"


def _attribute(
    conn: sqlite3.Connection, jobs: Sequence[JsonInsert], stored: int
) -> list[InsertResult]:
    """Which job stored what, when some rows were duplicates. The statement's
    rows took the `stored` rowids after the largest before it (one writer at a
    time, and SQLite gives a new row the largest rowid + 1), and of equal rows
    the first in the array was the one stored."""
    new = Counter(conn.execute(NEWEST_KEYS, (stored,)).fetchall())
    results = []
    for job in jobs:
        kept = 0
        for row in orjson.loads(job.rows):
            key = tuple(row[:5])
            if new[key]:
                new[key] -= 1
                kept += 1
        results.append(InsertResult(kept, job.count - kept))
    return results
