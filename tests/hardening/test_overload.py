"""Overload is answered, not absorbed: when the store cannot keep up, new requests
get 503 with Retry-After, memory stays bounded, and what was acknowledged is kept."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest

from tests.hardening.servers import JSON_HEADERS, ServerProcess, python_module, serve
from tests.live_server import cli

MIB = 1024 * 1024
EVENTS_PER_REQUEST = 2000
CLIENTS = 32
REQUESTS_PER_CLIENT = 6
BOUNDS = {
    "TRACKYARD_QUEUE_MAX_RECORDS": "20000",
    "TRACKYARD_COMMIT_MAX_RECORDS": "4000",
    "TRACKYARD_MAX_INFLIGHT_BYTES": str(4 * MIB),
}

pytestmark = pytest.mark.e2e


def batch(client: int, request: int) -> tuple[list[str], bytes]:
    """2000 events of about 250 bytes each: one 500 KB /import request."""
    ids = [f"c{client}-r{request}-{i}-{uuid.uuid4().hex[:8]}" for i in range(EVENTS_PER_REQUEST)]
    events = [
        {
            "event": "flood",
            "properties": {"time": 1_700_000_000 + i, "distinct_id": f"u{i}", "$insert_id": iid}
            | {"payload": "x" * 150},
        }
        for i, iid in enumerate(ids)
    ]
    return ids, orjson.dumps(events)


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, Any]]]:
    db = tmp_path / "overload.db"
    project = cli(db, "projects", "create", "Overload")
    command = python_module("tests.hardening.slow_server")
    with serve(tmp_path, db, "--pause", "0.005", command=command, env=BOUNDS) as server:
        yield server, project


class PeakRss:
    """Samples the server's resident memory while the flood runs."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.server.rss_bytes())


def test_a_slow_store_gets_503s_with_retry_after_and_bounded_memory(
    slow_server: tuple[ServerProcess, dict[str, Any]],
) -> None:
    server, project = slow_server
    auth = "Basic " + base64.b64encode(f"{project['token']}:".encode()).decode()
    answers: list[tuple[int, dict[str, str], Any, list[str]]] = []

    def client(n: int) -> None:
        with httpx.Client(timeout=60) as http:
            for r in range(REQUESTS_PER_CLIENT):
                ids, body = batch(n, r)
                response = http.post(
                    f"{server.url}/import",
                    content=body,
                    headers={**JSON_HEADERS, "authorization": auth},
                )
                answers.append((response.status_code, dict(response.headers), response.json(), ids))

    baseline = server.rss_bytes()
    started = time.monotonic()
    with PeakRss(server) as rss, ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    elapsed = time.monotonic() - started

    statuses = {status for status, *_ in answers}
    assert statuses == {200, 503}, statuses
    refused = [(headers, body) for status, headers, body, _ in answers if status == 503]
    assert all(headers["retry-after"] == "2" for headers, _ in refused)
    assert {body["status"] for _, body in refused} == {"Service Unavailable"}
    # Without the bounds the server would hold every waiting request: 192 of 500 KB
    # bodies and their million decoded events, several hundred MB.
    assert rss.peak - baseline < 160 * MIB, (rss.peak - baseline) / MIB
    assert elapsed < 30

    acknowledged = [iid for status, _, _, ids in answers if status == 200 for iid in ids]
    counts = dict(server_rows(server, "SELECT insert_id, count(*) FROM events GROUP BY insert_id"))
    assert all(counts.get(iid) == 1 for iid in acknowledged)


def server_rows(server: ServerProcess, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    db = server.process.args[server.process.args.index("--db") + 1]  # type: ignore[union-attr]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()
