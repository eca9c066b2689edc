"""Raw event (decoded JSON) -> `Event`, a record error, or a silent drop.

Rules and their sources: mixpanel-behavior.md §5 (/track), §6.2 (/import
strict validation), §10 (special properties), §11 (limits).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from trackyard.validate.common import (
    MIN_EVENT_TIME_MS,
    Limits,
    RecordError,
    RecordInvalid,
    id_string,
    is_banned_id,
    normalize_properties,
    time_to_ms,
)

Endpoint = Literal["track", "import"]
DAY_MS = 86_400_000
_INSERT_ID_RE = re.compile(r"[A-Za-z0-9-]{1,36}")
DEVICE_PREFIX = "$device:"
# Added by the server; a client cannot set them (§6.6).
SERVER_PROPERTIES = ("$mp_api_timestamp_ms", "mp_processing_time_ms", "$import")
# The token authenticates; it is not data (§10.5). IPs are never stored (§10.4).
# `$time` is stored as `time`.
_NOT_STORED = ("token", "ip", "$time", *SERVER_PROPERTIES)


# Not frozen: a frozen dataclass's __init__ sets each field through
# object.__setattr__, a seventh of the time an event takes to validate.
@dataclass(slots=True)
class Event:
    """A valid event, ready for storage; `properties` is its serialised JSON."""

    token: str | None
    name: str
    distinct_id: str
    time_ms: int
    insert_id: str
    properties: bytes
    # Simplified ID Merge's view of the ids the event carries (§9.1).
    user_id: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class EventRules:
    """What the validator needs to know about the request the events came in."""

    endpoint: Endpoint
    strict: bool
    received_ms: int
    limits: Limits
    track_max_age_ms: int | None
    max_future_ms: int


class Dropped:
    """An event Mixpanel accepts but silently discards ($ignore, too old for /track)."""


DROPPED = Dropped()


def validate_event(raw: Any, index: int, rules: EventRules) -> Event | RecordError | Dropped:
    try:
        return _validate(raw, rules)
    except RecordInvalid as exc:
        # `_validate` never changes `raw`: its insert id is still the client's.
        return RecordError(index, exc.field, exc.message, _raw_insert_id(raw))


def _validate(raw: Any, rules: EventRules) -> Event | Dropped:
    if not isinstance(raw, dict):
        raise RecordInvalid("event", "event must be a JSON object")
    name = raw.get("event")
    if not isinstance(name, str) or not name.strip():
        raise RecordInvalid("event", "'event' is invalid: must not be missing or empty")
    props = raw.get("properties", {})
    if not isinstance(props, dict):
        raise RecordInvalid("properties", "'properties' is invalid: must be a JSON object")
    if _is_ignored(props.get("$ignore")):
        return DROPPED
    limits = rules.limits
    if len(props) > limits.max_properties:
        raise RecordInvalid(
            "properties", f"'properties' is invalid: more than {limits.max_properties} keys"
        )
    time_ms = _event_time(props, rules)
    if time_ms is None:
        return DROPPED
    token = id_string(props.get("token"))
    props = normalize_properties(props, limits, "properties")
    distinct_id = _distinct_id(props, rules)
    insert_id = _insert_id(props, rules)
    return Event(
        token,
        name[: limits.max_chars],
        distinct_id,
        time_ms,
        insert_id,
        _serialize(props, distinct_id, time_ms, insert_id, rules),
        _user_id(props, distinct_id),
        _device_key(props, distinct_id),
    )


def _is_ignored(value: Any) -> bool:
    # `$ignore` drops the event when true or a non-empty string (§10.5).
    return value is True or (isinstance(value, str) and value != "")


def _event_time(props: dict[str, Any], rules: EventRules) -> int | None:
    raw = props.get("time", props.get("$time"))
    if raw is None:
        if rules.endpoint == "import" and rules.strict:
            raise RecordInvalid(
                "properties.time", "'properties.time' is invalid: must not be missing"
            )
        return rules.received_ms
    time_ms = time_to_ms(raw, "properties.time")
    if time_ms < MIN_EVENT_TIME_MS:
        raise RecordInvalid(
            "properties.time", "'properties.time' is invalid: must be after 1971-01-01"
        )
    if time_ms > rules.received_ms + rules.max_future_ms:
        if rules.endpoint == "import":
            raise RecordInvalid(
                "properties.time",
                "'properties.time' is invalid: must not be more than 1 hour in the future",
            )
        return rules.received_ms  # /track: a client with a wrong clock; keep the event now.
    if rules.track_max_age_ms is not None and time_ms < rules.received_ms - rules.track_max_age_ms:
        return None  # /track silently drops events older than 5 days (§5).
    return time_ms


def _distinct_id(props: dict[str, Any], rules: EventRules) -> str:
    raw = props.get("distinct_id")
    distinct_id = id_string(raw)
    if raw is not None and distinct_id is None:
        raise RecordInvalid(
            "properties.distinct_id", "'properties.distinct_id' is invalid: must be a string"
        )
    if distinct_id is None:
        # Simplified ID Merge derives it from $user_id / $device_id (§9.1).
        distinct_id = _derived_distinct_id(props)
    if distinct_id is None:
        if rules.endpoint == "import" and rules.strict:
            raise RecordInvalid(
                "properties.distinct_id", "'properties.distinct_id' is invalid: must not be missing"
            )
        return ""
    if distinct_id and is_banned_id(distinct_id):
        raise RecordInvalid(
            "properties.distinct_id",
            f"'properties.distinct_id' is invalid: {distinct_id!r} is not allowed as an id",
        )
    return distinct_id


def _derived_distinct_id(props: dict[str, Any]) -> str | None:
    return id_string(props.get("$user_id")) or _device_key(props, "")


def _user_id(props: dict[str, Any], distinct_id: str) -> str | None:
    # A distinct_id without the `$device:` prefix counts as the user id (§9.1).
    user_id = id_string(props.get("$user_id"))
    if user_id:
        return user_id
    return distinct_id if distinct_id and not distinct_id.startswith(DEVICE_PREFIX) else None


def _device_key(props: dict[str, Any], distinct_id: str) -> str | None:
    """`$device:<id>`; a `$device_id` sent with the prefix has one prefix stripped (§9.1)."""
    device_id = id_string(props.get("$device_id"))
    if device_id:
        return DEVICE_PREFIX + device_id.removeprefix(DEVICE_PREFIX)
    return distinct_id if distinct_id.startswith(DEVICE_PREFIX) else None


def _raw_insert_id(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("properties"), dict):
        return id_string(raw["properties"].get("$insert_id"))
    return None


def _insert_id(props: dict[str, Any], rules: EventRules) -> str:
    raw = props.get("$insert_id")
    if raw is None:
        # A generated id keeps the event out of dedup, as Mixpanel's does (§12).
        return uuid.uuid4().hex
    insert_id = id_string(raw)
    if insert_id is not None and _INSERT_ID_RE.fullmatch(insert_id) and not is_banned_id(insert_id):
        return insert_id
    if rules.endpoint == "import" and rules.strict:
        raise RecordInvalid(
            "properties.$insert_id",
            "'properties.$insert_id' is invalid: must be 1-36 characters of [A-Za-z0-9-]",
        )
    return uuid.uuid4().hex  # Non-strict: keep the event, without dedup.


def _serialize(
    props: dict[str, Any], distinct_id: str, time_ms: int, insert_id: str, rules: EventRules
) -> bytes:
    for key in _NOT_STORED:
        props.pop(key, None)
    props["time"] = time_ms
    props["distinct_id"] = distinct_id
    props["$insert_id"] = insert_id
    props["$mp_api_timestamp_ms"] = rules.received_ms
    props["mp_processing_time_ms"] = rules.received_ms
    if rules.endpoint == "import":
        props["$import"] = True
    try:
        encoded = orjson.dumps(props)
    except orjson.JSONEncodeError as exc:
        raise RecordInvalid(
            "properties", "properties is invalid: string should be valid utf8"
        ) from exc
    if len(encoded) > rules.limits.max_record_bytes:
        raise RecordInvalid(
            "properties", f"event is invalid: larger than {rules.limits.max_record_bytes} bytes"
        )
    return encoded
