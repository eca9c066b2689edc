"""Export and engage-query snapshots: the read side, with SQLite's results.

Export streams from a server-side cursor inside one REPEATABLE READ
transaction (one snapshot, constant memory), and shapes each row's properties
in Python: `json` has no in-place setter, and rewriting through `jsonb` would
reorder keys and refuse `\\u0000`. Shaping with a dict keeps SQLite's
`json_set` result exactly: replaced keys keep their place, added keys go last.

A `where` expression is evaluated in Python on each shaped row, by the same
`trackyard.query.matches` that checks what SQLite cannot push down, so both
stores keep the same rows. (Pushing it into SQL needs `properties::jsonb`,
which fails on a stored `\u0000`; see docs/scaling.md, Known gaps.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from trackyard.errors import StoreUnavailable
from trackyard.query import Expr, Row, matches
from trackyard.storage.base import ExportQuery, ProfileQuery

FETCH_ROWS = 2000
SESSION_TTL_MS = 3_600_000

_EXPORT = """
    SELECT e.event, e.time_ms, e.distinct_id, l.canonical_id, e.properties::text
    FROM events e
    LEFT JOIN identity_links l ON l.project_id = e.project_id AND l.distinct_id = e.distinct_id
    WHERE e.project_id = %(project)s AND e.time_ms >= %(from)s AND e.time_ms < %(to)s
      AND (%(names)s::text[] IS NULL OR e.event = ANY(%(names)s::text[]))
    ORDER BY e.time_ms, e.seq
"""

# Users by canonical distinct_id: a profile written under an id that was later
# merged shows under the canonical id, unless the canonical id has a profile of
# its own, which then wins (as in storage/sqlite/profile_query.py).
_MATCHING_USERS = """
    SELECT coalesce(l.canonical_id, p.distinct_id) AS distinct_id, p.properties
    FROM profiles p
    LEFT JOIN identity_links l ON l.project_id = p.project_id AND l.distinct_id = p.distinct_id
    WHERE p.project_id = %(project)s AND p.properties IS NOT NULL AND NOT (
      l.canonical_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM profiles c WHERE c.project_id = p.project_id
          AND c.distinct_id = l.canonical_id AND c.properties IS NOT NULL))
"""
_MATCHING_GROUPS = """
    SELECT group_id AS distinct_id, properties FROM group_profiles
    WHERE project_id = %(project)s AND group_key = %(group_key)s AND properties IS NOT NULL
"""
_PIN = """
    INSERT INTO query_session_rows (session_id, position, distinct_id, properties)
    SELECT %(session)s, row_number() OVER (ORDER BY m.distinct_id) - 1, m.distinct_id, m.properties
    FROM ({matching}) m
    WHERE %(ids)s::text[] IS NULL OR m.distinct_id = ANY(%(ids)s::text[])
"""
_FILTERED = """
    SELECT m.distinct_id, m.properties::text FROM ({matching}) m
    WHERE %(ids)s::text[] IS NULL OR m.distinct_id = ANY(%(ids)s::text[])
    ORDER BY m.distinct_id
"""
PAGE = """
    SELECT r.distinct_id, r.properties::text, s.total
    FROM query_sessions s
    LEFT JOIN query_session_rows r
      ON r.session_id = s.id AND r.position >= %s AND r.position < %s
    WHERE s.id = %s AND s.project_id = %s AND s.created_ms >= %s
    ORDER BY r.position
"""


async def stream_export(
    pool: AsyncConnectionPool, project_id: int, query: ExportQuery
) -> AsyncIterator[list[tuple[str, str]]]:
    """Batches of (event name, properties JSON) in time order, from one snapshot."""
    params = {
        "project": project_id,
        "from": query.from_ms,
        "to": query.to_ms,
        "names": list(query.event_names) if query.event_names is not None else None,
    }
    left = query.limit
    try:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            async with conn.cursor(name="trackyard_export") as cursor:
                await cursor.execute(_EXPORT, params)
                while left != 0 and (rows := await cursor.fetchmany(FETCH_ROWS)):
                    shaped = [(row[0], _exported(row, query.time_in_ms), row[1]) for row in rows]
                    if query.where is not None:
                        shaped = [r for r in shaped if _event_matches(query.where, r)]
                    shaped = shaped[:left]
                    left = None if left is None else left - len(shaped)
                    if shaped:
                        yield [(name, properties) for name, properties, _ in shaped]
    except (psycopg.Error, PoolTimeout) as exc:
        raise StoreUnavailable(f"the database cannot be read: {exc}") from exc


def _event_matches(where: Expr, row: tuple[str, str, int]) -> bool:
    # The row as exported, but `event["time"]` reads milliseconds (trackyard.query).
    name, properties, time_ms = row
    return matches(where, Row(orjson.loads(properties), event=name, time_ms=time_ms))


def _exported(row: tuple[Any, ...], time_in_ms: bool) -> str:
    _, time_ms, distinct_id, canonical_id, text = row
    props: dict[str, Any] = orjson.loads(text)
    props["time"] = time_ms if time_in_ms else _truncated_seconds(time_ms)
    if canonical_id is not None and canonical_id != distinct_id:
        props["distinct_id"] = canonical_id
        props["$distinct_id_before_identity"] = distinct_id
    return orjson.dumps(props).decode()


def _truncated_seconds(time_ms: int) -> int:
    # SQLite's `time_ms / 1000` truncates toward zero; Python's // floors.
    seconds = abs(time_ms) // 1000
    return seconds if time_ms >= 0 else -seconds


async def create_snapshot(
    conn: AsyncConnection, project_id: int, query: ProfileQuery, session_id: str, now_ms: int
) -> int:
    """Pin the profiles matching `query` as session `session_id`; how many matched."""
    await conn.execute(
        "DELETE FROM query_sessions WHERE created_ms < %s", (now_ms - SESSION_TTL_MS,)
    )
    await conn.execute(
        "INSERT INTO query_sessions (id, project_id, total, created_ms) VALUES (%s, %s, 0, %s)",
        (session_id, project_id, now_ms),
    )
    matching = _MATCHING_USERS if query.group_key is None else _MATCHING_GROUPS
    ids = list(query.distinct_ids) if query.distinct_ids is not None else None
    params: dict[str, Any] = {
        "project": project_id,
        "group_key": query.group_key,
        "session": session_id,
        "ids": ids,
    }
    if query.where is None:
        cursor = await conn.execute(_PIN.format(matching=matching).encode(), params)
        total = cursor.rowcount
    else:
        total = await _pin_filtered(conn, _FILTERED.format(matching=matching), params, query.where)
    await conn.execute("UPDATE query_sessions SET total = %s WHERE id = %s", (total, session_id))
    return total


async def _pin_filtered(
    conn: AsyncConnection, matching: str, params: dict[str, Any], where: Expr
) -> int:
    """Profiles checked one by one in Python, in batches: memory stays flat."""
    total = 0
    async with conn.cursor(name="trackyard_snapshot") as cursor:
        await cursor.execute(matching.encode(), params)
        while rows := await cursor.fetchmany(FETCH_ROWS):
            kept = [(d, p) for d, p in rows if matches(where, Row(orjson.loads(p)))]
            async with conn.cursor() as writer:
                await writer.executemany(
                    "INSERT INTO query_session_rows (session_id, position, distinct_id, properties)"
                    " VALUES (%s, %s, %s, %s::json)",
                    [(params["session"], total + n, d, p) for n, (d, p) in enumerate(kept)],
                )
            total += len(kept)
    return total
