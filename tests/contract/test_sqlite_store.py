"""What only the SQLite store promises: file-level durability and lock behaviour."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.contract.test_store import anyio_backend, make_event, new_project
from trackyard.errors import StoreUnavailable
from trackyard.storage.base import Store

pytestmark = pytest.mark.anyio
__all__ = ["anyio_backend"]


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    from trackyard.storage.sqlite.store import SQLiteStore

    backend = SQLiteStore(
        str(tmp_path / "contract.db"),
        commit_max_records=1000,
        queue_max_records=100_000,
        busy_timeout_ms=200,
    )
    await backend.open()
    yield backend
    await backend.close()


async def test_unavailable_store_keeps_nothing_and_recovers(store: Store, tmp_path: Path) -> None:
    project = await new_project(store)
    blocker = sqlite3.connect(tmp_path / "contract.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past busy_timeout
    try:
        with pytest.raises(StoreUnavailable):
            await store.insert_events(project.id, [make_event(1)])
    finally:
        blocker.rollback()
        blocker.close()
    assert await store.count_events(project.id) == 0
    assert (await store.insert_events(project.id, [make_event(1)])).stored == 1


async def test_acknowledged_events_are_visible_to_another_connection(
    store: Store, tmp_path: Path
) -> None:
    project = await new_project(store)
    await store.insert_events(project.id, [make_event(i) for i in range(10)])
    other = sqlite3.connect(tmp_path / "contract.db")
    try:
        assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 10
    finally:
        other.close()
