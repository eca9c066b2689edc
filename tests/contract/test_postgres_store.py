"""What only the PostgreSQL store promises: several processes on one database,
connection loss, migrations, partitions, and how a group's events are copied.
Two `PostgresStore` objects on one database stand in for two API processes:
each has its own pool and writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

import orjson
import psycopg
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
from trackyard.storage.base import InsertResult, Store
from trackyard.storage.postgres.events import (
    CREATE_STAGING,
    STAGED_GROUPS_AFTER_REFUSAL,
    CopyRoute,
    EventBatch,
    insert_event_batches,
)
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


async def test_a_database_from_before_direct_copies_upgrades_at_open(url: str) -> None:
    """Schema 3 with a stored event: opening the store applies migration 4, and
    new events, copied straight into `events`, come after the old one in `seq`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE trackyard_schema (version integer PRIMARY KEY, applied_ms bigint)"
        )
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            conn.execute(script.encode())
            conn.execute("INSERT INTO trackyard_schema VALUES (%s, 0)", (number,))
        # As the staged path wrote it; at a time only the default partition holds.
        conn.execute(
            "INSERT INTO events VALUES (1, %s, nextval('events_seq'), 'e', 'd', 'old', '{}')",
            (2**62,),
        )
    async with opened(postgres_store(url)) as upgraded:
        assert (await upgraded.insert_events(1, [make_event(1), make_event(2)])).stored == 2
    rows = query(url, "SELECT insert_id FROM events ORDER BY seq")
    assert rows == [("old",), ("id1",), ("id2",)]
    assert query(url, "SELECT max(version) FROM trackyard_schema") == [(len(MIGRATIONS),)]


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


# How a group's events are written (storage/postgres/events.py): straight into
# `events` while every row is new, staged row by row once some repeat a stored
# key, with the same counts either way.


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
    staged = [route.direct() for _ in range(STAGED_GROUPS_AFTER_REFUSAL)]
    assert staged == [False] * STAGED_GROUPS_AFTER_REFUSAL
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


# A test-only trigger that holds a row's insert until the test lets it go, so
# two COPYs can be stopped half-way, each holding a key the other will need.
PAUSE_AT_MARKERS = """
    CREATE FUNCTION pause_at_marker() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.insert_id LIKE 'pause-%' THEN
            PERFORM pg_advisory_xact_lock_shared(hashtext(NEW.insert_id));
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER pause_at_marker BEFORE INSERT ON events
        FOR EACH ROW EXECUTE FUNCTION pause_at_marker();
"""


async def paused_at(url: str, count: int) -> None:
    """Until `count` connections wait on a marker's advisory lock."""
    sql = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    for _ in range(200):
        if query(url, sql) == [(count,)]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} COPYs never paused at their markers")


async def test_two_copies_that_wait_in_a_circle_both_store_their_rows_once(
    url: str, project_id: int
) -> None:
    """Each COPY holds a new key the other copies later: PostgreSQL refuses one
    with a deadlock, and that one stages its rows and counts the other's as
    duplicates, as the staged path does for any repeated key."""
    keys = {"k1": 1, "k2": 2}

    def batch(first: str, marker: str, last: str) -> list[Event]:
        return [event_at(keys[first], first), event_at(3, marker), event_at(keys[last], last)]

    routes = [CopyRoute(), CopyRoute()]
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as gate,
        await connect(url) as one,
        await connect(url) as two,
    ):
        await gate.execute(PAUSE_AT_MARKERS)
        await gate.execute("SELECT pg_advisory_lock(hashtext('pause-1'))")
        await gate.execute("SELECT pg_advisory_lock(hashtext('pause-2'))")
        first = asyncio.create_task(
            insert(one, project_id, batch("k1", "pause-1", "k2"), route=routes[0])
        )
        await paused_at(url, 1)  # `one` holds k1
        second = asyncio.create_task(
            insert(two, project_id, batch("k2", "pause-2", "k1"), route=routes[1])
        )
        await paused_at(url, 2)  # `two` holds k2
        await gate.execute("SELECT pg_advisory_unlock_all()")
        results = await asyncio.wait_for(asyncio.gather(first, second), 30)

    # The survivor stored its three rows; the refused one its marker alone.
    assert sorted(results) == [[(1, 2)], [(3, 0)]]
    assert sorted(stored_ids(url)) == ["k1", "k2", "pause-1", "pause-2"]
    # The refused writer sends its next groups the staged way, like after a duplicate.
    assert sorted(route.direct() for route in routes) == [False, True]
