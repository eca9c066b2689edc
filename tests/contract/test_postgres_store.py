"""What only the PostgreSQL store promises: several processes on one database,
connection loss, migrations and partitions. Two `PostgresStore` objects on one
database stand in for two API processes: each has its own pool and writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from prometheus_client import REGISTRY

from tests.contract.test_store import (
    anyio_backend,
    make_event,
    new_project,
    opened,
    postgres_store,
    set_update,
)
from tests.postgres import fresh_database, query, terminate_backends
from trackyard.errors import StoreUnavailable
from trackyard.storage.base import Store
from trackyard.storage.postgres.partitions import month_of, partition_name
from trackyard.storage.postgres.schema import MIGRATIONS, migrate_database
from trackyard.validate.events import Event
from trackyard.validate.profiles import ProfileUpdate

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend"]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as database:
        yield database


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with opened(postgres_store(url)) as backend:
        yield backend


@pytest.fixture
async def other(url: str, store: Store) -> AsyncIterator[Store]:
    """A second process's store on the same database."""
    async with opened(postgres_store(url)) as backend:
        yield backend


def event_at(time_ms: int, insert_id: str) -> Event:
    props = {"time": time_ms, "distinct_id": "d", "$insert_id": insert_id}
    return Event(None, "e", "d", time_ms, insert_id, orjson.dumps(props))


async def test_two_processes_never_lose_a_profile_operation(store: Store, other: Store) -> None:
    project = await new_project(store)

    async def send(backend: Store, i: int) -> None:
        updates = [
            set_update("u", **{"$add": {"n": 1}}),
            set_update("u", **{"$union": {"tags": [f"t{i % 7}"]}}),
            set_update("u", **{"$append": {"log": i}}),
            set_update("u", **{"$set_once": {"first": i}}),
            ProfileUpdate("group", "t", ("company", "acme"), (("$add", {"n": 1}),), 0, True),
        ]
        assert await backend.apply_profile_updates(project.id, updates, 2000) == []

    await asyncio.gather(*(send(store if i % 2 else other, i) for i in range(120)))
    profile = await other.profile(project.id, ("u",))
    assert profile is not None
    assert profile["n"] == 120
    assert sorted(profile["tags"]) == [f"t{i}" for i in range(7)]
    assert sorted(profile["log"]) == list(range(120))
    assert profile["first"] in range(120)
    assert await store.profile(project.id, ("company", "acme")) == {"n": 120}


async def test_two_processes_store_an_overlapping_event_once(store: Store, other: Store) -> None:
    project = await new_project(store)
    batches = [[make_event(i) for i in range(start, start + 50)] for start in range(0, 400, 25)]
    results = await asyncio.gather(
        *(
            (store if n % 2 else other).insert_events(project.id, batch)
            for n, batch in enumerate(batches * 2)
        )
    )
    assert sum(r.stored for r in results) == 425
    assert sum(r.stored + r.duplicates for r in results) == 2 * 16 * 50
    assert await store.count_events(project.id) == 425


async def test_terminated_connections_fail_the_call_and_the_pool_recovers(
    store: Store, url: str
) -> None:
    project = await new_project(store)
    assert terminate_backends(url) > 0  # every pooled connection, killed under the store
    outcomes = await asyncio.gather(
        *(store.insert_events(project.id, [make_event(i)]) for i in range(5)),
        return_exceptions=True,
    )
    # The pool checks a connection before lending it, so most calls survive; a
    # call that does fail is a StoreUnavailable, never anything else.
    assert all(not isinstance(o, Exception) or isinstance(o, StoreUnavailable) for o in outcomes)
    stored = sum(1 for o in outcomes if not isinstance(o, Exception))
    assert await store.count_events(project.id) == stored
    assert (await store.insert_events(project.id, [make_event(99)])).stored == 1


def commits(result: str) -> float:
    """This process's `trackyard_commits_total{result=...}`, as /metrics reports it."""
    return REGISTRY.get_sample_value("trackyard_commits_total", {"result": result}) or 0.0


async def test_a_call_whose_commit_fails_keeps_nothing(store: Store, url: str) -> None:
    project = await new_project(store)
    committed = commits("committed")
    await store.insert_events(project.id, [make_event(0)])  # its month's partition exists
    assert commits("committed") == committed + 1
    # Hold a lock the writer needs, then kill the writer's session while it waits.
    failed = commits("failed")
    locker = asyncio.create_task(asyncio.to_thread(_hold_events_lock_then_terminate, url))
    await asyncio.sleep(0.5)
    with pytest.raises(StoreUnavailable):
        await store.insert_events(project.id, [make_event(1)])
    await locker
    assert commits("failed") == failed + 1
    assert await store.count_events(project.id) == 1
    assert (await store.insert_events(project.id, [make_event(1)])).stored == 1


def _hold_events_lock_then_terminate(url: str) -> None:
    import time

    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        time.sleep(1.5)
        waiting = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchall()
        for (pid,) in waiting:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        conn.rollback()
    assert waiting, "the writer never waited for the lock"


async def test_an_unreachable_database_is_unavailable() -> None:
    backend = postgres_store("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable):
        await backend.open()


async def test_concurrent_migrators_apply_each_migration_once(url: str) -> None:
    versions = await asyncio.gather(*(migrate_database(url) for _ in range(4)))
    assert sorted(v.before for v in versions) == [
        0,
        len(MIGRATIONS),
        len(MIGRATIONS),
        len(MIGRATIONS),
    ]
    assert query(url, "SELECT version FROM trackyard_schema ORDER BY version") == [
        (n,) for n in range(1, len(MIGRATIONS) + 1)
    ]


async def test_each_month_gets_its_own_partition(store: Store, url: str) -> None:
    project = await new_project(store)
    times = [31_536_000_000, 1_795_694_400_000, 1_795_694_400_001]  # 1971-01, 2026-11 twice
    await store.insert_events(project.id, [event_at(t, f"i{n}") for n, t in enumerate(times)])
    counts = query(
        url, "SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1"
    )
    assert counts == [("events_y1971m01", 1), ("events_y2026m11", 2)]
    assert partition_name(month_of(times[1])) == "events_y2026m11"
    # A time no calendar can name still has a home.
    assert (await store.insert_events(project.id, [event_at(2**62, "far")])).stored == 1
    assert query(url, "SELECT count(*) FROM events_default") == [(1,)]


async def test_text_postgresql_cannot_hold_is_stored(store: Store) -> None:
    project = await new_project(store)
    props = orjson.dumps({"note": "a\x00b", "distinct_id": "d\x00"})
    event = Event(None, "e\x00", "d\x00", 1_000_000, "x", props)
    assert (await store.insert_events(project.id, [event])).stored == 1
    assert (await store.insert_events(project.id, [event])).duplicates == 1
    [stored] = await store.events(project.id)
    assert stored["properties"]["note"] == "a\x00b"  # properties keep every character
    update = set_update("u\x00", **{"$set": {"v": "\x00"}})
    assert await store.apply_profile_updates(project.id, [update], 2000) == []
    assert await store.profile(project.id, ("u\x00",)) == {"v": "\x00"}
