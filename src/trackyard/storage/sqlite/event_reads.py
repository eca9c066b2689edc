"""Events for the console's live view, profile and group pages.

Each query is bounded by an index or a row cap, never by the size of the
project's history:

* newest by event time: the `(project_id, time_ms)` prefix of the dedup
  index, or `events_by_name` / `events_by_user` when filtered; the rowids are
  picked from the index first, so only the rows shown are read;
* arrived after a position (live polling): a rowid range, at most
  `LIVE_WINDOW` rows back from the newest;
* a group's events: among the project's `GROUP_SCAN` newest events.

A user filter covers the whole identity cluster, so a profile page shows the
events sent under the device id before the user was identified.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from trackyard.storage.analytics import EventFilter, StoredEvent

LIVE_WINDOW = 100_000
GROUP_SCAN = 100_000

_SHOWN = """
SELECT e.rowid, e.event, e.time_ms, COALESCE(l.canonical_id, e.distinct_id), e.properties
FROM events e
LEFT JOIN identity_links l ON l.project_id = e.project_id AND l.distinct_id = e.distinct_id
"""


def cluster_ids(conn: sqlite3.Connection, project_id: int, distinct_id: str) -> list[str]:
    """Every id merged with `distinct_id`, its canonical id first."""
    row = conn.execute(
        "SELECT canonical_id FROM identity_links WHERE project_id = ? AND distinct_id = ?",
        (project_id, distinct_id),
    ).fetchone()
    canonical = row[0] if row else distinct_id
    merged = conn.execute(
        "SELECT distinct_id FROM identity_links WHERE project_id = ? AND canonical_id = ?",
        (project_id, canonical),
    )
    return [canonical, *(d for (d,) in merged)]


def _filter_sql(
    conn: sqlite3.Connection, project_id: int, where: EventFilter, table: str = ""
) -> tuple[str, dict[str, Any]]:
    """SQL conditions for `where`; `table` qualifies the columns ("e.")."""
    sql, params = "", {}
    if where.event:
        sql += f" AND {table}event = :event"
        params["event"] = where.event
    if where.distinct_id:
        ids = cluster_ids(conn, project_id, where.distinct_id)
        sql += f" AND {table}distinct_id IN (SELECT value FROM json_each(:ids))"
        params["ids"] = orjson.dumps(ids).decode()
    return sql, params


def newest_events(
    conn: sqlite3.Connection, project_id: int, where: EventFilter, limit: int
) -> list[StoredEvent]:
    filters, params = _filter_sql(conn, project_id, where)
    picked = (
        f"SELECT rowid FROM events WHERE project_id = :project_id {filters}"
        " ORDER BY time_ms DESC LIMIT :limit"
    )
    rows = conn.execute(
        f"{_SHOWN} WHERE e.rowid IN ({picked}) ORDER BY e.time_ms DESC, e.rowid DESC",
        {**params, "project_id": project_id, "limit": limit},
    )
    return [_stored(row) for row in rows]


def events_after(
    conn: sqlite3.Connection, project_id: int, position: int, where: EventFilter, limit: int
) -> list[StoredEvent]:
    filters, params = _filter_sql(conn, project_id, where, "e.")
    rows = conn.execute(
        f"{_SHOWN} WHERE e.rowid > max(:position, (SELECT max(rowid) FROM events) - :window)"
        f" AND e.project_id = :project_id {filters} ORDER BY e.rowid DESC LIMIT :limit",
        {
            **params,
            "position": position,
            "window": LIVE_WINDOW,
            "project_id": project_id,
            "limit": limit,
        },
    )
    return [_stored(row) for row in rows]


def group_events(
    conn: sqlite3.Connection, project_id: int, group_key: str, group_id: str, limit: int
) -> list[StoredEvent]:
    # A group property holds one group id or a list of them (Mixpanel allows both);
    # json_each walks either. Keys a JSON path cannot spell find nothing.
    if any(c in group_key for c in '"\\') or not group_key.isprintable():
        return []
    rows = conn.execute(
        f"{_SHOWN} JOIN (SELECT rowid AS picked FROM events WHERE project_id = :project_id"
        " ORDER BY time_ms DESC LIMIT :scan) ON e.rowid = picked"
        " WHERE EXISTS (SELECT 1 FROM json_each(e.properties, :path) j"
        " WHERE CAST(j.value AS TEXT) = :group_id)"
        " ORDER BY e.time_ms DESC LIMIT :limit",
        {
            "project_id": project_id,
            "scan": GROUP_SCAN,
            "path": f'$."{group_key}"',
            "group_id": group_id,
            "limit": limit,
        },
    )
    return [_stored(row) for row in rows]


def count_events_between(
    conn: sqlite3.Connection, project_id: int, from_ms: int, to_ms: int
) -> int:
    row = conn.execute(
        "SELECT count(*) FROM events WHERE project_id = ? AND time_ms >= ? AND time_ms < ?",
        (project_id, from_ms, to_ms),
    ).fetchone()
    return int(row[0])


def _stored(row: tuple[int, str, int, str, str]) -> StoredEvent:
    position, event, time_ms, distinct_id, properties = row
    return StoredEvent(position, event, time_ms, distinct_id, orjson.loads(properties))
