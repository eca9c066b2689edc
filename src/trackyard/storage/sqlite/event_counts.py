"""Hourly event counts, kept in the same transaction as the events they count.

The Insights page and `/api/query/segmentation` read plain counts from
`event_counts_hourly` (a few hundred rows for a month) instead of scanning
millions of events. One process writes at a time, so the rows a transaction
inserts are exactly those with a rowid above the largest before its first
insert: a deduplicated event was never inserted and is never counted, and the
rows of a job rolled back are gone. One grouped upsert per transaction costs
far less than a per-row trigger (docs/console.md has the measurements).

Whatever deletes events must subtract them here too; nothing does today.
"""

from __future__ import annotations

import sqlite3

HOUR_MS = 3_600_000


def last_event_rowid(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0])


def count_events_after(conn: sqlite3.Connection, rowid: int) -> None:
    """Add every event stored after `rowid` to its hour's count."""
    conn.execute(
        "INSERT INTO event_counts_hourly (project_id, event, hour_ms, event_count)"
        f" SELECT project_id, event, time_ms - time_ms % {HOUR_MS}, count(*)"
        # NOT INDEXED: read the new rows by rowid range. Left to itself the
        # planner scans a whole covering index to avoid sorting the GROUP BY,
        # a cost that grows with the table on every insert (docs/performance.md).
        " FROM events NOT INDEXED WHERE rowid > ? GROUP BY 1, 2, 3"
        " ON CONFLICT DO UPDATE SET event_count = event_count + excluded.event_count",
        (rowid,),
    )


class HourlyCounts:
    """Counts a group transaction's new events once, just before it commits.

    The writer thread calls `before_insert` ahead of each event insert, and
    the group-commit writer calls `before_commit` and `end` (writer.py).
    """

    def __init__(self) -> None:
        self._after_rowid: int | None = None

    def before_insert(self, conn: sqlite3.Connection) -> None:
        if self._after_rowid is None:
            self._after_rowid = last_event_rowid(conn)

    def before_commit(self, conn: sqlite3.Connection) -> None:
        if self._after_rowid is not None:
            count_events_after(conn, self._after_rowid)

    def end(self) -> None:
        self._after_rowid = None
