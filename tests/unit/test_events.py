"""Event validation (mixpanel-behavior.md §5, §6.2, §10, §11): no app, no database."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trackyard.settings import Settings
from trackyard.validate.common import Limits, RecordError
from trackyard.validate.events import DAY_MS, DROPPED, Event, EventRules, validate_event

NOW_MS = 1_795_694_400_000
NOW_S = NOW_MS / 1000
LIMITS = Limits.from_settings(Settings())


def rules(endpoint: str = "import", strict: bool = True) -> EventRules:
    return EventRules(
        endpoint=endpoint,  # type: ignore[arg-type]
        strict=strict,
        received_ms=NOW_MS,
        limits=LIMITS,
        track_max_age_ms=5 * DAY_MS if endpoint == "track" else None,
        max_future_ms=3_600_000,
    )


def event(**props: Any) -> dict[str, Any]:
    base = {"time": NOW_S - 60, "distinct_id": "user-1", "$insert_id": "abc-123"}
    return {"event": "Signed Up", "properties": {**base, **props}}


def valid(raw: Any, r: EventRules | None = None) -> Event:
    result = validate_event(raw, 0, r or rules())
    assert isinstance(result, Event), result
    return result


def error(raw: Any, r: EventRules | None = None) -> RecordError:
    result = validate_event(raw, 7, r or rules())
    assert isinstance(result, RecordError), result
    assert result.index == 7
    return result


def stored(raw: Any, r: EventRules | None = None) -> dict[str, Any]:
    return orjson.loads(valid(raw, r).properties)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("sent", "expected_ms"),
    [
        (1_700_000_000, 1_700_000_000_000),  # integer seconds (Ruby's `time` is ms though)
        (1_700_000_000.123, 1_700_000_000_123),  # float seconds: Python, JS, PHP
        (1_700_000_000_123, 1_700_000_000_123),  # integer ms: Ruby, Java, Swift
        (1_700_000_000_123.4, 1_700_000_000_123),  # float ms
    ],
)
def test_time_units_are_detected(sent: float, expected_ms: int) -> None:
    assert valid(event(time=sent)).time_ms == expected_ms


def test_dollar_time_is_an_alias_of_time() -> None:
    raw = event()
    del raw["properties"]["time"]
    raw["properties"]["$time"] = 1_700_000_000
    assert valid(raw).time_ms == 1_700_000_000_000


def test_missing_time_on_track_is_receipt_time() -> None:
    raw = event()
    del raw["properties"]["time"]
    assert valid(raw, rules("track", strict=False)).time_ms == NOW_MS


def test_missing_time_on_strict_import_is_an_error() -> None:
    raw = event()
    del raw["properties"]["time"]
    err = error(raw)
    assert err.field == "properties.time"
    assert err.insert_id == "abc-123"


@pytest.mark.parametrize("bad", ["1700000000", True, [1]])
def test_non_numeric_time_is_an_error(bad: Any) -> None:
    assert "seconds since epoch" in error(event(time=bad)).message


def test_non_finite_time_is_an_error() -> None:
    assert "finite" in error(event(time=float("inf"))).message


def test_import_window() -> None:
    assert "1971" in error(event(time=31_535_999)).message
    assert valid(event(time=31_536_000)).time_ms == 31_536_000_000
    assert valid(event(time=NOW_S + 3600)).time_ms == NOW_MS + 3_600_000
    assert "future" in error(event(time=NOW_S + 3601)).message


def test_track_drops_events_older_than_five_days() -> None:
    track = rules("track", strict=False)
    assert validate_event(event(time=NOW_S - 5 * 86400 - 1), 0, track) is DROPPED
    assert valid(event(time=NOW_S - 5 * 86400 + 1), track)


def test_track_future_time_becomes_receipt_time() -> None:
    assert valid(event(time=NOW_S + 7200), rules("track", strict=False)).time_ms == NOW_MS


@pytest.mark.parametrize("value", [True, "yes", "bot"])
def test_ignore_drops_silently(value: Any) -> None:
    assert validate_event(event(**{"$ignore": value}), 0, rules()) is DROPPED


@pytest.mark.parametrize("value", [False, ""])
def test_ignore_false_or_empty_keeps_the_event(value: Any) -> None:
    assert valid(event(**{"$ignore": value}))


@pytest.mark.parametrize("banned", ["anonymous", "NULL", "undefined", "0", "-1", "[]", "N/A"])
def test_banned_distinct_ids(banned: str) -> None:
    assert error(event(distinct_id=banned)).field == "properties.distinct_id"


def test_empty_distinct_id_is_allowed() -> None:
    assert valid(event(distinct_id="")).distinct_id == ""


def test_numeric_distinct_id_becomes_a_string() -> None:
    assert valid(event(distinct_id=42)).distinct_id == "42"


def test_distinct_id_derived_from_user_or_device_id() -> None:
    raw = event(**{"$device_id": "dev-1"})
    del raw["properties"]["distinct_id"]
    assert valid(raw).distinct_id == "$device:dev-1"
    raw["properties"]["$user_id"] = "alice"
    assert valid(raw).distinct_id == "alice"


def test_missing_distinct_id_on_strict_import_is_an_error() -> None:
    raw = event()
    del raw["properties"]["distinct_id"]
    assert "must not be missing" in error(raw).message
    assert valid(raw, rules("track", strict=False)).distinct_id == ""


@pytest.mark.parametrize("bad", ["x" * 37, "has space", "under_score", "null"])
def test_invalid_insert_id_is_an_error_on_strict_import(bad: str) -> None:
    assert error(event(**{"$insert_id": bad})).field == "properties.$insert_id"


def test_invalid_insert_id_elsewhere_is_replaced() -> None:
    result = valid(event(**{"$insert_id": "x" * 40}), rules("track", strict=False))
    assert result.insert_id != "x" * 40 and len(result.insert_id) == 32


def test_missing_insert_id_gets_a_unique_one() -> None:
    raw = event()
    del raw["properties"]["$insert_id"]
    first, second = valid(raw), valid(raw)
    assert first.insert_id != second.insert_id


def test_server_properties_and_token_removed() -> None:
    props = stored(event(token="tok", ip="1.2.3.4", **{"$import": False, "custom": "x"}))
    assert props["$import"] is True
    assert props["$mp_api_timestamp_ms"] == NOW_MS == props["mp_processing_time_ms"]
    assert "token" not in props and "ip" not in props
    assert props["custom"] == "x"
    assert props["time"] == int((NOW_S - 60) * 1000)


def test_track_events_are_not_marked_imported() -> None:
    assert "$import" not in stored(event(), rules("track", strict=False))


def test_strings_and_names_truncated_to_255_characters() -> None:
    props = stored(event(**{"k" * 300: "é" * 300, "nested": {"list": ["y" * 300]}}))
    assert props["k" * 255] == "é" * 255
    assert props["nested"]["list"] == ["y" * 255]
    long_name = valid({**event(), "event": "n" * 300}).name
    assert long_name == "n" * 255


def test_limits() -> None:
    too_many = {f"p{i}": i for i in range(256)}
    assert "more than 255" in error(event(**too_many)).message
    assert "nested deeper" in error(event(deep={"a": {"b": {"c": {"d": 1}}}})).message
    assert valid(event(deep={"a": {"b": {"c": 1}}}))
    assert "more than 255 items" in error(event(big=list(range(256)))).message
    assert "larger than" in error(event(blob=["x" * 250] * 250), rules_small_size()).message


def rules_small_size() -> EventRules:
    r = rules()
    return EventRules(
        r.endpoint, r.strict, r.received_ms, Limits(255, 3, 255, 255, 10_000), None, r.max_future_ms
    )


@pytest.mark.parametrize(
    "raw", [None, 1, "event", [], {"properties": {}}, {"event": ""}, {"event": 5}]
)
def test_malformed_events_are_record_errors(raw: Any) -> None:
    assert error(raw).message


def test_properties_must_be_an_object() -> None:
    assert error({"event": "e", "properties": [1]}).field == "properties"


def test_lone_surrogate_is_a_record_error_not_a_crash() -> None:
    raw = orjson.loads(b'{"event":"e","properties":{"s":"ok"}}')
    raw["properties"]["s"] = "\ud800"
    raw["properties"].update(event()["properties"])
    assert "utf8" in error(raw).message
