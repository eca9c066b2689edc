"""A trackyard server whose store is slowed down on purpose, for overload tests.

    python -m tests.hardening.slow_server --db FILE --port N --pause SECONDS

The store is the real SQLite store; only its writer thread's connection is
slowed, as by a slow disk: it sleeps `pause` seconds every 10,000 SQLite VM
steps. Settings come from `TRACKYARD_*` variables, as for `trackyard serve`.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
import time
from typing import Any

import uvicorn

from trackyard.http.app import create_app
from trackyard.http.protocol import GuardedHttpToolsProtocol
from trackyard.settings import Settings
from trackyard.storage.sqlite.store import SQLiteStore

WRITER_THREAD = "trackyard-writer"
STEPS_BETWEEN_PAUSES = 10_000


class SlowSQLiteStore(SQLiteStore):
    def __init__(self, *args: Any, pause: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        if threading.current_thread().name == WRITER_THREAD:
            conn.set_progress_handler(self._sleep, STEPS_BETWEEN_PAUSES)
        return conn

    def _sleep(self) -> int:
        time.sleep(self.pause)
        return 0  # go on


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pause", type=float, default=0.01)
    args = parser.parse_args()
    settings = Settings.from_env(db=args.db, port=args.port)
    store = SlowSQLiteStore(
        settings.db,
        commit_max_records=settings.commit_max_records,
        queue_max_records=settings.queue_max_records,
        pause=args.pause,
    )
    app = create_app(settings, store=store)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http=GuardedHttpToolsProtocol,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
