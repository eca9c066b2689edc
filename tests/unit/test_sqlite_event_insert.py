"""Events reach SQLite through one JSON statement (storage/sqlite/event_insert.py):
every column must come back exactly as validation produced it."""

from __future__ import annotations

import sqlite3

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trackyard.storage.sqlite.event_insert import event_rows, insert_event_rows
from trackyard.storage.sqlite.schema import migrate
from trackyard.validate.events import Event

# Any text orjson can write: controls, NUL, quotes, backslashes, emoji.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def _database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    return conn


def _event(name: str, distinct_id: str, insert_id: str, value: str, time_ms: int) -> Event:
    properties = orjson.dumps({"distinct_id": distinct_id, "v": value, "n": 1.25})
    return Event(None, name, distinct_id, time_ms, insert_id, properties)


@settings(max_examples=200, deadline=None)
@given(name=TEXT, distinct_id=TEXT, insert_id=TEXT, value=TEXT, time_ms=st.integers(0, 2**53))
def test_every_column_is_stored_exactly(
    name: str, distinct_id: str, insert_id: str, value: str, time_ms: int
) -> None:
    event = _event(name, distinct_id, insert_id, value, time_ms)
    conn = _database()
    assert insert_event_rows(conn, 7, event_rows([event])) == 1
    row = conn.execute(
        "SELECT project_id, time_ms, event, distinct_id, insert_id, properties,"
        " typeof(time_ms) FROM events"
    ).fetchone()
    assert row == (7, time_ms, name, distinct_id, insert_id, event.properties.decode(), "integer")


def test_duplicates_within_and_across_statements_are_stored_once() -> None:
    conn = _database()
    first = _event("Signed up", "u1", "abc", "x", 1_700_000_000_000)
    other = _event("Signed up", "u1", "abd", "x", 1_700_000_000_000)
    assert insert_event_rows(conn, 1, event_rows([first, first, other])) == 2
    assert insert_event_rows(conn, 1, event_rows([other, first])) == 0
    assert insert_event_rows(conn, 2, event_rows([first])) == 1  # another project
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (3,)
