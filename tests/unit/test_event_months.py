"""The PostgreSQL partitions a batch needs, found per day instead of per event
(storage/postgres/events.py): the same months as event by event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trackyard.storage.postgres.events import EventBatch
from trackyard.storage.postgres.partitions import OUT_OF_RANGE, month_of
from trackyard.validate.events import Event

# Around the first and last instants datetime can name, midnight, and the epoch.
EDGES = [-62_135_596_800_001, -62_135_596_800_000, 253_402_300_799_999, 253_402_300_800_000]
EDGES += [-1, 0, 86_399_999, 86_400_000, 1_700_000_000_000]


def _events(times: list[int]) -> list[Event]:
    return [Event(None, "e", "u", t, f"i{n}", b"{}") for n, t in enumerate(times)]


@given(st.lists(st.integers(-(2**53), 2**53) | st.sampled_from(EDGES), max_size=50))
def test_months_are_those_of_each_event(times: list[int]) -> None:
    assert EventBatch(1, _events(times)).months() == {month_of(t) for t in times}


def test_out_of_range_times_go_to_the_default_partition() -> None:
    months = EventBatch(1, _events([253_402_300_800_000, 1_700_000_000_000])).months()
    assert months == {OUT_OF_RANGE, month_of(1_700_000_000_000)}
