"""The embedded SQLite store: one file, WAL, one group-committing writer per process.

Durability: `synchronous=FULL` in WAL mode fsyncs the log at every commit, and
the writer resolves a request's future only after its commit returned.
Several processes may share the file; SQLite's write lock serialises their
writers (each waits up to `busy_timeout`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from trackyard.errors import Conflict, NotFound, StoreUnavailable
from trackyard.service.identity import IdentityLink, apply_links
from trackyard.service.profile_ops import OperationConflict, apply_update
from trackyard.storage.base import (
    ExportQuery,
    InsertResult,
    LookupTable,
    LookupTableContent,
    ProfilePage,
    ProfileQuery,
    Project,
    SecretHash,
    ServiceAccount,
    UpdateFailure,
)
from trackyard.storage.sqlite.event_counts import HourlyCounts
from trackyard.storage.sqlite.event_insert import JsonInsert, insert_job
from trackyard.storage.sqlite.export import export_plan, stream_export
from trackyard.storage.sqlite.identity import SQLiteIdentityGraph
from trackyard.storage.sqlite.profile_query import (
    SESSION_TTL_MS,
    create_snapshot,
    matching_profiles,
)
from trackyard.storage.sqlite.schema import migrate
from trackyard.storage.sqlite.writer import GroupCommitWriter
from trackyard.validate.events import Event
from trackyard.validate.profiles import ProfileUpdate

BUSY_TIMEOUT_MS = 30_000
# The writer's page cache and checkpoint interval. A commit writes every index
# page it touched to the WAL, and a checkpoint writes them again into the file:
# checkpointing every 64 MiB of WAL instead of SQLite's 4 MiB lets a page
# changed by several commits be copied once, and a 32 MiB cache keeps a
# group commit's pages from spilling mid-transaction. Together about 1.5x the
# insert rate (docs/performance.md).
WRITER_CACHE_KIB = 32 * 1024
WAL_CHECKPOINT_PAGES = 16_384
_PROJECT_COLUMNS = "id, name, token, identity_mode"
_TABLE_COLUMNS = "id, project_id, name, header, row_count, created_ms, updated_ms"


def tune_writer(conn: sqlite3.Connection) -> sqlite3.Connection:
    """The writer connection's cache and checkpoint interval (see above)."""
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    return conn


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SQLiteStore:
    def __init__(
        self,
        path: str,
        *,
        commit_max_records: int,
        queue_max_records: int,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._counts = HourlyCounts()
        self._writer = GroupCommitWriter(
            self._connect_writer,
            max_batch_weight=commit_max_records,
            max_queued_weight=queue_max_records,
            # Writers of all processes sharing the file take turns on it (writer.py).
            lock_prefix=None if path == ":memory:" else f"{path}-writer",
            hooks=self._counts,
        )
        self._reader: sqlite3.Connection | None = None

    # Lifecycle ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        return tune_writer(self._connect())

    async def open(self) -> None:
        if self._reader is not None:
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect()
            migrate(conn)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        self._reader = conn
        self._writer.start()

    async def close(self) -> None:
        self._writer.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def ping(self) -> None:
        await self._writer.submit(lambda conn: conn.execute("SELECT 1").fetchone())

    @property
    def queued_records(self) -> int:
        return self._writer.queued_weight

    @property
    def transactions(self) -> int:
        return self._writer.transactions

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._reader is None:
            raise StoreUnavailable("the store is not open")
        try:
            return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store cannot be read: {exc}") from exc

    # Projects and credentials ------------------------------------------------

    async def create_project(self, name: str, token: str, api_secret: SecretHash) -> Project:
        def job(conn: sqlite3.Connection) -> Project:
            cursor = conn.execute(
                "INSERT INTO projects (name, token, api_secret_lookup, api_secret_hash, created_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, token, api_secret.lookup, api_secret.hash, _now_ms()),
            )
            return Project(id=int(cursor.lastrowid or 0), name=name, token=token)

        return await self._writer.submit(job)

    async def list_projects(self) -> list[Project]:
        rows = self._read(f"SELECT {_PROJECT_COLUMNS} FROM projects ORDER BY id")
        return [Project(*row) for row in rows]

    async def project_by_id(self, project_id: int) -> Project | None:
        rows = self._read(f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE id = ?", (project_id,))
        return Project(*rows[0]) if rows else None

    async def project_by_token(self, token: str) -> Project | None:
        rows = self._read(f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE token = ?", (token,))
        return Project(*rows[0]) if rows else None

    async def project_by_secret_lookup(self, lookup: str) -> tuple[Project, str] | None:
        rows = self._read(
            f"SELECT {_PROJECT_COLUMNS}, api_secret_hash FROM projects WHERE api_secret_lookup = ?",
            (lookup,),
        )
        return (Project(*rows[0][:4]), rows[0][4]) if rows else None

    async def create_service_account(
        self, username: str, secret_hash: str, project_ids: Sequence[int]
    ) -> ServiceAccount:
        def job(conn: sqlite3.Connection) -> ServiceAccount:
            cursor = conn.execute(
                "INSERT INTO service_accounts (username, secret_hash, created_ms) VALUES (?, ?, ?)",
                (username, secret_hash, _now_ms()),
            )
            account_id = int(cursor.lastrowid or 0)
            for project_id in project_ids:
                if (
                    conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone()
                    is None
                ):
                    raise NotFound(f"project {project_id} does not exist")
                conn.execute(
                    "INSERT INTO service_account_projects VALUES (?, ?)", (account_id, project_id)
                )
            return ServiceAccount(account_id, username, secret_hash, tuple(project_ids))

        return await self._writer.submit(job)

    async def service_account(self, username: str) -> ServiceAccount | None:
        rows = self._read(
            "SELECT id, secret_hash FROM service_accounts WHERE username = ?", (username,)
        )
        if not rows:
            return None
        account_id, secret_hash = rows[0]
        projects = self._read(
            "SELECT project_id FROM service_account_projects WHERE service_account_id = ?"
            " ORDER BY project_id",
            (account_id,),
        )
        return ServiceAccount(account_id, username, secret_hash, tuple(p for (p,) in projects))

    async def replace_service_account_secret(self, username: str, secret_hash: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            updated = conn.execute(
                "UPDATE service_accounts SET secret_hash = ? WHERE username = ?",
                (secret_hash, username),
            )
            if updated.rowcount == 0:
                raise NotFound(f"service account {username!r} does not exist")

        await self._writer.submit(job)

    async def replace_api_secret(self, project_id: int, api_secret: SecretHash) -> None:
        def job(conn: sqlite3.Connection) -> None:
            updated = conn.execute(
                "UPDATE projects SET api_secret_lookup = ?, api_secret_hash = ? WHERE id = ?",
                (api_secret.lookup, api_secret.hash, project_id),
            )
            if updated.rowcount == 0:
                raise NotFound(f"project {project_id} does not exist")

        await self._writer.submit(job)

    # Ingestion ---------------------------------------------------------------

    async def insert_events(self, project_id: int, events: Sequence[Event]) -> InsertResult:
        if not events:
            return InsertResult(0, 0)
        job = insert_job(project_id, events, self._counts.before_insert)
        # The JSON array is one statement, atomic without a savepoint; the
        # executemany fallback (event_insert.py) is not.
        savepoint = not isinstance(job, JsonInsert)
        result: InsertResult = await self._writer.submit(job, len(events), savepoint=savepoint)
        return result

    async def link_identities(self, project_id: int, links: Sequence[IdentityLink]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            apply_links(SQLiteIdentityGraph(conn, project_id), links)

        await self._writer.submit(job, weight=len(links))

    async def set_identity_mode(self, project_id: int, mode: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            if conn.execute(
                "SELECT 1 FROM events WHERE project_id = ? LIMIT 1", (project_id,)
            ).fetchone():
                raise Conflict("the identity mode is fixed once a project has events")
            updated = conn.execute(
                "UPDATE projects SET identity_mode = ? WHERE id = ?", (mode, project_id)
            )
            if updated.rowcount == 0:
                raise NotFound(f"project {project_id} does not exist")

        await self._writer.submit(job)

    async def apply_profile_updates(
        self, project_id: int, updates: Sequence[ProfileUpdate], max_properties: int
    ) -> list[UpdateFailure]:
        def job(conn: sqlite3.Connection) -> list[UpdateFailure]:
            failures = []
            for position, update in enumerate(updates):
                try:
                    _apply_one(conn, project_id, update, max_properties)
                except OperationConflict as exc:
                    failures.append(UpdateFailure(position, exc.field, exc.message))
            return failures

        return await self._writer.submit(job, weight=len(updates))

    async def profile(self, project_id: int, profile_id: tuple[str, ...]) -> dict[str, Any] | None:
        table, where = _profile_table(profile_id)
        rows = self._read(
            f"SELECT properties FROM {table} WHERE project_id = ? AND {where}",
            (project_id, *profile_id),
        )
        return orjson.loads(rows[0][0]) if rows else None

    def export_events(
        self, project_id: int, query: ExportQuery
    ) -> AsyncIterator[list[tuple[str, str]]]:
        return stream_export(self._connect, export_plan(project_id, query))

    async def snapshot_profiles(self, project_id: int, query: ProfileQuery, session_id: str) -> int:
        matching = matching_profiles(project_id, query)

        def job(conn: sqlite3.Connection) -> int:
            return create_snapshot(conn, project_id, session_id, matching, _now_ms())

        return await self._writer.submit(job)

    async def profile_page(
        self, project_id: int, session_id: str, offset: int, limit: int
    ) -> ProfilePage | None:
        sessions = self._read(
            "SELECT total FROM query_sessions WHERE id = ? AND project_id = ? AND created_ms >= ?",
            (session_id, project_id, _now_ms() - SESSION_TTL_MS),
        )
        if not sessions:
            return None
        rows = self._read(
            "SELECT distinct_id, properties FROM query_session_rows"
            " WHERE session_id = ? AND position >= ? AND position < ? ORDER BY position",
            (session_id, offset, offset + limit),
        )
        return ProfilePage(sessions[0][0], [(d, orjson.loads(p)) for d, p in rows])

    async def count_events(self, project_id: int) -> int:
        return int(
            self._read("SELECT count(*) FROM events WHERE project_id = ?", (project_id,))[0][0]
        )

    async def events(self, project_id: int) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT event, properties FROM events WHERE project_id = ? ORDER BY time_ms, rowid",
            (project_id,),
        )
        return [{"event": name, "properties": orjson.loads(props)} for name, props in rows]

    # Lookup tables -----------------------------------------------------------

    async def create_lookup_table(self, project_id: int, table_id: str, name: str) -> LookupTable:
        def job(conn: sqlite3.Connection) -> LookupTable:
            now = _now_ms()
            conn.execute(
                "INSERT INTO lookup_tables (id, project_id, name, created_ms, updated_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (table_id, project_id, name, now, now),
            )
            return LookupTable(table_id, project_id, name, 0, 0, now, now)

        return await self._writer.submit(job)

    async def list_lookup_tables(self, project_id: int) -> list[LookupTable]:
        rows = self._read(
            f"SELECT {_TABLE_COLUMNS} FROM lookup_tables WHERE project_id = ? ORDER BY created_ms, id",
            (project_id,),
        )
        return [_lookup_table(row) for row in rows]

    async def lookup_table(self, project_id: int, table_id: str) -> LookupTable | None:
        rows = self._read(
            f"SELECT {_TABLE_COLUMNS} FROM lookup_tables WHERE project_id = ? AND id = ?",
            (project_id, table_id),
        )
        return _lookup_table(rows[0]) if rows else None

    async def replace_lookup_table(
        self, project_id: int, table_id: str, content: LookupTableContent
    ) -> LookupTable:
        rows = [(table_id, key, orjson.dumps(values).decode()) for key, values in content.rows]
        header = orjson.dumps(list(content.header)).decode()

        def job(conn: sqlite3.Connection) -> LookupTable:
            _require_table(conn, project_id, table_id)
            conn.execute("DELETE FROM lookup_table_rows WHERE table_id = ?", (table_id,))
            conn.executemany(
                'INSERT INTO lookup_table_rows (table_id, key, "values") VALUES (?, ?, ?)', rows
            )
            conn.execute(
                "UPDATE lookup_tables SET header = ?, row_count = ?, updated_ms = ? WHERE id = ?",
                (header, len(rows), _now_ms(), table_id),
            )
            row = conn.execute(
                f"SELECT {_TABLE_COLUMNS} FROM lookup_tables WHERE id = ?", (table_id,)
            ).fetchone()
            return _lookup_table(row)

        return await self._writer.submit(job, weight=max(1, len(rows)))

    async def delete_lookup_table(self, project_id: int, table_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            _require_table(conn, project_id, table_id)
            conn.execute("DELETE FROM lookup_tables WHERE id = ?", (table_id,))

        await self._writer.submit(job)

    async def lookup_table_rows(
        self, project_id: int, table_id: str, limit: int
    ) -> list[tuple[str, dict[str, Any]]]:
        rows = self._read(
            'SELECT r.key, r."values" FROM lookup_table_rows r'
            " JOIN lookup_tables t ON t.id = r.table_id"
            " WHERE t.project_id = ? AND t.id = ? ORDER BY r.key LIMIT ?",
            (project_id, table_id, limit),
        )
        return [(key, orjson.loads(values)) for key, values in rows]


def _profile_table(profile_id: tuple[str, ...]) -> tuple[str, str]:
    if len(profile_id) == 1:
        return "profiles", "distinct_id = ?"
    return "group_profiles", "group_key = ? AND group_id = ?"


def _apply_one(
    conn: sqlite3.Connection, project_id: int, update: ProfileUpdate, max_properties: int
) -> None:
    table, where = _profile_table(update.profile_id)
    key = (project_id, *update.profile_id)
    row = conn.execute(
        f"SELECT properties FROM {table} WHERE project_id = ? AND {where}", key
    ).fetchone()
    current = orjson.loads(row[0]) if row else None
    updated = apply_update(current, update, max_properties)
    if updated is None:
        if row is not None:
            conn.execute(f"DELETE FROM {table} WHERE project_id = ? AND {where}", key)
        return
    columns = (
        "project_id, distinct_id" if table == "profiles" else "project_id, group_key, group_id"
    )
    placeholders = ", ".join("?" * (len(key) + 2))
    conn.execute(
        f"INSERT OR REPLACE INTO {table} ({columns}, properties, updated_ms) VALUES ({placeholders})",
        (*key, orjson.dumps(updated).decode(), _now_ms()),
    )


def _require_table(conn: sqlite3.Connection, project_id: int, table_id: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM lookup_tables WHERE id = ? AND project_id = ?", (table_id, project_id)
    ).fetchone()
    if found is None:
        raise NotFound(f"Lookup table with id '{table_id}' was not found.")


def _lookup_table(row: Sequence[Any]) -> LookupTable:
    table_id, project_id, name, header, row_count, created_ms, updated_ms = row
    return LookupTable(
        table_id, project_id, name, row_count, len(orjson.loads(header)), created_ms, updated_ms
    )
