"""Time a raw export of 1M events through a live server, and its peak memory.

    .venv/bin/python benchmarks/export_1m.py [--events 1000000] [--gzip]

Writes a database with `make_events_db.py` (in bulk, not through HTTP), starts
`trackyard serve` on it, streams GET /api/2.0/export over the whole range with
httpx, and prints events, seconds, events/s, bytes, and the server process's
peak resident memory (VmHWM) before and after the export.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.live_server import TRACKYARD, free_port  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="ask for a gzip stream")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "export.db"
        made = subprocess.run(
            [
                sys.executable,
                str(HERE / "make_events_db.py"),
                "--db",
                str(db),
                "--events",
                str(args.events),
                "--days",
                "30",
                "--users",
                "20000",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        username, secret = made.strip().splitlines()[-1].split()
        port = free_port()
        server = subprocess.Popen(
            [*TRACKYARD, "serve", "--db", str(db), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url)
            before = peak_rss_mb(server.pid)
            events, size, seconds = _export(url, (username, secret), args.gzip)
            after = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"events exported     {events:,}")
    print(f"seconds             {seconds:.1f}  ({events / seconds:,.0f} events/s)")
    print(f"NDJSON received     {size / 1e6:,.0f} MB")
    print(f"server peak RSS     {before:.0f} MB before, {after:.0f} MB after the export")


def _export(url: str, auth: tuple[str, str], gzip: bool) -> tuple[int, int, float]:
    params = {"from_date": "2026-10-01", "to_date": "2026-11-30"}
    headers = {"accept-encoding": "gzip" if gzip else "identity"}
    events = size = 0
    started = time.perf_counter()
    with httpx.stream(
        "GET", f"{url}/api/2.0/export", params=params, auth=auth, headers=headers, timeout=600
    ) as response:
        response.raise_for_status()
        size = 0
        for line in response.iter_lines():
            events += 1
            size += len(line) + 1
    return events, size, time.perf_counter() - started


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    main()
