"""Writers of several processes take turns on one SQLite file, in order
(storage/sqlite/file_turn.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from trackyard.storage.sqlite.file_turn import FileTurn


def _turns(tmp_path: Path, count: int) -> list[FileTurn]:
    turns = [FileTurn(str(tmp_path / "db-writer")) for _ in range(count)]
    for turn in turns:
        turn.open()
    return turns


def test_a_second_writer_waits_for_the_first_and_starts_when_it_is_done(tmp_path: Path) -> None:
    first, second = _turns(tmp_path, 2)
    order: list[str] = []

    def write_second() -> None:
        with second.held():
            order.append("second")

    with first.held():
        thread = threading.Thread(target=write_second)
        thread.start()
        time.sleep(0.2)
        order.append("first done")
    thread.join(timeout=5)
    assert order == ["first done", "second"]


def test_a_writer_that_asks_again_at_once_queues_behind_the_one_waiting(tmp_path: Path) -> None:
    """On one busy core a woken waiter runs only after the writer that woke it
    has asked for its next turn: without the door, that writer took turn after
    turn while the other waited."""
    first, second = _turns(tmp_path, 2)
    order: list[str] = []
    waiting = threading.Event()
    cpu = {min(os.sched_getaffinity(0))}

    def write_second() -> None:
        os.sched_setaffinity(0, cpu)  # this thread only
        waiting.set()
        with second.held():
            order.append("second")

    thread = threading.Thread(target=write_second)
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu)
    try:
        with first.held():
            thread.start()
            waiting.wait()
            time.sleep(0.2)  # the second writer is now blocked, waiting for its turn
        for _ in range(20):
            with first.held():
                order.append("first")
    finally:
        os.sched_setaffinity(0, cpus)
    thread.join(timeout=5)
    assert order.index("second") <= 1


def test_without_a_lock_file_writers_still_write(tmp_path: Path) -> None:
    turn = FileTurn(str(tmp_path / "missing-dir" / "db-writer"))
    turn.open()  # cannot create it: logged, and SQLite's busy timeout decides
    with turn.held():
        pass
    turn.close()
