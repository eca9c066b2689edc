"""Raw /engage and /groups update objects -> `ProfileUpdate` or a record error.

Operation shapes: mixpanel-behavior.md §7.2-7.3 (users) and §8 (groups).
Semantics of applying them live in `trackyard.service.profile_ops`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from trackyard.validate.common import (
    Limits,
    RecordError,
    RecordInvalid,
    id_string,
    normalize_properties,
    time_to_ms,
)

Kind = Literal["user", "group"]

# The order in which operations of one update object are applied: the order of
# Mixpanel's own documentation (docs/behaviour.md, "Profile updates").
USER_OPERATIONS = ("$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete")
# $add and $append are documented for user profiles only, but the group batch
# description lists $add (§8 [CONFLICT]); accepting both loses nothing.
GROUP_OPERATIONS = USER_OPERATIONS
_OBJECT_OPERATIONS = frozenset({"$set", "$set_once", "$add", "$append", "$union", "$remove"})


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """One validated update. For groups `profile_id` is (group_key, group_id)."""

    kind: Kind
    token: str
    profile_id: tuple[str, ...]
    operations: tuple[tuple[str, Any], ...]
    time_ms: int
    ignore_time: bool
    # $latitude/$longitude given outside $set (§7.2); kept on the profile as-is.
    coordinates: tuple[float, float] | None = None


def validate_update(
    raw: Any, index: int, kind: Kind, received_ms: int, limits: Limits
) -> ProfileUpdate | RecordError:
    try:
        return _validate(raw, kind, received_ms, limits)
    except RecordInvalid as exc:
        return RecordError(index, exc.field, exc.message)


def _validate(raw: Any, kind: Kind, received_ms: int, limits: Limits) -> ProfileUpdate:
    if not isinstance(raw, dict):
        raise RecordInvalid("$distinct_id", "update must be a JSON object")
    _check_size(raw, limits)
    token = _required_id(raw, "$token")
    profile_id = (
        (_required_id(raw, "$distinct_id"),)
        if kind == "user"
        else (_required_id(raw, "$group_key"), _required_id(raw, "$group_id"))
    )
    operations = tuple(
        (op, _operation_value(op, raw[op], limits)) for op in USER_OPERATIONS if op in raw
    )
    if not operations:
        raise RecordInvalid("$set", "update has no operation ($set, $set_once, $add, ...)")
    time_ms = time_to_ms(raw["$time"], "$time") if raw.get("$time") is not None else received_ms
    return ProfileUpdate(
        kind=kind,
        token=token,
        profile_id=tuple(p[: limits.max_chars] for p in profile_id),
        operations=operations,
        time_ms=time_ms,
        ignore_time=_truthy(raw.get("$ignore_time")),
        coordinates=_coordinates(raw),
    )


def _check_size(raw: dict[str, Any], limits: Limits) -> None:
    """Mixpanel refuses profile updates over 1 MB (§11)."""
    try:
        size = len(orjson.dumps(raw))
    except orjson.JSONEncodeError as exc:
        raise RecordInvalid("update", "update is invalid: string should be valid utf8") from exc
    if size > limits.max_record_bytes:
        raise RecordInvalid(
            "update", f"update is invalid: larger than {limits.max_record_bytes} bytes"
        )


def _required_id(raw: dict[str, Any], key: str) -> str:
    value = id_string(raw.get(key))
    if not value:
        # The message Mixpanel gives for a missing $distinct_id (§3).
        raise RecordInvalid(key, f"{key}, missing or empty")
    return value


def _operation_value(op: str, value: Any, limits: Limits) -> Any:
    if op == "$delete":
        return None  # Clients send "", null or "null"; the value means nothing (§7.3).
    if op == "$unset":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RecordInvalid(op, "$unset must be a list of property names")
        return tuple(n[: limits.max_chars] for n in names)
    if op in _OBJECT_OPERATIONS and not isinstance(value, dict):
        raise RecordInvalid(op, f"{op} must be a JSON object of properties")
    props = normalize_properties(value, limits, op)
    if op == "$add":
        for name, amount in props.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                raise RecordInvalid(op, f"$add value for {name!r} must be a number")
    if op == "$union":
        # JS wraps scalars into lists; accept a bare scalar the same way.
        props = {k: v if isinstance(v, list) else [v] for k, v in props.items()}
    return props


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _coordinates(raw: dict[str, Any]) -> tuple[float, float] | None:
    lat, lon = raw.get("$latitude"), raw.get("$longitude")
    if _is_number(lat) and _is_number(lon):
        return (float(lat), float(lon))  # type: ignore[arg-type]
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
