"""What validation stores for an event, field by field and byte by byte
(mixpanel-behavior.md §6.2, §9.1, §10, §11): no app, no database."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trackyard.validate.common import Limits, RecordError, RecordInvalid, id_string, time_to_ms
from trackyard.validate.events import Event, EventRules, validate_event

NOW_MS = 1_795_694_400_000
NOW_S = NOW_MS // 1000
LIMITS = Limits(255, 3, 255, 255, 1_000_000)
# Small enough for generated names, strings and lists to cross them; long
# enough to keep the names validation reads ("mp_processing_time_ms").
CHARS = 21
SMALL = Limits(255, 3, 3, CHARS, 1_000_000)


def rules(endpoint: str = "import", limits: Limits = LIMITS) -> EventRules:
    return EventRules(
        endpoint=endpoint,  # type: ignore[arg-type]
        strict=endpoint == "import",
        received_ms=NOW_MS,
        limits=limits,
        track_max_age_ms=None,
        max_future_ms=3_600_000,
    )


def test_every_field_of_an_event() -> None:
    props = {
        "time": NOW_S - 60,
        "distinct_id": "user-1",
        "$insert_id": "abc-123",
        "token": "tok",
        "ip": "1.2.3.4",
        "$user_id": "alice",
        "$device_id": "$device:dev-1",
        "items": ["a", "b"],
        "amount": 1.25,
        "$time": 5,
    }
    result = validate_event({"event": "Signed Up", "properties": props}, 0, rules())
    assert result == Event(
        token="tok",
        name="Signed Up",
        distinct_id="user-1",
        time_ms=NOW_MS - 60_000,
        insert_id="abc-123",
        properties=(
            b'{"time":1795694340000,"distinct_id":"user-1","$insert_id":"abc-123",'
            b'"$user_id":"alice","$device_id":"$device:dev-1","items":["a","b"],'
            b'"amount":1.25,"$mp_api_timestamp_ms":1795694400000,'
            b'"mp_processing_time_ms":1795694400000,"$import":true}'
        ),
        user_id="alice",
        device_id="$device:dev-1",
    )


def test_device_distinct_id_is_the_device_key_on_track() -> None:
    props = {"$time": NOW_S, "distinct_id": "$device:d", "$insert_id": "i", "token": 7}
    result = validate_event({"event": "e", "properties": props}, 0, rules("track"))
    assert result == Event(
        token="7",
        name="e",
        distinct_id="$device:d",
        time_ms=NOW_MS,
        insert_id="i",
        properties=(
            b'{"distinct_id":"$device:d","$insert_id":"i","time":1795694400000,'
            b'"$mp_api_timestamp_ms":1795694400000,"mp_processing_time_ms":1795694400000}'
        ),
        user_id=None,
        device_id="$device:d",
    )


# Names validation reads, drops or overwrites, also once truncated.
RESERVED = {"time", "$time", "distinct_id", "$insert_id", "$user_id", "$device_id", "token"}
RESERVED |= {"ip", "$ignore", "$import", "$mp_api_timestamp_ms", "mp_processing_time_ms"}
# Short, or around the limit.
strings = st.text(max_size=4) | st.text(min_size=CHARS - 1, max_size=CHARS + 2)
names = strings.filter(lambda n: n not in RESERVED and n[:CHARS] not in RESERVED)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings
)


def truncated(value: Any) -> Any:
    if isinstance(value, str):
        return value[:CHARS]
    return [truncated(v) for v in value] if isinstance(value, list) else value


# Lists take a path of their own when flat (common.py, _is_short_flat_list).
flat_lists = st.lists(strings | scalars, max_size=4)


@settings(max_examples=300)
@example([("s", "é" * (CHARS + 1)), ("l" * 30, [1, "x" * (CHARS + 1)])])
@example([("l", [None, True, 1.5]), ("m", [1, 2, 3, 4])])
@given(st.lists(st.tuples(names, scalars | flat_lists), max_size=12))
def test_names_strings_and_lists_are_stored_truncated_in_order(extra: list[Any]) -> None:
    props = dict(extra)
    base = {"time": NOW_S, "distinct_id": "u", "$insert_id": "i"}
    raw = {"event": "e", "properties": {**base, **props}}
    result = validate_event(raw, 4, rules(limits=SMALL))
    too_long = [name for name, value in props.items() if isinstance(value, list) and len(value) > 3]
    if too_long:
        field = f"properties.{too_long[0]}"
        assert result == RecordError(4, field, f"{field} is invalid: more than 3 items", "i")
        return
    expected: dict[str, Any] = {"time": NOW_MS, "distinct_id": "u", "$insert_id": "i"}
    for name, value in props.items():
        expected[name[:CHARS]] = truncated(value)
    expected |= {"$mp_api_timestamp_ms": NOW_MS, "mp_processing_time_ms": NOW_MS, "$import": True}
    assert isinstance(result, Event)
    assert list(orjson.loads(result.properties).items()) == list(expected.items())


@pytest.mark.parametrize(
    ("sent", "expected_ms"),
    [
        (0, 0),
        (-1, -1000),
        (99_999_999_999, 99_999_999_999_000),  # the last value read as seconds
        (100_000_000_000, 100_000_000_000),
        (-100_000_000_000, -100_000_000_000),
        (10**30, 10**30),  # larger than any float: still exact
        (1.0005, 1000),  # round half to even, as Python rounds
        (1.5e11, 150_000_000_000),
    ],
)
def test_time_to_ms(sent: float, expected_ms: int) -> None:
    assert time_to_ms(sent, "$time") == expected_ms


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (True, "seconds since epoch"),
        ("1", "seconds since epoch"),
        (None, "seconds since epoch"),
        (float("nan"), "finite"),
        (float("-inf"), "finite"),
    ],
)
def test_time_to_ms_refuses(sent: Any, message: str) -> None:
    with pytest.raises(RecordInvalid, match=message):
        time_to_ms(sent, "$time")


@pytest.mark.parametrize(
    ("sent", "expected"),
    [("", ""), ("a", "a"), (0, "0"), (-1.5, "-1.5"), (None, None), (True, None), ([], None)],
)
def test_id_string(sent: Any, expected: str | None) -> None:
    assert id_string(sent) == expected
