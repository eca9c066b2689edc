"""Segmentation (Insights) queries over SQLite, cheapest plan first.

1. Plain counts (no `where`, no `on`, type general) read `event_counts_hourly`:
   at most 24 rows per event and day, whatever the number of events.
2. Otherwise the events of the named events in the range are read through the
   `(project_id, event, time_ms)` index and grouped in SQL, with the `where`
   pushed down (`trackyard.query.split_where`) and `on` a property read.
3. What SQL cannot do exactly (a residual `where`, an `on` other than one
   property) is evaluated per row in Python (`segmentation_rows.py`).

Buckets are UTC; weeks start on Monday. A bucket is named by its start in ms.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from trackyard.query import SQLITE, Columns, Expr, split_where
from trackyard.query import ast as expr_ast
from trackyard.query import values as v
from trackyard.storage.analytics import (
    BucketCount,
    Segmentation,
    SegmentationQuery,
    SeriesKey,
    Unit,
)

_COLUMNS = Columns(properties="e.properties", event="e.event", time_ms="e.time_ms")
_CANONICAL_USER = "COALESCE(l.canonical_id, e.distinct_id)"
_IDENTITY_JOIN = (
    "LEFT JOIN identity_links l ON l.project_id = e.project_id AND l.distinct_id = e.distinct_id"
)
_BUCKET_SQL: dict[Unit, str] = {
    "hour": "{t} - {t} % 3600000",
    "day": "{t} - {t} % 86400000",
    # The epoch fell on a Thursday: shift by three days so weeks start on Monday.
    "week": "{t} - ({t} + 259200000) % 604800000",
    "month": "CAST(strftime('%s', {t} / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000",
}
UNDEFINED_SEGMENT = "undefined"


def bucket_sql(unit: Unit, column: str) -> str:
    return _BUCKET_SQL[unit].format(t=column)


def segment_label(value: v.Value) -> str:
    """How an `on` value names its segment (Mixpanel shows values as text)."""
    if value is v.UNDEFINED:
        return UNDEFINED_SEGMENT
    text = v.to_string(value)
    if text is None:
        return "null"
    if isinstance(text, str):
        return text
    return orjson.dumps(value).decode()  # lists and objects, as JSON


def property_path(on: Expr | None) -> str | None:
    """The JSON path SQL can group by when `on` reads one event property."""
    if not isinstance(on, expr_ast.Property) or on.source != "properties":
        return None
    safe = all(" " <= c <= "~" and c not in '"\\' for c in on.name)
    return f'$."{on.name}"' if safe else None


@dataclass(frozen=True, slots=True)
class EventScan:
    """The FROM/WHERE of one query's events, with the `where` pushed down."""

    sql: str
    params: dict[str, Any]
    residual: Expr | None


def event_scan(project_id: int, query: SegmentationQuery, with_users: bool) -> EventScan:
    names = {f"event_{i}": name for i, name in enumerate(query.events)}
    params: dict[str, Any] = {
        "project_id": project_id,
        "from_ms": query.from_ms,
        "to_ms": query.to_ms,
        **names,
    }
    sql = (
        f"FROM events e {_IDENTITY_JOIN if with_users else ''}"
        f" WHERE e.project_id = :project_id AND e.event IN ({', '.join(':' + n for n in names)})"
        " AND e.time_ms >= :from_ms AND e.time_ms < :to_ms"
    )
    residual = None
    if query.where is not None:
        pushed = split_where(query.where, SQLITE, _COLUMNS)
        if pushed.filter is not None:
            sql += f" AND {pushed.filter.sql}"
            params |= pushed.filter.params
        residual = pushed.residual
    return EventScan(sql, params, residual)


def where_fits_sql(where: Expr | None) -> bool:
    return where is None or split_where(where, SQLITE, _COLUMNS).residual is None


def uses_counts_table(query: SegmentationQuery) -> bool:
    return query.counting == "general" and query.where is None and query.on is None


