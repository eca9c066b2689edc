"""What the console's indexes and hourly counts cost at ingest.

Inserts events through `SQLiteStore.insert_events` (the real group-commit
path, fsync included) into a fresh database and prints events per second.
Run it before and after a schema change to see what the change costs:

    .venv/bin/python benchmarks/insert_cost.py --events 400000 --batch 2000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from trackyard.auth.secrets import secret_hash
from trackyard.storage.sqlite.store import SQLiteStore
from trackyard.validate.events import Event

NAMES = ("Page Viewed", "Signed Up", "Purchase", "Search", "Added to Cart")
START_MS = 1_790_000_000_000


def make_batch(first: int, size: int) -> list[Event]:
    events = []
    for n in range(first, first + size):
        props = {"distinct_id": f"u{n % 50_000}", "plan": ("free", "pro")[n % 2], "n": n}
        events.append(
            Event(
                token=None,
                name=NAMES[n % len(NAMES)],
                distinct_id=f"u{n % 50_000}",
                time_ms=START_MS + n * 997,
                insert_id=uuid.UUID(int=n).hex,
                properties=orjson.dumps(props),
            )
        )
    return events


async def run(total: int, batch: int, concurrency: int, path: Path) -> float:
    store = SQLiteStore(str(path), commit_max_records=20_000, queue_max_records=1_000_000)
    await store.open()
    project = await store.create_project("bench", uuid.uuid4().hex, secret_hash("s"))
    batches = [make_batch(first, batch) for first in range(0, total, batch)]
    queue = list(reversed(batches))

    async def worker() -> None:
        while queue:
            await store.insert_events(project.id, queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await store.close()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate = asyncio.run(run(args.events, args.batch, args.concurrency, Path(tmp) / "b.db"))
    print(f"{args.events} events in batches of {args.batch}: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
