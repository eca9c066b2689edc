"""Server processes for the hardening tests: `trackyard serve` in its own process
group (so a test can SIGKILL all of it), and helpers to read a process's memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.live_server import TRACKYARD, free_port

JSON_HEADERS = {"content-type": "application/json"}


@dataclass
class ServerProcess:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def kill_group(self) -> None:
        """SIGKILL the server and all its workers at once, as a power cut would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_group()

    def peak_rss_bytes(self) -> int:
        """The most resident memory the (single) server process has used."""
        return _status_kib(self.process.pid, "VmHWM") * 1024

    def rss_bytes(self) -> int:
        return _status_kib(self.process.pid, "VmRSS") * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@contextmanager
def serve(
    tmp: Path,
    db: Path,
    *args: str,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Start `trackyard serve` (or `command`) in a new process group; stop it on exit."""
    server = start(tmp, db, *args, command=command, env=env)
    try:
        yield server
    finally:
        server.stop()


def start(
    tmp: Path,
    db: Path,
    *args: str,
    command: list[str] | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    port = port or free_port()
    log = tmp / f"server-{port}-{time.monotonic_ns()}.log"
    argv = command or [*TRACKYARD, "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--db", str(db), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group, workers included
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", port, process, log)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: ServerProcess, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not become ready:\n{server.log.read_text()}")


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def track_event(token: str, insert_id: str, time_s: int, **props: Any) -> dict[str, Any]:
    base = {"token": token, "distinct_id": "u", "time": time_s, "$insert_id": insert_id}
    return {"event": "hardening", "properties": {**base, **props}}