def counts_from_table(
    conn: sqlite3.Connection, project_id: int, query: SegmentationQuery
) -> Segmentation:
    names = {f"event_{i}": name for i, name in enumerate(query.events)}
    rows = conn.execute(
        f"SELECT event, {bucket_sql(query.unit, 'hour_ms')}, sum(event_count)"
        " FROM event_counts_hourly WHERE project_id = :project_id"
        f" AND event IN ({', '.join(':' + n for n in names)})"
        " AND hour_ms >= :from_ms AND hour_ms < :to_ms GROUP BY 1, 2",
        {"project_id": project_id, "from_ms": query.from_ms, "to_ms": query.to_ms, **names},
    )
    return collect((event, None, bucket, n, 0) for event, bucket, n in rows)


def grouped_in_sql(
    conn: sqlite3.Connection, project_id: int, query: SegmentationQuery, path: str | None
) -> Segmentation:
    """Plan 2: the scan's residual is None and `on` is None or a property path."""
    with_users = query.counting != "general"
    scan = event_scan(project_id, query, with_users)
    segment = "e.properties -> :on_path" if path else "NULL"
    users = f"count(DISTINCT {_CANONICAL_USER})" if with_users else "0"
    base = (
        f"SELECT e.event AS event, {segment} AS seg, {bucket_sql(query.unit, 'e.time_ms')} AS bucket,"
        f" count(*) AS events, {users} AS users {scan.sql} GROUP BY 1, 2, 3"
    )
    params = {**scan.params, "on_path": path, "limit": query.limit}
    label = _json_label if path else _no_segment
    rows = conn.execute(_top_segments(base) if path else base, params)
    found = collect((e, label(s), b, n, u) for e, s, b, n, u in rows)
    if with_users and query.range_totals:
        found.totals = _range_totals(conn, scan, (segment, label), users, params, found)
    return found


def _top_segments(base: str) -> str:
    # One scan: the grouped rows are materialised, ranked per event by their
    # number of events, and only the top `limit` segments are returned.
    return (
        f"WITH base AS MATERIALIZED ({base}),"
        " ranked AS (SELECT event, seg, row_number() OVER"
        " (PARTITION BY event ORDER BY sum(events) DESC, seg) AS rank"
        " FROM base GROUP BY event, seg)"
        " SELECT b.event, b.seg, b.bucket, b.events, b.users FROM base b"
        " JOIN ranked r ON r.event = b.event AND r.seg IS b.seg WHERE r.rank <= :limit"
    )


def _range_totals(
    conn: sqlite3.Connection,
    scan: EventScan,
    segment: tuple[str, Callable[[str | None], str | None]],
    users: str,
    params: dict[str, Any],
    found: Segmentation,
) -> dict[SeriesKey, BucketCount]:
    """Uniques over the whole range: not the sum of each bucket's uniques."""
    sql, label = segment
    rows = conn.execute(
        f"SELECT e.event, {sql}, count(*), {users} {scan.sql} GROUP BY 1, 2", params
    )
    totals: dict[SeriesKey, BucketCount] = {}
    for event, seg, events, distinct in rows:
        key = SeriesKey(event, label(seg))
        if key in found.buckets:
            totals[key] = _add(totals.get(key), BucketCount(events, distinct))
    return totals


def _json_label(json_text: str | None) -> str | None:
    """The segment of a `->` result: JSON text, or SQL NULL when undefined."""
    if json_text is None:
        return UNDEFINED_SEGMENT
    return segment_label(v.from_json(orjson.loads(json_text)))


def _no_segment(json_text: str | None) -> str | None:
    return None


def collect(rows: Iterable[tuple[str, str | None, int, int, int]]) -> Segmentation:
    """(event, segment, bucket, events, users) rows as a Segmentation, with
    totals summed (exact for events; the caller replaces them for uniques).
    Segments whose values print alike (the number 1 and the text "1") merge."""
    found = Segmentation()
    for event, segment, bucket, events, users in rows:
        key = SeriesKey(event, segment)
        series = found.buckets.setdefault(key, {})
        series[bucket] = _add(series.get(bucket), BucketCount(events, users))
        found.totals[key] = _add(found.totals.get(key), BucketCount(events, users))
    return found


def _add(a: BucketCount | None, b: BucketCount) -> BucketCount:
    return b if a is None else BucketCount(a.events + b.events, a.users + b.users)
