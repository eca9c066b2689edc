"""`AnalyticsReads` over the SQLite file (storage/analytics.py has the contract).

Every call opens its own query-only connection in a thread of a small pool of
its own: an Insights query may take seconds, and meanwhile the event loop
keeps answering ingestion, and the shared default pool (exports, secret
checks) is not taken up by console queries. WAL mode gives each connection
a consistent snapshot while the writer commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from trackyard.errors import StoreUnavailable
from trackyard.query import Row, matches
from trackyard.storage.analytics import (
    EventFilter,
    ProfileSearch,
    Segmentation,
    SegmentationQuery,
    StoredEvent,
)
from trackyard.storage.base import ServiceAccount
from trackyard.storage.sqlite import event_reads
from trackyard.storage.sqlite.event_counts import last_event_rowid
from trackyard.storage.sqlite.profile_query import matching_profiles
from trackyard.storage.sqlite.segmentation import (
    counts_from_table,
    grouped_in_sql,
    property_path,
    uses_counts_table,
    where_fits_sql,
)
from trackyard.storage.sqlite.segmentation_rows import grouped_in_python

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000
# Two cores here: two queries at a time; more wait their turn in the pool.
_QUERIES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="trackyard-analytics")


class SQLiteAnalytics:
    _signing_keys: dict[str, bytes] = {}  # noqa: RUF012 - one per database file, never changes

    def __init__(self, path: str) -> None:
        self.path = path

    async def _run(self, read: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(_QUERIES, self._read_now, read)

    def _read_now(self, read: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store cannot be read: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")  # one snapshot for every statement of the read
            return read(conn)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store cannot be read: {exc}") from exc
        finally:
            conn.close()

    # Segmentation ------------------------------------------------------------

    async def segmentation(self, project_id: int, query: SegmentationQuery) -> Segmentation:
        return await self._run(lambda conn: _segmentation(conn, project_id, query))

    async def event_names(self, project_id: int) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT event FROM event_counts_hourly WHERE project_id = ?"
                " GROUP BY event ORDER BY sum(event_count) DESC, event",
                (project_id,),
            )
            return [name for (name,) in rows]

        return await self._run(read)

    # Events ------------------------------------------------------------------

    async def newest_events(
        self, project_id: int, where: EventFilter, limit: int
    ) -> list[StoredEvent]:
        return await self._run(
            lambda conn: event_reads.newest_events(conn, project_id, where, limit)
        )

    async def events_after(
        self, project_id: int, position: int, where: EventFilter, limit: int
    ) -> list[StoredEvent]:
        return await self._run(
            lambda conn: event_reads.events_after(conn, project_id, position, where, limit)
        )

    async def last_position(self) -> int:
        return await self._run(last_event_rowid)

    async def count_events_between(self, project_id: int, from_ms: int, to_ms: int) -> int:
        return await self._run(
            lambda conn: event_reads.count_events_between(conn, project_id, from_ms, to_ms)
        )

    async def group_events(
        self, project_id: int, group_key: str, group_id: str, limit: int
    ) -> list[StoredEvent]:
        return await self._run(
            lambda conn: event_reads.group_events(conn, project_id, group_key, group_id, limit)
        )

    # Profiles ----------------------------------------------------------------

    async def find_profiles(
        self, project_id: int, search: ProfileSearch
    ) -> list[tuple[str, dict[str, Any]]]:
        return await self._run(lambda conn: _find_profiles(conn, project_id, search))

    async def group_keys(self, project_id: int) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT group_key FROM group_profiles WHERE project_id = ?"
                " ORDER BY group_key",
                (project_id,),
            )
            return [key for (key,) in rows]

        return await self._run(read)

    # Console -----------------------------------------------------------------

    async def project_service_accounts(self, project_id: int) -> list[ServiceAccount]:
        return await self._run(lambda conn: _service_accounts(conn, project_id))

    async def console_signing_key(self) -> bytes:
        key = self._signing_keys.get(self.path)
        if key is None:
            key = await self._run(_signing_key)
            self._signing_keys[self.path] = key
        return key


def _segmentation(
    conn: sqlite3.Connection, project_id: int, query: SegmentationQuery
) -> Segmentation:
    if uses_counts_table(query):
        return counts_from_table(conn, project_id, query)
    path = property_path(query.on)
    if (query.on is None or path is not None) and where_fits_sql(query.where):
        return grouped_in_sql(conn, project_id, query, path)
    return grouped_in_python(conn, project_id, query)


def _find_profiles(
    conn: sqlite3.Connection, project_id: int, search: ProfileSearch
) -> list[tuple[str, dict[str, Any]]]:
    matching = matching_profiles(project_id, search.query)
    sql = f"SELECT distinct_id, properties FROM ({matching.sql})"
    params = dict(matching.params)
    if search.id_prefix:
        sql += " WHERE substr(distinct_id, 1, length(:id_prefix)) = :id_prefix"
        params["id_prefix"] = search.id_prefix
    sql += " ORDER BY distinct_id"
    if matching.residual is None:
        sql += " LIMIT :limit"
        params["limit"] = search.limit
    found = []
    for distinct_id, properties in conn.execute(sql, params):
        decoded = orjson.loads(properties)
        if matching.residual is None or matches(matching.residual, Row(decoded)):
            found.append((distinct_id, decoded))
            if len(found) == search.limit:
                break
    return found


def _service_accounts(conn: sqlite3.Connection, project_id: int) -> list[ServiceAccount]:
    rows = conn.execute(
        "SELECT a.id, a.username, a.secret_hash,"
        " (SELECT json_group_array(project_id) FROM"
        "  (SELECT project_id FROM service_account_projects"
        "   WHERE service_account_id = a.id ORDER BY project_id))"
        " FROM service_accounts a JOIN service_account_projects p ON p.service_account_id = a.id"
        " WHERE p.project_id = ? ORDER BY a.created_ms, a.id",
        (project_id,),
    )
    return [ServiceAccount(i, u, h, tuple(orjson.loads(p))) for i, u, h, p in rows]


def _signing_key(conn: sqlite3.Connection) -> bytes:
    row = conn.execute("SELECT signing_key FROM console_keys WHERE id = 1").fetchone()
    if row is None:
        raise StoreUnavailable("the console's signing key is missing; run trackyard migrate")
    return bytes(row[0])
