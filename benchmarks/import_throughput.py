"""`/import` events/s: SQLite, then one and two server processes on one PostgreSQL.

    .venv/bin/python benchmarks/import_throughput.py [--runs 3] [--batches 60]

Starts real `trackyard serve` processes on loopback ports (each a fresh SQLite
file or a fresh PostgreSQL database on TRACKYARD_TEST_PG_ADMIN), then several
client processes post 2000-event JSON batches to `/import` (strict, service
account). Each batch is acknowledged only after its commit, so events/s is
committed events per second of wall time. Prints each run and the median.
Everything runs on this machine: servers, PostgreSQL and clients share its cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.live_server import live_server
from tests.postgres import fresh_database

BATCH = 2000
CLIENTS = 4  # client processes, each with one connection per server it drives


def batch_body(seed: str, sent_at: int) -> bytes:
    return orjson.dumps(
        [
            {
                "event": "Page View",
                "properties": {
                    "time": sent_at - i % 3600,
                    "distinct_id": f"user-{i % 500}",
                    "$insert_id": f"{seed}-{i}",
                    "$browser": "Chrome",
                    "$os": "Mac OS X",
                    "$current_url": "https://example.com/pricing?utm_source=newsletter",
                    "plan": "pro",
                    "amount": i * 1.25,
                    "items": ["a", "b"],
                },
            }
            for i in range(BATCH)
        ]
    )


def client(job: tuple[list[str], dict[str, Any], int]) -> int:
    """Post `count` batches round-robin over `urls`; events acknowledged."""
    urls, project, count = job
    account = project["service_account"]
    params = {"strict": "1", "project_id": project["project_id"]}
    bodies = [batch_body(uuid.uuid4().hex[:12], int(time.time())) for _ in range(count)]
    done = 0
    with httpx.Client(timeout=120, auth=(account["username"], account["secret"])) as http:
        for n, body in enumerate(bodies):
            answer = http.post(
                f"{urls[n % len(urls)]}/import",
                params=params,
                content=body,
                headers={"Content-Type": "application/json"},
            )
            answer.raise_for_status()
            done += answer.json()["num_records_imported"]
    return done


def measure(urls: list[str], project: dict[str, Any], batches: int) -> float:
    per_client = batches // CLIENTS
    with ProcessPoolExecutor(CLIENTS) as pool:
        pool.submit(time.sleep, 0).result()  # start the processes before the clock
        started = time.perf_counter()
        events = sum(pool.map(client, [(urls, project, per_client)] * CLIENTS))
        elapsed = time.perf_counter() - started
    return events / elapsed


@contextmanager
def servers(kind: str, tmp: Path) -> Iterator[tuple[list[str], dict[str, Any]]]:
    with ExitStack() as stack:
        store = "" if kind == "sqlite" else stack.enter_context(fresh_database())
        count = 2 if kind == "postgres x2" else 1
        started = []
        for n in range(count):
            (tmp / str(n)).mkdir()
            started.append(stack.enter_context(live_server(tmp / str(n), store=store)))
        yield [s.url for s in started], started[0].project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=60, help="2000-event batches per run")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"sqlite": [], "postgres x1": [], "postgres x2": []}
    for run in range(1, args.runs + 1):
        for kind, rates in results.items():  # interleaved, so drift hits every setup alike
            with tempfile.TemporaryDirectory() as tmp, servers(kind, Path(tmp)) as (urls, project):
                rate = measure(urls, project, args.batches)
            rates.append(rate)
            print(f"run {run}  {kind:<12} {rate:>9,.0f} events/s", flush=True)
    print(f"\nmedian of {args.runs} runs, {args.batches} x {BATCH} events, {CLIENTS} clients:")
    for kind, rates in results.items():
        print(f"  {kind:<12} {statistics.median(rates):>9,.0f} events/s")


if __name__ == "__main__":
    main()
