"""The PostgreSQL store: one shared database behind many stateless API processes.

Each process keeps a small connection pool (psycopg 3, async) and one group
commit writer (writer.py). Durability: a call returns only after COMMIT
returned, with PostgreSQL's default `synchronous_commit = on` (the WAL is
flushed). Reads use pooled connections outside the writer's transaction and
see what is committed. Every driver error is translated here or in writer.py:
connection loss, a restart, an administrator's pg_terminate_backend, a pool
that cannot get a connection in time: all become StoreUnavailable (503 with
Retry-After), and the pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, LiteralString

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from trackyard.errors import Conflict, NotFound, StoreUnavailable
from trackyard.service.identity import IdentityLink
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
from trackyard.storage.postgres import lookup, reads
from trackyard.storage.postgres.events import CREATE_STAGING, EventBatch
from trackyard.storage.postgres.identity import IdentityBatch
from trackyard.storage.postgres.partitions import PartitionKeeper
from trackyard.storage.postgres.profiles import ProfileBatch
from trackyard.storage.postgres.schema import (
    CONNECT_TIMEOUT_SECONDS,
    SchemaVersion,
    migrate_database,
)
from trackyard.storage.postgres.writer import GroupCommitWriter
from trackyard.validate.events import Event
from trackyard.validate.profiles import ProfileUpdate

# How long a request waits for a free pooled connection before its 503.
POOL_TIMEOUT_SECONDS = 10.0
_PROJECT_COLUMNS = "id, name, token, identity_mode"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _configure(conn: AsyncConnection) -> None:
    await conn.execute(CREATE_STAGING)


class PostgresStore:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int,
        commit_max_records: int,
        queue_max_records: int,
    ) -> None:
        self.url = url
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max(2, pool_size),  # the writer's connection and at least one reader
            open=False,
            timeout=POOL_TIMEOUT_SECONDS,
            # autocommit: reads need no transaction; the writer opens its own explicitly.
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": "trackyard",
            },
            configure=_configure,
            check=AsyncConnectionPool.check_connection,  # drop connections a restart killed
            name="trackyard",
        )
        self._partitions = PartitionKeeper()
        self._writer = GroupCommitWriter(
            self._pool,
            self._partitions,
            max_batch_weight=commit_max_records,
            max_queued_weight=queue_max_records,
        )
        self._opened = False

    # Lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        if self._opened:
            return
        await self.migrate()
        try:
            await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS * 2)
            async with self._pool.connection() as conn:
                await self._partitions.load(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            await self._pool.close()
            raise StoreUnavailable(f"cannot open the PostgreSQL store: {exc}") from exc
        self._writer.start()
        self._opened = True

    async def migrate(self) -> SchemaVersion:
        return await migrate_database(self.url)

    async def close(self) -> None:
        if self._opened:
            await self._writer.stop()
            await self._pool.close()
            self._opened = False

    async def ping(self) -> None:
        """A write could commit now: the database answers and is not a read-only standby."""
        rows = await self._read("SELECT pg_is_in_recovery()")
        if rows[0][0]:
            raise StoreUnavailable("the database is a read-only standby")

    @property
    def queued_records(self) -> int:
        return self._writer.queued_weight

    @property
    def transactions(self) -> int:
        return self._writer.transactions

    async def _read(self, query: LiteralString, params: Sequence[Any] = ()) -> list[Any]:
        if not self._opened:
            raise StoreUnavailable("the store is not open")
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreUnavailable(f"the database cannot be read: {exc}") from exc

    # Projects and credentials ------------------------------------------------

    async def create_project(self, name: str, token: str, api_secret: SecretHash) -> Project:
        async def job(conn: AsyncConnection) -> Project:
            cursor = await conn.execute(
                "INSERT INTO projects (name, token, api_secret_lookup, api_secret_hash, created_ms)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (name, token, api_secret.lookup, api_secret.hash, _now_ms()),
            )
            row = await cursor.fetchone()
            return Project(id=int(row[0]) if row else 0, name=name, token=token)

        return await self._writer.submit(job)

    async def list_projects(self) -> list[Project]:
        rows = await self._read(f"SELECT {_PROJECT_COLUMNS} FROM projects ORDER BY id")
        return [Project(*row) for row in rows]

    async def project_by_id(self, project_id: int) -> Project | None:
        rows = await self._read(
            f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE id = %s", (project_id,)
        )
        return Project(*rows[0]) if rows else None

    async def project_by_token(self, token: str) -> Project | None:
        rows = await self._read(
            f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE token = %s", (_text(token),)
        )
        return Project(*rows[0]) if rows else None

    async def project_by_secret_lookup(self, lookup_key: str) -> tuple[Project, str] | None:
        rows = await self._read(
            f"SELECT {_PROJECT_COLUMNS}, api_secret_hash FROM projects"
            " WHERE api_secret_lookup = %s",
            (_text(lookup_key),),
        )
        return (Project(*rows[0][:4]), rows[0][4]) if rows else None

    async def create_service_account(
        self, username: str, secret_hash: str, project_ids: Sequence[int]
    ) -> ServiceAccount:
        async def job(conn: AsyncConnection) -> ServiceAccount:
            cursor = await conn.execute(
                "INSERT INTO service_accounts (username, secret_hash, created_ms)"
                " VALUES (%s, %s, %s) RETURNING id",
                (username, secret_hash, _now_ms()),
            )
            row = await cursor.fetchone()
            account_id = int(row[0]) if row else 0
            for project_id in project_ids:
                found = await conn.execute("SELECT 1 FROM projects WHERE id = %s", (project_id,))
                if await found.fetchone() is None:
                    raise NotFound(f"project {project_id} does not exist")
                await conn.execute(
                    "INSERT INTO service_account_projects VALUES (%s, %s)", (account_id, project_id)
                )
            return ServiceAccount(account_id, username, secret_hash, tuple(project_ids))

        return await self._writer.submit(job)

    async def service_account(self, username: str) -> ServiceAccount | None:
        rows = await self._read(
            "SELECT a.id, a.secret_hash, coalesce(array_agg(p.project_id ORDER BY p.project_id)"
            " FILTER (WHERE p.project_id IS NOT NULL), '{}')"
            " FROM service_accounts a"
            " LEFT JOIN service_account_projects p ON p.service_account_id = a.id"
            " WHERE a.username = %s GROUP BY a.id",
            (_text(username),),
        )
        if not rows:
            return None
        account_id, secret_hash, project_ids = rows[0]
        return ServiceAccount(account_id, username, secret_hash, tuple(project_ids))

    async def replace_service_account_secret(self, username: str, secret_hash: str) -> None:
        async def job(conn: AsyncConnection) -> None:
            cursor = await conn.execute(
                "UPDATE service_accounts SET secret_hash = %s WHERE username = %s",
                (secret_hash, _text(username)),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"service account {username!r} does not exist")

        await self._writer.submit(job)

    async def replace_api_secret(self, project_id: int, api_secret: SecretHash) -> None:
        async def job(conn: AsyncConnection) -> None:
            cursor = await conn.execute(
                "UPDATE projects SET api_secret_lookup = %s, api_secret_hash = %s WHERE id = %s",
                (api_secret.lookup, api_secret.hash, project_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"project {project_id} does not exist")

        await self._writer.submit(job)

    # Ingestion ---------------------------------------------------------------

    async def insert_events(self, project_id: int, events: Sequence[Event]) -> InsertResult:
        if not events:
            return InsertResult(0, 0)
        batch = EventBatch(project_id, events)
        return await self._writer.submit(batch, weight=len(events))

    async def link_identities(self, project_id: int, links: Sequence[IdentityLink]) -> None:
        if links:
            batch = IdentityBatch(project_id, links)
            await self._writer.submit(batch, weight=len(links))

    async def set_identity_mode(self, project_id: int, mode: str) -> None:
        async def job(conn: AsyncConnection) -> None:
            cursor = await conn.execute(
                "SELECT 1 FROM events WHERE project_id = %s LIMIT 1", (project_id,)
            )
            if await cursor.fetchone() is not None:
                raise Conflict("the identity mode is fixed once a project has events")
            cursor = await conn.execute(
                "UPDATE projects SET identity_mode = %s WHERE id = %s", (mode, project_id)
            )
            if cursor.rowcount == 0:
                raise NotFound(f"project {project_id} does not exist")

        await self._writer.submit(job)

    async def apply_profile_updates(
        self, project_id: int, updates: Sequence[ProfileUpdate], max_properties: int
    ) -> list[UpdateFailure]:
        if not updates:
            return []
        batch = ProfileBatch(project_id, updates, max_properties)
        return await self._writer.submit(batch, weight=len(updates))

    async def profile(self, project_id: int, profile_id: tuple[str, ...]) -> dict[str, Any] | None:
        key = tuple(_text(part) for part in profile_id)
        if len(key) == 1:
            rows = await self._read(
                "SELECT properties::text FROM profiles"
                " WHERE project_id = %s AND distinct_id = %s AND properties IS NOT NULL",
                (project_id, *key),
            )
        else:
            rows = await self._read(
                "SELECT properties::text FROM group_profiles WHERE project_id = %s"
                " AND group_key = %s AND group_id = %s AND properties IS NOT NULL",
                (project_id, *key),
            )
        return orjson.loads(rows[0][0]) if rows else None

    def export_events(
        self, project_id: int, query: ExportQuery
    ) -> AsyncIterator[list[tuple[str, str]]]:
        if not self._opened:
            raise StoreUnavailable("the store is not open")
        return reads.stream_export(self._pool, project_id, query)

    async def snapshot_profiles(self, project_id: int, query: ProfileQuery, session_id: str) -> int:
        async def job(conn: AsyncConnection) -> int:
            return await reads.create_snapshot(conn, project_id, query, session_id, _now_ms())

        return await self._writer.submit(job)

    async def profile_page(
        self, project_id: int, session_id: str, offset: int, limit: int
    ) -> ProfilePage | None:
        since = _now_ms() - reads.SESSION_TTL_MS
        rows = await self._read(reads.PAGE, (offset, offset + limit, session_id, project_id, since))
        if not rows:
            return None
        found = [(d, orjson.loads(p)) for d, p, _ in rows if d is not None]
        return ProfilePage(int(rows[0][2]), found)

    async def count_events(self, project_id: int) -> int:
        rows = await self._read("SELECT count(*) FROM events WHERE project_id = %s", (project_id,))
        return int(rows[0][0])

    async def events(self, project_id: int) -> list[dict[str, Any]]:
        rows = await self._read(
            "SELECT event, properties::text FROM events WHERE project_id = %s"
            " ORDER BY time_ms, seq",
            (project_id,),
        )
        return [{"event": name, "properties": orjson.loads(props)} for name, props in rows]

    # Lookup tables -----------------------------------------------------------

    async def create_lookup_table(self, project_id: int, table_id: str, name: str) -> LookupTable:
        now = _now_ms()

        async def job(conn: AsyncConnection) -> LookupTable:
            await lookup.create(conn, project_id, table_id, name, now)
            return LookupTable(table_id, project_id, name, 0, 0, now, now)

        return await self._writer.submit(job)

    async def list_lookup_tables(self, project_id: int) -> list[LookupTable]:
        rows = await self._read(lookup.LIST, (project_id,))
        return [lookup.table_from_row(row) for row in rows]

    async def lookup_table(self, project_id: int, table_id: str) -> LookupTable | None:
        rows = await self._read(lookup.ONE, (project_id, _text(table_id)))
        return lookup.table_from_row(rows[0]) if rows else None

    async def replace_lookup_table(
        self, project_id: int, table_id: str, content: LookupTableContent
    ) -> LookupTable:
        async def job(conn: AsyncConnection) -> LookupTable:
            return await lookup.replace(conn, project_id, table_id, content, _now_ms())

        weight = max(1, len(content.rows))
        return await self._writer.submit(job, weight=weight)

    async def delete_lookup_table(self, project_id: int, table_id: str) -> None:
        async def job(conn: AsyncConnection) -> None:
            await lookup.delete(conn, project_id, table_id)

        await self._writer.submit(job)

    async def lookup_table_rows(
        self, project_id: int, table_id: str, limit: int
    ) -> list[tuple[str, dict[str, Any]]]:
        rows = await self._read(lookup.ROWS, (project_id, _text(table_id), limit))
        return [(key, orjson.loads(values)) for key, values in rows]


def _text(value: str) -> str:
    # A NUL cannot be stored (see events.storable_text), so it cannot be looked up either.
    return value.replace("\x00", "\ufffd")
