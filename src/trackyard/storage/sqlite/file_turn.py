"""Writers of several processes take turns on one SQLite file, in order.

A writer holds an exclusive `flock` on `<db>-writer.lock` for the length of
one write transaction: the kernel wakes the next writer the moment it is
released, where SQLite's own busy handler sleeps up to 100 ms between
retries, which starved group commit with two workers (docs/performance.md).

`flock` alone is not fair: a writer that releases the lock and asks again at
once, before the woken waiter has run, takes it again, and with both cores
busy the other process's writer waited up to 145 ms behind a run of such
commits (the tail of /track's latency). So a writer first takes a second
lock, the door (`<db>-writer.door`), holds it only while it waits for its
turn, and lets go of it once the turn is its own: the writer that just
finished finds the door held by the one already waiting, and queues behind it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

log = logging.getLogger(__name__)


class FileTurn:
    """Turns on the lock files `<prefix>.lock` and `<prefix>.door`.

    Without usable lock files (a read-only directory), writers fall back to
    SQLite's busy timeout alone.
    """

    def __init__(self, prefix: str | None) -> None:
        self._prefix = prefix
        self._turn: int | None = None
        self._door: int | None = None

    def open(self) -> None:
        if self._prefix is None:
            return
        try:
            self._turn = self._open(f"{self._prefix}.lock")
            self._door = self._open(f"{self._prefix}.door")
        except OSError as exc:
            log.warning("no writer lock file %s (%s); relying on busy_timeout", self._prefix, exc)
            self.close()

    def close(self) -> None:
        for fd in (self._turn, self._door):
            if fd is not None:
                os.close(fd)
        self._turn = self._door = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._turn is None or self._door is None:
            yield
            return
        fcntl.flock(self._door, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._turn, fcntl.LOCK_EX)
        finally:
            fcntl.flock(self._door, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    @staticmethod
    def _open(path: str) -> int:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
