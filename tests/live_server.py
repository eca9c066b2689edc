"""A real `trackyard serve` process on a loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson

TRACKYARD = [sys.executable, "-m", "trackyard.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(db: Path, *args: str, store: str = "") -> Any:
    """Run a `trackyard` subcommand with --json against `db` (or `store`); its JSON output."""
    out = subprocess.run(
        [*TRACKYARD, *args, "--json", "--db", str(db), *_store_args(store)],
        check=True,
        capture_output=True,
        text=True,
    )
    return orjson.loads(out.stdout)


def _store_args(store: str) -> list[str]:
    return ["--store", store] if store else []


@dataclass
class LiveServer:
    url: str
    db: Path
    project: dict[str, Any]  # as printed by `trackyard projects create --json`
    process: subprocess.Popen[bytes]

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the database directly, as a user inspecting it would."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def events(self) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT event, properties FROM events WHERE project_id = ? ORDER BY time_ms, rowid",
            self.project["project_id"],
        )
        return [{"event": name, "properties": orjson.loads(props)} for name, props in rows]

    def profile(self, distinct_id: str) -> dict[str, Any] | None:
        rows = self.rows(
            "SELECT properties FROM profiles WHERE project_id = ? AND distinct_id = ?",
            self.project["project_id"],
            distinct_id,
        )
        return orjson.loads(rows[0][0]) if rows else None

    def group(self, group_key: str, group_id: str) -> dict[str, Any] | None:
        rows = self.rows(
            "SELECT properties FROM group_profiles"
            " WHERE project_id = ? AND group_key = ? AND group_id = ?",
            self.project["project_id"],
            group_key,
            group_id,
        )
        return orjson.loads(rows[0][0]) if rows else None


@contextmanager
def live_server(
    tmp: Path,
    *extra_args: str,
    env: dict[str, str] | None = None,
    scheme: str = "http",
    store: str = "",
) -> Iterator[LiveServer]:
    """Start `trackyard serve` on a free port; stop it on exit. `store`: a PostgreSQL URL."""
    db = tmp / "live.db"
    project = cli(db, "projects", "create", "E2E", store=store)
    port = free_port()
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [
            *TRACKYARD,
            *("serve", "--db", str(db), "--port", str(port)),
            *_store_args(store),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_ready(url, process, tmp / "server.log")
        yield LiveServer(url, db, project, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    path: str = "/readyz",
    seconds: float = 20,
) -> None:
    """Until `url + path` answers 200; RuntimeError with the server's log if
    the process exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trackyard exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}{path}", verify=False, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"trackyard did not become ready:\n{log.read_text()}")
