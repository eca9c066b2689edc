"""The Store contract (trackyard/storage/base.py), run against every backend.

Adding a backend adds a parameter to the `store` fixture, not copied tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.postgres import fresh_database
from trackyard.auth.secrets import secret_hash
from trackyard.errors import Conflict, NotFound
from trackyard.storage.base import LookupTableContent, Project, Store
from trackyard.storage.sqlite.store import SQLiteStore
from trackyard.validate.events import Event
from trackyard.validate.profiles import ProfileUpdate

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        with fresh_database() as url:
            async with opened(postgres_store(url)) as backend:
                yield backend
        return
    sqlite = SQLiteStore(
        str(tmp_path / "contract.db"),
        commit_max_records=1000,
        queue_max_records=100_000,
        busy_timeout_ms=200,
    )
    async with opened(sqlite) as backend:
        yield backend


def postgres_store(url: str) -> Store:
    from trackyard.storage.postgres.store import PostgresStore

    return PostgresStore(url, pool_size=4, commit_max_records=1000, queue_max_records=100_000)


@asynccontextmanager
async def opened(backend: Store) -> AsyncIterator[Store]:
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


async def new_project(store: Store, name: str = "P") -> Project:
    return await store.create_project(name, f"token-{name}", secret_hash(f"secret-{name}"))


def make_event(
    i: int, name: str = "e", distinct_id: str = "d", insert_id: str | None = None
) -> Event:
    props = {"time": 1_000_000 + i, "n": i}
    return Event(None, name, distinct_id, 1_000_000 + i, insert_id or f"id{i}", orjson.dumps(props))


def set_update(distinct_id: str, **ops: Any) -> ProfileUpdate:
    return ProfileUpdate("user", "t", (distinct_id,), tuple(ops.items()), 0, True)


async def test_projects_and_lookups(store: Store) -> None:
    project = await new_project(store)
    assert await store.project_by_token("token-P") == project
    assert await store.project_by_id(project.id) == project
    assert await store.project_by_token("nope") is None
    found = await store.project_by_secret_lookup(secret_hash("secret-P").lookup)
    assert found is not None and found[0] == project
    assert [p.id for p in await store.list_projects()] == [project.id]


async def test_duplicate_token_is_a_conflict(store: Store) -> None:
    await new_project(store)
    with pytest.raises(Conflict):
        await new_project(store)


async def test_service_accounts(store: Store) -> None:
    a, b = await new_project(store, "A"), await new_project(store, "B")
    account = await store.create_service_account("sa", "hash", [a.id, b.id])
    assert (await store.service_account("sa")) == account
    assert account.project_ids == (a.id, b.id)
    with pytest.raises(NotFound):
        await store.create_service_account("sa2", "hash", [999])
    assert await store.service_account("sa2") is None  # the failed call left nothing


async def test_insert_is_idempotent_on_the_dedup_key(store: Store) -> None:
    project = await new_project(store)
    first = await store.insert_events(project.id, [make_event(1), make_event(2)])
    assert (first.stored, first.duplicates) == (2, 0)
    again = await store.insert_events(project.id, [make_event(1), make_event(3)])
    assert (again.stored, again.duplicates) == (1, 1)
    # Any part of the key differing makes another event.
    variants = [
        make_event(1, name="other"),
        make_event(1, distinct_id="other"),
        make_event(1, insert_id="x"),
    ]
    assert (await store.insert_events(project.id, variants)).stored == 3
    assert await store.count_events(project.id) == 6


async def test_projects_do_not_share_events(store: Store) -> None:
    a, b = await new_project(store, "A"), await new_project(store, "B")
    await store.insert_events(a.id, [make_event(1)])
    assert (await store.insert_events(b.id, [make_event(1)])).stored == 1
    assert await store.count_events(a.id) == await store.count_events(b.id) == 1


async def test_concurrent_calls_share_transactions(store: Store) -> None:
    project = await new_project(store)
    before = store.transactions  # type: ignore[attr-defined]
    results = await asyncio.gather(
        *(store.insert_events(project.id, [make_event(i)]) for i in range(200))
    )
    assert sum(r.stored for r in results) == 200
    assert store.transactions - before < 200  # type: ignore[attr-defined]
    assert await store.count_events(project.id) == 200


async def test_events_are_returned_with_properties(store: Store) -> None:
    project = await new_project(store)
    await store.insert_events(project.id, [make_event(2), make_event(1)])
    assert [e["properties"]["n"] for e in await store.events(project.id)] == [1, 2]


async def test_profile_updates_apply_in_order_and_report_conflicts(store: Store) -> None:
    project = await new_project(store)
    failures = await store.apply_profile_updates(
        project.id,
        [
            set_update("u", **{"$set": {"n": "text"}}),
            set_update("u", **{"$add": {"n": 1}}),
            set_update("u", **{"$set": {"m": 1}}),
            set_update("u", **{"$add": {"m": 2}}),
        ],
        2000,
    )
    assert [(f.position, f.field) for f in failures] == [(1, "$add")]
    assert await store.profile(project.id, ("u",)) == {"n": "text", "m": 3}


async def test_concurrent_adds_never_lose_an_increment(store: Store) -> None:
    project = await new_project(store)
    await asyncio.gather(
        *(
            store.apply_profile_updates(project.id, [set_update("u", **{"$add": {"n": 1}})], 2000)
            for _ in range(100)
        )
    )
    assert await store.profile(project.id, ("u",)) == {"n": 100}


async def test_group_profiles_are_separate_from_users(store: Store) -> None:
    project = await new_project(store)
    group = ProfileUpdate("group", "t", ("company", "u"), (("$set", {"g": 1}),), 0, True)
    await store.apply_profile_updates(
        project.id, [set_update("u", **{"$set": {"u": 1}}), group], 2000
    )
    assert await store.profile(project.id, ("u",)) == {"u": 1}
    assert await store.profile(project.id, ("company", "u")) == {"g": 1}


async def test_lookup_tables_replace_atomically_and_stay_in_their_project(store: Store) -> None:
    a, b = await new_project(store, "A"), await new_project(store, "B")
    await store.create_lookup_table(a.id, "t1", "Accounts")
    content = LookupTableContent(("id", "plan"), [("1", {"plan": "free"}), ("2", {"plan": "pro"})])
    table = await store.replace_lookup_table(a.id, "t1", content)
    assert (table.row_count, table.column_count) == (2, 2)
    smaller = LookupTableContent(("id", "plan"), [("3", {"plan": "x"})])
    await store.replace_lookup_table(a.id, "t1", smaller)
    assert await store.lookup_table_rows(a.id, "t1", 10) == [("3", {"plan": "x"})]
    with pytest.raises(NotFound):
        await store.replace_lookup_table(b.id, "t1", content)
    with pytest.raises(NotFound):
        await store.delete_lookup_table(b.id, "t1")
    assert await store.lookup_table_rows(b.id, "t1", 10) == []
    await store.delete_lookup_table(a.id, "t1")
    assert await store.list_lookup_tables(a.id) == []
