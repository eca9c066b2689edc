"""How the PostgreSQL store writes a group's events (storage/postgres/events.py):
straight into `events` while every row is new, staged row by row once some
repeat a stored key, with the same counts either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

import psycopg
import pytest

from tests.contract.test_store import anyio_backend, make_event, new_project, opened, postgres_store
from tests.postgres import fresh_database, query
from trackyard.storage.base import InsertResult
from trackyard.storage.postgres.events import (
    CREATE_STAGING,
    STAGED_AFTER_DUPLICATES,
    CopyRoute,
    EventBatch,
    insert_event_batches,
)
from trackyard.validate.events import Event

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend"]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as database:
        yield database


@pytest.fixture
async def project_id(url: str) -> int:
    """A migrated database with one project (and the month its events fall in)."""
    async with opened(postgres_store(url)) as store:
        project = await new_project(store)
        await store.insert_events(project.id, [make_event(-1)])
    return project.id


async def connect(url: str) -> psycopg.AsyncConnection:
    conn = await psycopg.AsyncConnection.connect(url)
    await conn.execute(CREATE_STAGING)
    await conn.commit()
    return conn


@pytest.fixture
async def conn(url: str, project_id: int) -> AsyncIterator[psycopg.AsyncConnection]:
    connection = await connect(url)
    async with connection:
        yield connection


def events(numbers: Sequence[int]) -> list[Event]:
    return [make_event(i) for i in numbers]


async def insert(
    conn: psycopg.AsyncConnection,
    project_id: int,
    *groups: list[Event],
    route: CopyRoute | None = None,
) -> list[tuple[int, int]]:
    batches = [EventBatch(project_id, group) for group in groups]
    results = await insert_event_batches(conn, batches, route)
    await conn.commit()
    return [(r.stored, r.duplicates) for r in results]


def stored_ids(url: str) -> list[str]:
    """Insert ids in insertion order (`seq`), the marker event left out."""
    rows = query(url, "SELECT insert_id FROM events WHERE insert_id <> 'id-1' ORDER BY seq")
    return [insert_id for (insert_id,) in rows]


async def test_new_rows_are_stored_in_arrival_order(
    conn: psycopg.AsyncConnection, project_id: int, url: str
) -> None:
    # Arrival order is not time order: `seq` must follow arrival.
    assert await insert(conn, project_id, events([5, 3, 4]), events([1, 2])) == [(3, 0), (2, 0)]
    assert stored_ids(url) == ["id5", "id3", "id4", "id1", "id2"]


async def test_a_group_with_duplicates_is_counted_call_by_call(
    conn: psycopg.AsyncConnection, project_id: int, url: str
) -> None:
    assert await insert(conn, project_id, events(range(10))) == [(10, 0)]
    # The first call repeats 5 stored rows; the second repeats 3 of the first
    # call's new rows and one of its own.
    first, second = events(range(5, 15)), events([*range(12, 20), 19])
    assert await insert(conn, project_id, first, second) == [(5, 5), (5, 4)]
    assert stored_ids(url) == [f"id{i}" for i in range(20)]


async def test_after_duplicates_the_next_groups_are_staged_then_direct_again(
    conn: psycopg.AsyncConnection, project_id: int, url: str
) -> None:
    route = CopyRoute()
    assert await insert(conn, project_id, events([1]), route=route) == [(1, 0)]
    assert route.direct()  # nothing repeated: the next group goes straight in
    assert await insert(conn, project_id, events([1, 2]), route=route) == [(1, 1)]
    staged = [route.direct() for _ in range(STAGED_AFTER_DUPLICATES)]
    assert staged == [False] * STAGED_AFTER_DUPLICATES
    assert route.direct()


async def test_a_copy_that_waits_for_another_writers_key_counts_it_once(
    url: str, project_id: int
) -> None:
    """Another process holds an uncommitted row with one of our keys: our COPY
    waits for it, and once it commits, that row is our duplicate."""
    async with await connect(url) as holder, await connect(url) as waiter:
        async with holder.transaction():
            held = await insert_event_batches(holder, [EventBatch(project_id, events([1, 2]))])
            assert held == [InsertResult(2, 0)]
            waiting = asyncio.create_task(insert(waiter, project_id, events([2, 3])))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # blocked on the key `holder` has not committed
        assert await asyncio.wait_for(waiting, 10) == [(1, 1)]
    assert sorted(stored_ids(url)) == ["id1", "id2", "id3"]
