"""Streaming raw export out of SQLite, shaped in SQL so Python only frames lines.

`json_set` rewrites each row's properties on the way out: `distinct_id`
becomes the canonical id after identity merge (with the id it arrived with in
`$distinct_id_before_identity`, as Mixpanel's export shows, §9.3), and `time`
is whole seconds, or milliseconds with `time_in_ms`. A `where` expression sees
the row as exported; what SQL cannot evaluate exactly is checked per row.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from trackyard.query import SQLITE, Columns, Expr, Row, matches, split_where
from trackyard.storage.base import ExportQuery

FETCH_ROWS = 2000
_COLUMNS = Columns(properties="properties", event="event", time_ms="time_ms")

_SHAPED = """
SELECT e.event AS event, e.time_ms AS time_ms,
  CASE WHEN l.canonical_id IS NULL OR l.canonical_id = e.distinct_id
    THEN json_set(e.properties, '$.time', {time})
    ELSE json_set(e.properties, '$.time', {time}, '$.distinct_id', l.canonical_id,
                  '$."$distinct_id_before_identity"', e.distinct_id)
  END AS properties
FROM events e
LEFT JOIN identity_links l ON l.project_id = e.project_id AND l.distinct_id = e.distinct_id
WHERE e.project_id = :project_id AND e.time_ms >= :from_ms AND e.time_ms < :to_ms {events}
"""


@dataclass(frozen=True, slots=True)
class ExportPlan:
    sql: str
    params: dict[str, Any]
    residual: Expr | None  # checked per row, in Python
    limit: int | None  # applied in Python when a residual filters rows


def export_plan(project_id: int, query: ExportQuery) -> ExportPlan:
    time = "e.time_ms" if query.time_in_ms else "e.time_ms / 1000"
    params: dict[str, Any] = {
        "project_id": project_id,
        "from_ms": query.from_ms,
        "to_ms": query.to_ms,
    }
    events = ""
    if query.event_names is not None:
        names = {f"event_{i}": name for i, name in enumerate(query.event_names)}
        events = f"AND e.event IN ({', '.join(':' + n for n in names)})"
        params |= names
    sql = f"SELECT event, properties, time_ms FROM ({_SHAPED.format(time=time, events=events)})"
    residual = None
    if query.where is not None:
        pushed = split_where(query.where, SQLITE, _COLUMNS)
        if pushed.filter is not None:
            sql += f" WHERE {pushed.filter.sql}"
            params |= pushed.filter.params
        residual = pushed.residual
    sql += " ORDER BY time_ms"
    if query.limit is not None and residual is None:
        sql += " LIMIT :limit"
        params["limit"] = query.limit
    return ExportPlan(sql, params, residual, query.limit if residual else None)


async def stream_export(
    connect: Callable[[], sqlite3.Connection], plan: ExportPlan
) -> AsyncIterator[list[tuple[str, str]]]:
    """Batches of (event name, properties JSON) from one consistent read."""
    conn = await asyncio.to_thread(connect)
    left = plan.limit
    try:
        cursor = await asyncio.to_thread(conn.execute, plan.sql, plan.params)
        while fetched := await asyncio.to_thread(cursor.fetchmany, FETCH_ROWS):
            if plan.residual is not None:
                fetched = [r for r in fetched if _keeps(plan.residual, r)][:left]
                left = None if left is None else left - len(fetched)
            if fetched:
                yield [(name, properties) for name, properties, _ in fetched]
            if left == 0:
                return
    finally:
        conn.close()


def _keeps(residual: Expr, row: tuple[str, str, int]) -> bool:
    name, properties, time_ms = row
    return matches(residual, Row(orjson.loads(properties), event=name, time_ms=time_ms))
