"""Lookup-table statements: rows replaced wholesale inside one call's SAVEPOINT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection

from trackyard.errors import NotFound
from trackyard.storage.base import LookupTable, LookupTableContent
from trackyard.storage.postgres.events import storable_text

_COLUMNS = "id, project_id, name, header::text, row_count, created_ms, updated_ms"
LIST = f"SELECT {_COLUMNS} FROM lookup_tables WHERE project_id = %s ORDER BY created_ms, id"
ONE = f"SELECT {_COLUMNS} FROM lookup_tables WHERE project_id = %s AND id = %s"
ROWS = (
    'SELECT r.key, r."values"::text FROM lookup_table_rows r'
    " JOIN lookup_tables t ON t.id = r.table_id"
    " WHERE t.project_id = %s AND t.id = %s ORDER BY r.key LIMIT %s"
)


def table_from_row(row: Sequence[Any]) -> LookupTable:
    table_id, project_id, name, header, row_count, created_ms, updated_ms = row
    columns = len(orjson.loads(header))
    return LookupTable(table_id, project_id, name, row_count, columns, created_ms, updated_ms)


async def create(
    conn: AsyncConnection, project_id: int, table_id: str, name: str, now_ms: int
) -> None:
    await conn.execute(
        "INSERT INTO lookup_tables (id, project_id, name, created_ms, updated_ms)"
        " VALUES (%s, %s, %s, %s, %s)",
        (storable_text(table_id), project_id, storable_text(name), now_ms, now_ms),
    )


async def replace(
    conn: AsyncConnection,
    project_id: int,
    table_id: str,
    content: LookupTableContent,
    now_ms: int,
) -> LookupTable:
    table_id = storable_text(table_id)
    await _lock_table(conn, project_id, table_id)
    await conn.execute("DELETE FROM lookup_table_rows WHERE table_id = %s", (table_id,))
    async with conn.cursor() as cursor:
        async with cursor.copy(
            'COPY lookup_table_rows (table_id, key, "values") FROM STDIN'
        ) as copy:
            for key, values in content.rows:
                await copy.write_row((table_id, storable_text(key), orjson.dumps(values).decode()))
        await cursor.execute(
            "UPDATE lookup_tables SET header = %s::json, row_count = %s, updated_ms = %s"
            f" WHERE id = %s RETURNING {_COLUMNS}",
            (orjson.dumps(list(content.header)).decode(), len(content.rows), now_ms, table_id),
        )
        row = await cursor.fetchone()
    assert row is not None  # locked above, so it still exists
    return table_from_row(row)


async def delete(conn: AsyncConnection, project_id: int, table_id: str) -> None:
    table_id = storable_text(table_id)
    await _lock_table(conn, project_id, table_id)
    await conn.execute("DELETE FROM lookup_tables WHERE id = %s", (table_id,))


async def _lock_table(conn: AsyncConnection, project_id: int, table_id: str) -> None:
    cursor = await conn.execute(
        "SELECT 1 FROM lookup_tables WHERE id = %s AND project_id = %s FOR UPDATE",
        (table_id, project_id),
    )
    if await cursor.fetchone() is None:
        raise NotFound(f"Lookup table with id '{table_id}' was not found.")
