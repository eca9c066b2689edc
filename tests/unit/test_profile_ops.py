"""Profile update validation and application (§7.2, §7.3, §8): pure, no database."""

from __future__ import annotations

from typing import Any

import pytest

from trackyard.service.profile_ops import OperationConflict, apply_update, mixpanel_datetime
from trackyard.settings import Settings
from trackyard.validate.common import Limits, RecordError
from trackyard.validate.profiles import ProfileUpdate, validate_update

NOW_MS = 1_795_694_400_000
LIMITS = Limits.from_settings(Settings())


def update(kind: str = "user", **ops: Any) -> ProfileUpdate:
    raw = {"$token": "tok", "$distinct_id": "u1", "$group_key": "company", "$group_id": "c1"}
    result = validate_update({**raw, **ops}, 0, kind, NOW_MS, LIMITS)  # type: ignore[arg-type]
    assert isinstance(result, ProfileUpdate), result
    return result


def invalid(raw: Any, kind: str = "user") -> RecordError:
    result = validate_update(raw, 3, kind, NOW_MS, LIMITS)  # type: ignore[arg-type]
    assert isinstance(result, RecordError), result
    return result


def apply(current: dict[str, Any] | None, **ops: Any) -> dict[str, Any] | None:
    return apply_update(current, update(**{"$ignore_time": True, **ops}), 2000)


def test_set_creates_and_overwrites() -> None:
    assert apply(None, **{"$set": {"a": 1}}) == {"a": 1}
    assert apply({"a": 1, "b": 2}, **{"$set": {"a": 3}}) == {"a": 3, "b": 2}


def test_set_once_only_sets_missing_properties() -> None:
    assert apply({"a": 1}, **{"$set_once": {"a": 2, "b": 2}}) == {"a": 1, "b": 2}


def test_add_sums_and_starts_at_zero() -> None:
    assert apply({"n": 5}, **{"$add": {"n": -2, "m": 1.5}}) == {"n": 3, "m": 1.5}


def test_add_on_a_string_is_a_conflict_and_changes_nothing() -> None:
    current = {"n": "five"}
    with pytest.raises(OperationConflict, match="non-numeric"):
        apply(current, **{"$add": {"n": 1}})
    assert current == {"n": "five"}


def test_append_does_not_deduplicate() -> None:
    assert apply({"l": ["a"]}, **{"$append": {"l": "a", "new": 1}}) == {"l": ["a", "a"], "new": [1]}


def test_union_merges_without_duplicates_and_wraps_scalars() -> None:
    result = apply({"l": ["a"]}, **{"$union": {"l": ["a", "b", "b"], "s": "x"}})
    assert result == {"l": ["a", "b"], "s": ["x"]}


@pytest.mark.parametrize("op", ["$append", "$union"])
def test_list_operations_on_a_scalar_conflict(op: str) -> None:
    with pytest.raises(OperationConflict, match="not a list"):
        apply({"l": 1}, **{op: {"l": ["x"]}})


def test_remove_takes_every_occurrence_and_ignores_absent() -> None:
    assert apply({"l": ["a", "b", "a"], "s": "a"}, **{"$remove": {"l": "a", "s": "a", "z": 1}}) == {
        "l": ["b"],
        "s": "a",
    }


def test_unset_accepts_a_list_or_a_single_name() -> None:
    assert apply({"a": 1, "b": 2, "c": 3}, **{"$unset": ["a", "zz"]}) == {"b": 2, "c": 3}
    assert apply({"a": 1, "b": 2}, **{"$unset": "a"}) == {"b": 2}


@pytest.mark.parametrize("value", ["", None, "null"])
def test_delete_whatever_its_value(value: Any) -> None:
    assert apply({"a": 1}, **{"$delete": value}) is None


def test_operations_on_a_missing_profile_that_do_not_create_it() -> None:
    assert apply(None, **{"$unset": ["a"]}) is None
    assert apply(None, **{"$remove": {"a": 1}}) is None


def test_several_operations_apply_in_documented_order() -> None:
    # $set, $set_once, $add, $append, $union, $remove, $unset, $delete
    result = apply(
        {"n": 1},
        **{
            "$unset": ["gone"],
            "$add": {"n": 1},
            "$set": {"n": 10, "gone": 1},
            "$set_once": {"n": 0},
        },
    )
    assert result == {"n": 11}


def test_last_seen_is_maintained_unless_ignore_time() -> None:
    stamped = apply_update(None, update(**{"$set": {"a": 1}, "$time": 1_700_000_000}), 2000)
    assert stamped == {"a": 1, "$last_seen": "2023-11-14T22:13:20"}
    assert apply(None, **{"$set": {"a": 1}}) == {"a": 1}


def test_time_in_ms_or_seconds() -> None:
    assert update(**{"$set": {}, "$time": 1_700_000_000_000}).time_ms == 1_700_000_000_000
    assert update(**{"$set": {}, "$time": 1_700_000_000.5}).time_ms == 1_700_000_000_500
    assert update(**{"$set": {}}).time_ms == NOW_MS


def test_coordinates_outside_set_are_kept() -> None:
    result = apply(None, **{"$set": {"a": 1}, "$latitude": 52.5, "$longitude": 13.4})
    assert result == {"a": 1, "$latitude": 52.5, "$longitude": 13.4}


def test_profile_property_limit() -> None:
    with pytest.raises(OperationConflict, match="more than 2"):
        apply_update({"a": 1}, update(**{"$set": {"b": 1, "c": 1}, "$ignore_time": True}), 2)


def test_mixpanel_datetime_has_no_zone() -> None:
    assert mixpanel_datetime(0) == "1970-01-01T00:00:00"


# Validation ------------------------------------------------------------------------


def test_missing_distinct_id_has_mixpanels_message() -> None:
    assert invalid({"$token": "t", "$set": {}}).message == "$distinct_id, missing or empty"


def test_missing_token() -> None:
    assert invalid({"$distinct_id": "u", "$set": {}}).message == "$token, missing or empty"


def test_groups_need_key_and_id() -> None:
    assert invalid({"$token": "t", "$group_id": "g", "$set": {}}, "group").field == "$group_key"


@pytest.mark.parametrize(
    ("ops", "field"),
    [
        ({}, "$set"),
        ({"$set": [1]}, "$set"),
        ({"$add": {"n": "1"}}, "$add"),
        ({"$add": {"n": True}}, "$add"),
        ({"$unset": [1]}, "$unset"),
        ({"$set": {"d": {"a": {"b": {"c": {"d": 1}}}}}}, "$set.d"),
    ],
)
def test_malformed_operations(ops: dict[str, Any], field: str) -> None:
    raw = {"$token": "t", "$distinct_id": "u", **ops}
    assert invalid(raw).field.startswith(field)


def test_numeric_distinct_id_is_a_string() -> None:
    raw = {"$token": "t", "$distinct_id": 12, "$set": {"a": 1}}
    result = validate_update(raw, 0, "user", NOW_MS, LIMITS)
    assert isinstance(result, ProfileUpdate)
    assert result.profile_id == ("12",)


def test_not_an_object() -> None:
    assert invalid([1, 2]).message == "update must be a JSON object"
