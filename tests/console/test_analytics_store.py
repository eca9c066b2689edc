"""The SQLite store's side of the console: hourly counts kept in the insert
transaction, the migration that adds them to an existing database, and the
bounds on the live view's scans."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson
import pytest

from trackyard.auth.secrets import secret_hash
from trackyard.errors import StoreUnavailable
from trackyard.storage.analytics import EventFilter, SegmentationQuery
from trackyard.storage.sqlite import event_reads
from trackyard.storage.sqlite.analytics import SQLiteAnalytics
from trackyard.storage.sqlite.schema import MIGRATIONS
from trackyard.storage.sqlite.store import SQLiteStore
from trackyard.validate.events import Event

HOUR_MS = 3_600_000
T0 = 1_795_651_200_000  # 2026-11-26T00:00:00Z


def stored(name: str, time_ms: int, insert_id: str, distinct_id: str = "u1") -> Event:
    props = orjson.dumps({"distinct_id": distinct_id, "time": time_ms / 1000})
    return Event(None, name, distinct_id, time_ms, insert_id, props)


def hourly_counts(path: Path) -> list[tuple[str, int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT event, hour_ms, event_count FROM event_counts_hourly ORDER BY 1, 2"
        ).fetchall()
    finally:
        conn.close()


async def _insert_batches(path: Path, *batches: list[Event]) -> list[tuple[int, int]]:
    store = SQLiteStore(str(path), commit_max_records=1000, queue_max_records=10_000)
    await store.open()
    try:
        project = await store.create_project("P", "token", secret_hash("s"))
        # Concurrent calls share group commits: counts must stay exact.
        results = await asyncio.gather(*(store.insert_events(project.id, b) for b in batches))
        return [(r.stored, r.duplicates) for r in results]
    finally:
        await store.close()


def test_hourly_counts_follow_stored_events_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    a = stored("A", T0 + 10, "a1")
    batches = [
        [a, stored("A", T0 + HOUR_MS - 1, "a2"), stored("B", T0 + HOUR_MS, "b1")],
        [a, stored("A", T0 + 20, "a3")],  # a is a retry of the first batch's event
        [stored("B", T0 + HOUR_MS + 5, "b1"), stored("B", T0 + HOUR_MS + 5, "b1")],
    ]
    results = asyncio.run(_insert_batches(path, *batches))
    assert sum(s for s, _ in results) == 5 and sum(d for _, d in results) == 2
    assert hourly_counts(path) == [("A", T0, 3), ("B", T0 + HOUR_MS, 2)]


def test_the_migration_counts_events_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:3]:  # a database from before the console
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 3")
    conn.executemany(
        "INSERT INTO events VALUES (1, ?, ?, 'u', ?, '{}')",
        [(T0 + n * 1000, "A", f"i{n}") for n in range(5)] + [(T0 + 2 * HOUR_MS, "B", "j")],
    )
    conn.close()
    asyncio.run(_insert_batches(path))  # opens, migrates, adds nothing
    assert hourly_counts(path) == [("A", T0, 5), ("B", T0 + 2 * HOUR_MS, 1)]
    key = sqlite3.connect(path).execute("SELECT signing_key FROM console_keys").fetchone()[0]
    assert isinstance(key, bytes) and len(key) == 32


@pytest.fixture
def events_db(tmp_path: Path) -> Path:
    path = tmp_path / "e.db"
    events = [stored("E", T0 + n, f"e{n}", f"u{n % 3}") for n in range(50)]
    asyncio.run(_insert_batches(path, events))
    return path


def test_the_live_feed_looks_back_a_bounded_window(
    events_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_reads, "LIVE_WINDOW", 10)
    conn = sqlite3.connect(events_db)
    found = event_reads.events_after(conn, 1, 0, EventFilter(), limit=1000)
    # Asked for everything after position 0, it reads only the newest 10 rows.
    assert [e.position for e in found] == list(range(50, 40, -1))


def test_segmentation_counts_match_the_stored_events(events_db: Path) -> None:
    reads = SQLiteAnalytics(str(events_db))
    query = SegmentationQuery(("E",), T0, T0 + 86_400_000, unit="hour", counting="unique")
    found = asyncio.run(reads.segmentation(1, query))
    (series,) = found.buckets.values()
    assert series[T0].events == 50 and series[T0].users == 3


def test_analytics_reads_never_write(events_db: Path) -> None:
    reads = SQLiteAnalytics(str(events_db))

    def write(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM events")

    with pytest.raises(StoreUnavailable, match=r"cannot be read: attempt to write a readonly"):
        asyncio.run(reads._run(write))
