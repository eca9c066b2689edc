"""Events reach SQLite through one JSON statement per group commit
(storage/sqlite/event_insert.py): every column must come back exactly as
validation produced it, and merged requests must be told what each one stored."""

from __future__ import annotations

import sqlite3

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trackyard.storage.base import InsertResult
from trackyard.storage.sqlite.event_insert import JsonInsert, RowByRowInsert, insert_job
from trackyard.storage.sqlite.schema import migrate
from trackyard.validate.events import Event

# Any text orjson can write: controls, NUL, quotes, backslashes, emoji.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
T0 = 1_700_000_000_000


def _database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    return conn


def _event(
    name: str, distinct_id: str, insert_id: str, value: str = "x", time_ms: int = T0
) -> Event:
    properties = orjson.dumps({"distinct_id": distinct_id, "v": value, "n": 1.25})
    return Event(None, name, distinct_id, time_ms, insert_id, properties)


def _nothing(conn: sqlite3.Connection) -> None:
    pass


def _store(conn: sqlite3.Connection, project_id: int, events: list[Event]) -> InsertResult:
    result: InsertResult = insert_job(project_id, events, _nothing)(conn)
    return result


@settings(max_examples=200, deadline=None)
@given(name=TEXT, distinct_id=TEXT, insert_id=TEXT, value=TEXT, time_ms=st.integers(0, 2**53))
def test_every_column_is_stored_exactly(
    name: str, distinct_id: str, insert_id: str, value: str, time_ms: int
) -> None:
    event = _event(name, distinct_id, insert_id, value, time_ms)
    conn = _database()
    assert _store(conn, 7, [event]) == InsertResult(1, 0)
    row = conn.execute(
        "SELECT project_id, time_ms, event, distinct_id, insert_id, properties,"
        " typeof(time_ms) FROM events"
    ).fetchone()
    assert row == (7, time_ms, name, distinct_id, insert_id, event.properties.decode(), "integer")


def test_a_nul_in_a_name_or_id_takes_the_row_by_row_insert() -> None:
    assert isinstance(insert_job(1, [_event("a\0b", "u", "i")], _nothing), RowByRowInsert)
    assert isinstance(insert_job(1, [_event("ab", "u", "i")], _nothing), JsonInsert)


def test_duplicates_within_and_across_statements_are_stored_once() -> None:
    conn = _database()
    first = _event("Signed up", "u1", "abc")
    other = _event("Signed up", "u1", "abd")
    assert _store(conn, 1, [first, first, other]) == InsertResult(2, 1)
    assert _store(conn, 1, [other, first]) == InsertResult(0, 2)
    assert _store(conn, 2, [first]) == InsertResult(1, 0)  # another project
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (3,)


# Few distinct keys, so that requests often repeat each other's events.
SMALL_EVENTS = st.lists(
    st.builds(_event, st.sampled_from("AB"), st.sampled_from("uv"), st.sampled_from("123")),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    before=SMALL_EVENTS,
    requests=st.lists(st.tuples(st.integers(1, 2), SMALL_EVENTS), min_size=1, max_size=5),
)
def test_requests_run_together_are_told_what_each_would_have_stored_alone(
    before: list[Event], requests: list[tuple[int, list[Event]]]
) -> None:
    alone, together = _database(), _database()
    for conn in (alone, together):
        _store(conn, 1, before)
    expected = [_store(alone, project_id, events) for project_id, events in requests]
    jobs: list[JsonInsert] = []
    for project_id, events in requests:
        job = insert_job(project_id, events, _nothing)
        assert isinstance(job, JsonInsert)
        jobs.append(job)
    assert JsonInsert.run_together(together, jobs) == expected
    rows = "SELECT project_id, time_ms, event, distinct_id, insert_id FROM events ORDER BY rowid"
    assert together.execute(rows).fetchall() == alone.execute(rows).fetchall()
