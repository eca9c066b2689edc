"""`trackyard serve` as a user runs it: first start, several workers, path prefix."""

from __future__ import annotations

import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import orjson
import pytest

from tests.live_server import TRACKYARD, free_port, live_server

pytestmark = pytest.mark.e2e


def test_first_start_creates_and_prints_a_working_default_project(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "fresh" / "trackyard.db"
    process = subprocess.Popen(
        [*TRACKYARD, "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until(process, "trackyard serving")
        printed = dict(re.findall(r"^\s+([a-z ]+):\s+(\S+)$", banner, re.MULTILINE))
        assert set(printed) == {
            "project id",
            "token",
            "api secret",
            "service account",
            "account secret",
        }
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        response = httpx.post(
            f"{url}/import",
            params={"strict": "1", "project_id": printed["project id"]},
            auth=(printed["service account"], printed["account secret"]),
            json=[
                {
                    "event": "hello",
                    "properties": {
                        "time": 1_700_000_000,
                        "distinct_id": "me",
                        "$insert_id": "first",
                    },
                }
            ],
        )
        assert response.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
        assert db.exists()
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_two_workers_store_every_acknowledged_event_exactly_once(tmp_path: Path) -> None:
    with live_server(tmp_path, "--workers", "2") as server:
        token = server.project["token"]
        sent_at = time.time()  # part of the dedup key, as clients send it

        def send(batch: int) -> str:
            events = [
                {
                    "event": "load",
                    "properties": {
                        "token": token,
                        "time": sent_at,
                        "distinct_id": f"u{batch}",
                        "$insert_id": f"b{batch}-{i}",
                    },
                }
                for i in range(20)
            ]
            with httpx.Client(timeout=30) as client:
                # Each batch twice: the retry must not double-count.
                first = client.post(
                    f"{server.url}/track", data={"data": orjson.dumps(events).decode()}
                )
                second = client.post(
                    f"{server.url}/track", data={"data": orjson.dumps(events).decode()}
                )
            return first.text + second.text

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(send, range(100)))
        assert answers == ["11"] * 100
        rows = server.rows("SELECT insert_id FROM events")
        assert len(rows) == 2000
        assert len(set(rows)) == 2000
        assert server.rows("PRAGMA integrity_check") == [("ok",)]


def test_path_prefix(tmp_path: Path) -> None:
    with live_server(tmp_path, "--path-prefix", "/mixpanel") as server:
        event = {"event": "prefixed", "properties": {"token": server.project["token"]}}
        data = {"data": orjson.dumps(event).decode()}
        assert httpx.post(f"{server.url}/mixpanel/track/", data=data).text == "1"
        assert httpx.post(f"{server.url}/track", data=data).text == "1"
        assert [e["event"] for e in server.events()] == ["prefixed", "prefixed"]


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("no banner:\n" + "".join(lines))


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server not ready")
