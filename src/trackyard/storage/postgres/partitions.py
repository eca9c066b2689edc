"""Monthly partitions of `events`, created the first time a month is written.

Why monthly, on demand: `/import` takes history back to 1971, so a fixed
range of pre-created partitions would either miss old months or create
hundreds of empty tables. Creating a month's partition just before its first
row keeps one table per month that holds data, lets time-bounded reads and
retention (DROP of a month) touch only their months, and keeps each
partition's dedup index small enough to stay cached while a month is hot.

A partition is created on its own short transaction, never inside a group
transaction: `CREATE TABLE ... PARTITION OF` locks the parent exclusively,
and holding that lock while other processes insert would stall them for the
whole group commit. An advisory lock serialises creators across processes;
`IF NOT EXISTS` makes a lost race harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from trackyard.storage.postgres.schema import PARTITION_LOCK

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Months outside years 1-9999 cannot be named as dates; they go to events_default.
OUT_OF_RANGE = -1


def month_of(time_ms: int) -> int:
    """Months since year 0 (year * 12 + month - 1), or OUT_OF_RANGE."""
    try:
        moment = _EPOCH + timedelta(milliseconds=time_ms)
    except OverflowError:
        return OUT_OF_RANGE
    return moment.year * 12 + moment.month - 1


def month_start_ms(month: int) -> int:
    year, month_index = divmod(month, 12)
    start = datetime(year, month_index + 1, 1, tzinfo=UTC) - _EPOCH
    return start // timedelta(milliseconds=1)


def partition_name(month: int) -> str:
    year, month_index = divmod(month, 12)
    return f"events_y{year:04d}m{month_index + 1:02d}"


def _next_month_start_ms(month: int) -> int | None:
    return None if month + 1 >= 10_000 * 12 else month_start_ms(month + 1)


class PartitionKeeper:
    """Knows which months have a partition; creates the missing ones."""

    def __init__(self) -> None:
        self._known: set[int] = set()

    async def load(self, conn: AsyncConnection) -> None:
        cursor = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'events'::regclass"
        )
        for (name,) in await cursor.fetchall():
            if name.startswith("events_y"):
                self._known.add(int(name[8:12]) * 12 + int(name[13:15]) - 1)

    def missing(self, months: Iterable[int]) -> list[int]:
        return sorted({m for m in months if m != OUT_OF_RANGE} - self._known)

    async def create(self, pool: AsyncConnectionPool, months: list[int]) -> None:
        async with pool.connection() as conn, conn.transaction():
            # Wait for in-flight inserts briefly rather than queueing every
            # writer behind an exclusive lock for long.
            await conn.execute("SET LOCAL lock_timeout = '10s'")
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
            for month in months:
                await conn.execute(_create_statement(month))
        self._known.update(months)


def _create_statement(month: int) -> sql.Composed:
    upper = _next_month_start_ms(month)
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ({}) TO ({})"
    ).format(
        sql.Identifier(partition_name(month)),
        sql.Literal(month_start_ms(month)),
        sql.Literal(upper) if upper is not None else sql.SQL("MAXVALUE"),
    )
