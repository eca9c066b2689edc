"""A 200 means durable: `trackyard serve` (one process, then two) is SIGKILLed,
workers and all, at a random moment under concurrent /track and /import load;
after each restart every acknowledged event is there exactly once and the
database passes `PRAGMA integrity_check`. Retrying everything afterwards
stores nothing twice."""

from __future__ import annotations

import base64
import random
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import orjson
import pytest

from tests.hardening.servers import JSON_HEADERS, ServerProcess, start, track_event
from tests.live_server import cli

CYCLES = 3
LOAD_THREADS = 4

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Batch:
    path: str
    body: bytes
    headers: dict[str, str]
    insert_ids: list[str]

    def acknowledged(self, response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        if self.path == "/track":
            return response.text == "1"
        return bool(response.json()["num_records_imported"] == len(self.insert_ids))


@dataclass
class Ledger:
    """Every batch sent, and the insert ids the server acknowledged."""

    sent: list[Batch] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    acknowledged_paths: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, batch: Batch, ok: bool) -> None:
        with self.lock:
            self.sent.append(batch)
            if ok:
                self.acknowledged.update(batch.insert_ids)
                self.acknowledged_paths.add(batch.path)


def track_batch(token: str, n: int = 50) -> Batch:
    now = int(time.time())
    ids = [uuid.uuid4().hex for _ in range(n)]
    data = base64.b64encode(orjson.dumps([track_event(token, i, now) for i in ids]))
    headers = {"content-type": "application/x-www-form-urlencoded"}
    return Batch("/track", b"data=" + data.replace(b"+", b"%2B"), headers, ids)


def import_batch(token: str, n: int = 200) -> Batch:
    ids = [uuid.uuid4().hex for _ in range(n)]
    body = orjson.dumps([track_event(token, i, 1_700_000_000) for i in ids])
    auth = "Basic " + base64.b64encode(f"{token}:".encode()).decode()
    return Batch("/import", body, {**JSON_HEADERS, "authorization": auth}, ids)


def send(http: httpx.Client, url: str, batch: Batch) -> bool:
    try:
        return batch.acknowledged(
            http.post(url + batch.path, content=batch.body, headers=batch.headers)
        )
    except httpx.HTTPError:
        return False  # the server died mid-request: not acknowledged


def load(server: ServerProcess, token: str, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(timeout=5) as http:
        while not stop.is_set():
            batch = random.choice([track_batch, import_batch])(token)
            ledger.record(batch, send(http, server.url, batch))


def run_load_then_kill(server: ServerProcess, token: str, ledger: Ledger) -> None:
    stop = threading.Event()
    threads = [
        threading.Thread(target=load, args=(server, token, ledger, stop))
        for _ in range(LOAD_THREADS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(random.uniform(0.4, 1.2))
    server.kill_group()
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def copies_by_insert_id(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT insert_id, count(*) FROM events GROUP BY insert_id")
        return dict(rows.fetchall())


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def assert_each_stored_once(db: Path, insert_ids: set[str]) -> None:
    copies = copies_by_insert_id(db)
    missing = [i for i in insert_ids if i not in copies]
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert all(copies[i] == 1 for i in insert_ids)


@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_events_survive_sigkill(tmp_path: Path, workers: int) -> None:
    db = tmp_path / "crash.db"
    token = cli(db, "projects", "create", "Crash")["token"]
    ledger = Ledger()
    args = ("--workers", str(workers))
    server = start(tmp_path, db, *args)
    try:
        for _ in range(CYCLES):
            run_load_then_kill(server, token, ledger)
            server = start(tmp_path, db, *args)  # the restart recovers the WAL
            assert integrity(db) == "ok"
            assert_each_stored_once(db, ledger.acknowledged)
        # The load was real: both endpoints had requests acknowledged.
        assert ledger.acknowledged_paths == {"/track", "/import"}
        # Clients retry what was not acknowledged (and some of what was): after
        # the crashes, nothing is stored twice.
        with httpx.Client(timeout=10) as http, ThreadPoolExecutor(LOAD_THREADS) as pool:
            retried = pool.map(lambda batch: send(http, server.url, batch), ledger.sent)
            assert all(retried)
        sent_ids = {i for batch in ledger.sent for i in batch.insert_ids}
        assert_each_stored_once(db, sent_ids)
        assert len(copies_by_insert_id(db)) == len(sent_ids)
    finally:
        server.stop()
