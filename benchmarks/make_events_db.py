"""Write a large SQLite database of events quickly, for measuring the console.

Rows go straight into the tables in bulk (no HTTP, no group commit, indexes
built after the load), in trackyard's own schema, so the server and the
console open it as they would a database that grew from real traffic:

    .venv/bin/python benchmarks/make_events_db.py --db /tmp/10m.db --events 10000000

prints the project's credentials for signing in to the console. Events are
spread evenly over `--days` days ending at `--end`, across eight event names
of unequal frequency, `--users` users (a twentieth of whose events were sent
under a `$device:` id merged into the user), with browser, OS, plan and city
properties. The same arguments always write the same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from trackyard.service.projects import NewProject, create_project
from trackyard.storage.sqlite.store import SQLiteStore

EVENTS = (
    ("Page Viewed", 40),
    ("Button Clicked", 20),
    ("Search", 12),
    ("Added to Cart", 10),
    ("Signed In", 8),
    ("Purchase", 5),
    ("Signed Up", 3),
    ("Error", 2),
)
BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "Opera")
SYSTEMS = ("Windows", "Mac OS X", "iOS", "Android", "Linux")
PLANS = ("free", "pro", "enterprise")
CITIES = tuple(f"City {n}" for n in range(30))
SECONDARY_INDEXES = {
    "events_dedup": "CREATE UNIQUE INDEX events_dedup"
    " ON events (project_id, time_ms, insert_id, event, distinct_id)",
    "events_by_name": "CREATE INDEX events_by_name ON events (project_id, event, time_ms, distinct_id)",
    "events_by_user": "CREATE INDEX events_by_user ON events (project_id, distinct_id, time_ms)",
}
CHUNK = 100_000


async def new_database(path: Path) -> NewProject:
    store = SQLiteStore(str(path), commit_max_records=1000, queue_max_records=10_000)
    await store.open()
    try:
        return await create_project(store, "Benchmark")
    finally:
        await store.close()


def event_rows(
    project_id: int, count: int, first_ms: int, span_ms: int, users: int
) -> Iterator[tuple[int, int, str, str, str, str]]:
    rng = random.Random(7)
    names = [name for name, weight in EVENTS for _ in range(weight)]
    for n in range(count):
        time_ms = first_ms + n * span_ms // count + rng.randrange(1000)
        name, user = rng.choice(names), rng.randrange(users)
        distinct_id = f"$device:d{user}" if n % 20 == 0 else f"u{user}"
        props = {
            "distinct_id": distinct_id,
            "time": time_ms / 1000,
            "$insert_id": f"{n:032x}",
            "$browser": BROWSERS[user % len(BROWSERS)],
            "$os": SYSTEMS[user % len(SYSTEMS)],
            "plan": PLANS[user % len(PLANS)],
            "$city": CITIES[user % len(CITIES)],
            "mp_lib": "web",
        }
        if name == "Purchase":
            props["amount"] = round(rng.uniform(5, 500), 2)
        yield (project_id, time_ms, name, distinct_id, f"{n:032x}", orjson.dumps(props).decode())


def bulk_load(
    conn: sqlite3.Connection, rows: Iterator[tuple[int, int, str, str, str, str]]
) -> None:
    for name in SECONDARY_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO events (project_id, time_ms, event, distinct_id, insert_id, properties)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            chunk,
        )
        conn.execute("COMMIT")
    for sql in SECONDARY_INDEXES.values():
        conn.execute(sql)


def derived_tables(conn: sqlite3.Connection, project_id: int, users: int) -> None:
    """What ingestion would have written beside the events: counts, identity links, profiles."""
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO event_counts_hourly (project_id, event, hour_ms, event_count)"
        " SELECT project_id, event, time_ms - time_ms % 3600000, count(*)"
        " FROM events WHERE project_id = ? GROUP BY 1, 2, 3",
        (project_id,),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO identity_links (project_id, distinct_id, canonical_id)"
        " VALUES (?, ?, ?)",
        ((project_id, f"$device:d{u}", f"u{u}") for u in range(users)),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO profiles (project_id, distinct_id, properties, updated_ms)"
        " VALUES (?, ?, ?, 0)",
        ((project_id, f"u{u}", profile_properties(u)) for u in range(users)),
    )
    conn.execute("COMMIT")


def profile_properties(user: int) -> str:
    return orjson.dumps(
        {
            "$name": f"User {user}",
            "$email": f"user{user}@example.com",
            "plan": PLANS[user % len(PLANS)],
            "$city": CITIES[user % len(CITIES)],
        }
    ).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a new file to write")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 26))
    args = parser.parse_args()
    if args.db.exists():
        parser.error(f"{args.db} exists; give a new file")
    started = time.perf_counter()
    project = asyncio.run(new_database(args.db))
    end = datetime.combine(args.end + timedelta(days=1), datetime.min.time(), UTC)
    span_ms = args.days * 86_400_000
    first_ms = int(end.timestamp() * 1000) - span_ms
    conn = sqlite3.connect(args.db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")  # leave WAL for the bulk load
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    rows = event_rows(project.project_id, args.events, first_ms, span_ms, args.users)
    bulk_load(conn, rows)
    derived_tables(conn, project.project_id, args.users)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    seconds = time.perf_counter() - started
    print(
        f"{args.events:,} events in {seconds:.0f} s: {args.db} ({args.db.stat().st_size >> 20} MiB)"
    )
    print(f"project {project.project_id}; sign in to /console as")
    print(f"  {project.service_account.username}  {project.service_account.secret}")


if __name__ == "__main__":
    main()
