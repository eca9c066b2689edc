"""Engage-query snapshots in SQLite: matching profiles copied, in order, into a session.

A session pins the result: pages fetched later, in any order or in parallel
(mixpanel-utils does), come from the same copy whatever changes meanwhile.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from trackyard.query import SQLITE, Columns, Expr, Row, matches, split_where
from trackyard.storage.base import ProfileQuery

SESSION_TTL_MS = 3_600_000

# Users: keyed by canonical distinct_id. A profile written under an id that was
# later merged is shown under the canonical id, unless the canonical id has a
# profile of its own, which then wins.
_USERS = """
SELECT COALESCE(l.canonical_id, p.distinct_id) AS distinct_id, p.properties AS properties
FROM profiles p
LEFT JOIN identity_links l ON l.project_id = p.project_id AND l.distinct_id = p.distinct_id
WHERE p.project_id = :project_id AND NOT (
  l.canonical_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM profiles c WHERE c.project_id = p.project_id AND c.distinct_id = l.canonical_id))
"""
_GROUPS = """
SELECT group_id AS distinct_id, properties FROM group_profiles
WHERE project_id = :project_id AND group_key = :group_key
"""


@dataclass(frozen=True, slots=True)
class MatchingProfiles:
    sql: str  # (distinct_id, properties) rows, ordered by distinct_id
    params: dict[str, Any]
    residual: Expr | None  # checked per row, in Python


def matching_profiles(project_id: int, query: ProfileQuery) -> MatchingProfiles:
    params: dict[str, Any] = {"project_id": project_id, "group_key": query.group_key}
    source = _USERS if query.group_key is None else _GROUPS
    sql = f"SELECT distinct_id, properties FROM ({source}) WHERE 1 = 1"
    if query.distinct_ids is not None:
        ids = {f"id_{i}": d for i, d in enumerate(query.distinct_ids)}
        sql += f" AND distinct_id IN ({', '.join(':' + n for n in ids)})"
        params |= ids
    residual = None
    if query.where is not None:
        pushed = split_where(query.where, SQLITE, Columns(properties="properties"))
        if pushed.filter is not None:
            sql += f" AND {pushed.filter.sql}"
            params |= pushed.filter.params
        residual = pushed.residual
    return MatchingProfiles(sql + " ORDER BY distinct_id", params, residual)


def create_snapshot(
    conn: sqlite3.Connection,
    project_id: int,
    session_id: str,
    matching: MatchingProfiles,
    now_ms: int,
) -> int:
    conn.execute("DELETE FROM query_sessions WHERE created_ms < ?", (now_ms - SESSION_TTL_MS,))
    conn.execute(
        "INSERT INTO query_sessions (id, project_id, total, created_ms) VALUES (?, ?, 0, ?)",
        (session_id, project_id, now_ms),
    )
    if matching.residual is None:
        total = _copy_in_sql(conn, session_id, matching)
    else:
        total = _copy_filtered(conn, session_id, matching, matching.residual)
    conn.execute("UPDATE query_sessions SET total = ? WHERE id = ?", (total, session_id))
    return total


def _copy_in_sql(conn: sqlite3.Connection, session_id: str, matching: MatchingProfiles) -> int:
    cursor = conn.execute(
        "INSERT INTO query_session_rows (session_id, position, distinct_id, properties)"
        " SELECT :session_id, row_number() OVER (ORDER BY distinct_id) - 1, distinct_id, properties"
        f" FROM ({matching.sql})",
        {**matching.params, "session_id": session_id},
    )
    return cursor.rowcount


def _copy_filtered(
    conn: sqlite3.Connection, session_id: str, matching: MatchingProfiles, residual: Expr
) -> int:
    kept = (
        (distinct_id, properties)
        for distinct_id, properties in conn.execute(matching.sql, matching.params)
        if matches(residual, Row(orjson.loads(properties)))
    )
    # Streamed from the read cursor into the insert: memory stays flat.
    cursor = conn.executemany(
        "INSERT INTO query_session_rows (session_id, position, distinct_id, properties)"
        " VALUES (?, ?, ?, ?)",
        ((session_id, position, d, p) for position, (d, p) in enumerate(kept)),
    )
    return cursor.rowcount
