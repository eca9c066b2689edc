"""Events into SQLite in one statement per request: the rows travel as one
JSON array that SQLite unpacks with `json_each`.

Why not `executemany`: it takes Python's lock back for every row to bind its
parameters, and the writer thread shares that lock with the event loop. While
the loop decodes and validates a body, each row waited for a switch interval
(5 ms): 2,000-row inserts fell from ~69,000 rows/s to ~200 (measured with a
busy second thread, docs/performance.md). One statement runs entirely inside
SQLite, outside the lock.

Each row's properties travel as a JSON *string*, so `->>` gives back exactly
the text validation produced. `->>` ends a string at a NUL character, so the
rare batch with one in an event name or id goes through `executemany`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from trackyard.validate.events import Event

INSERT_EVENTS = (
    "INSERT INTO events (project_id, time_ms, event, distinct_id, insert_id, properties)"
    " SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4"
    # `WHERE true` tells the parser that ON CONFLICT belongs to the INSERT.
    " FROM json_each(?2) WHERE true ON CONFLICT DO NOTHING"
)


INSERT_EVENT_ROWS = (
    "INSERT INTO events (project_id, time_ms, event, distinct_id, insert_id, properties)"
    " VALUES (?6, ?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
)

Row = tuple[int, str, str, str, str]


def event_rows(events: Sequence[Event]) -> bytes | list[Row]:
    """What `insert_event_rows` stores: one JSON array, or row tuples when a
    name or id holds a NUL character."""
    rows = [(e.time_ms, e.name, e.distinct_id, e.insert_id, e.properties.decode()) for e in events]
    if any("\0" in e.name or "\0" in e.distinct_id or "\0" in e.insert_id for e in events):
        return rows
    return orjson.dumps(rows)


def insert_event_rows(conn: sqlite3.Connection, project_id: int, rows: bytes | list[Row]) -> int:
    """Store the rows of `event_rows` that are not duplicates; return how many."""
    before = conn.total_changes
    if isinstance(rows, bytes):
        conn.execute(INSERT_EVENTS, (project_id, rows))
    else:
        conn.executemany(INSERT_EVENT_ROWS, [(*row, project_id) for row in rows])
    return conn.total_changes - before
