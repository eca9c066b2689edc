"""Writers of several processes take turns on one SQLite file (storage/sqlite/writer.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from trackyard.storage.sqlite.writer import FileTurn


def test_a_second_writer_waits_for_the_first_and_starts_when_it_is_done(tmp_path: Path) -> None:
    first, second = (
        FileTurn(str(tmp_path / "db-writer.lock")),
        FileTurn(str(tmp_path / "db-writer.lock")),
    )
    first.open()
    second.open()
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
    first.close()
    second.close()
    assert order == ["first done", "second"]


def test_without_a_lock_file_writers_still_write(tmp_path: Path) -> None:
    turn = FileTurn(str(tmp_path / "missing-dir" / "db-writer.lock"))
    turn.open()  # cannot create it: logged, and SQLite's busy timeout decides
    with turn.held():
        pass
    turn.close()
