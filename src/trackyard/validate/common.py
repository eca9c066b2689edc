"""Rules shared by events and profile updates: record errors, limits, time units."""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite
from typing import Any

from trackyard.settings import Settings

# 1971-01-01T00:00:00Z: Mixpanel's lower bound for /import (§6.2).
MIN_EVENT_TIME_MS = 31_536_000_000
# Values at or above this are milliseconds, below it seconds (§10.1; 1e11 s is year 5138).
MS_THRESHOLD = 100_000_000_000

# Refused as distinct_id and as $insert_id, compared case-insensitively (§6.2).
BANNED_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "<nil>",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record of a batch was refused. `index` is its position in the request."""

    index: int
    field: str
    message: str
    insert_id: str | None = None


class RecordInvalid(Exception):
    """Raised inside a validator; the caller turns it into a RecordError."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    max_properties: int
    max_depth: int
    max_items: int
    max_chars: int
    max_record_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_properties=settings.max_properties,
            max_depth=settings.max_nesting_depth,
            max_items=settings.max_collection_items,
            max_chars=settings.max_string_chars,
            max_record_bytes=settings.max_record_bytes,
        )


def time_to_ms(value: Any, field: str) -> int:
    """Seconds or milliseconds, integer or float, to integer milliseconds (§10.1)."""
    # Plain ints and finite floats are nearly every time sent; they skip the checks.
    kind = type(value)
    if kind is int:
        return value if abs(value) >= MS_THRESHOLD else value * 1000
    if kind is float and isfinite(value):
        return round(value) if abs(value) >= MS_THRESHOLD else round(value * 1000)
    return _checked_time_to_ms(value, field)


def _checked_time_to_ms(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordInvalid(
            field, f"'{field}' is invalid: must be specified as seconds since epoch"
        )
    if value != value or value in (float("inf"), float("-inf")):
        raise RecordInvalid(field, f"'{field}' is invalid: must be a finite number")
    if abs(value) >= MS_THRESHOLD:
        return round(value)
    return round(value * 1000)


def id_string(value: Any) -> str | None:
    """Ids arrive as strings or numbers; None when absent or of another type."""
    # Absent is the common case for most ids an event may carry: answered first.
    if value is None or isinstance(value, str):
        return value
    # A tuple, not `int | float`: isinstance checks a union several times slower.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def is_banned_id(value: str) -> bool:
    return value.strip().lower() in BANNED_IDS


def normalize_properties(props: dict[str, Any], limits: Limits, field: str) -> dict[str, Any]:
    """Truncated names and strings; refuses values past the nesting and size limits.

    A new dict: callers may change it without changing `props`.
    """
    # The hot path of every event (docs/performance.md): short string keys and
    # scalar values are taken as they are, and a field name is only built for
    # a nested value, which may need it for its error.
    max_chars = limits.max_chars
    normalized = {}
    for key, value in props.items():
        name = key if type(key) is str and len(key) <= max_chars else _truncate(str(key), limits)
        kind = type(value)
        if kind is str:
            if len(value) > max_chars:
                value = value[:max_chars]
        elif kind is list and _is_short_flat_list(value, limits):
            value = value.copy()
        elif kind is not int and kind is not float and kind is not bool and value is not None:
            value = _normalize_value(value, limits, f"{field}.{key}", 1)
        normalized[name] = value
    return normalized


def _is_short_flat_list(items: list[Any], limits: Limits) -> bool:
    """True when `_normalize_value` would return `items` unchanged, as a copy.

    SDKs send short lists of short strings and numbers; checked here, they
    cost a loop instead of a recursive call per item.
    """
    if len(items) > limits.max_items:
        return False
    max_chars = limits.max_chars
    for item in items:
        kind = type(item)
        if kind is str:
            if len(item) > max_chars:
                return False
        elif kind is not int and kind is not float and kind is not bool and item is not None:
            return False
    return True


def _normalize_value(value: Any, limits: Limits, field: str, depth: int) -> Any:
    if isinstance(value, str):
        return _truncate(value, limits)
    if isinstance(value, dict):
        if depth > limits.max_depth:
            raise RecordInvalid(field, f"{field} is invalid: nested deeper than {limits.max_depth}")
        if len(value) > limits.max_items:
            raise RecordInvalid(field, f"{field} is invalid: more than {limits.max_items} keys")
        return {
            _truncate(str(k), limits): _normalize_value(v, limits, f"{field}.{k}", depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if len(value) > limits.max_items:
            raise RecordInvalid(field, f"{field} is invalid: more than {limits.max_items} items")
        return [_normalize_value(v, limits, field, depth) for v in value]
    return value


def _truncate(text: str, limits: Limits) -> str:
    # Mixpanel truncates rather than rejects long strings (§6.2), in characters.
    return text if len(text) <= limits.max_chars else text[: limits.max_chars]
